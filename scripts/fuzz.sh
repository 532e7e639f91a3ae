#!/usr/bin/env bash
# Runs every fuzz target of the module, one after the other, for FUZZTIME each
# (default 30s). The targets come from `go test -list`, so a new Fuzz function
# is fuzzed without anyone editing a list. `go test -fuzz` takes one target in
# one package at a time, hence the loop.
set -euo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}

# `go test -list` prints each package's matching names, then a line
# "ok <import path> <time>" for that package; packages without tests print
# "? <import path> [no test files]".
targets=$("$GO" test -list '^Fuzz' ./... | awk '
	/^Fuzz/ { names[++n] = $1; next }
	/^ok[ \t]/ { for (i = 1; i <= n; i++) print $2, names[i]; n = 0 }
')
if [ -z "$targets" ]; then
	echo "fuzz: go test -list found no fuzz targets" >&2
	exit 1
fi

count=$(printf '%s\n' "$targets" | wc -l)
echo "fuzz: $count targets, $FUZZTIME each"
while read -r pkg name; do
	echo "== $name ($pkg)"
	"$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg"
done <<<"$targets"
