#!/bin/sh
# proc-cpu.sh PID... prints the CPU time, in clock ticks (getconf CLK_TCK,
# usually 100 per second), that the given processes and their live children
# have used, including their children that have exited (a PostgreSQL
# server's connection processes end up there). Read it before and after a
# run and subtract: that is the database's CPU for the run, whose processes
# are not children of the benchmark. See benchmarks/README.md.
set -eu
total=0
for pid in "$@"; do
	for p in "$pid" $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
		[ -r /proc/"$p"/stat ] || continue
		# utime stime cutime cstime are fields 14-17; the command name
		# (field 2) is in parentheses and may hold spaces, so cut after it.
		set -- $(sed 's/^.*) //' /proc/"$p"/stat)
		shift 11
		total=$((total + $1 + $2 + $3 + $4))
	done
done
echo "$total"
