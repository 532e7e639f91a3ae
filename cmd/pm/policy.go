package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/permission-mongo/permission-mongo/internal/policy"
)

func init() {
	commands["policy"] = command{
		summary: "check, explain and test policy files",
		run:     runPolicy,
	}
}

// policySubcommands are the verbs of `pm policy`.
var policySubcommands = []struct {
	name, args, summary string
	run                 func(args []string, stdout, stderr io.Writer) int
}{
	{"check", "FILE_OR_DIR...", "load and compile policies; print every problem", runPolicyCheck},
	{"explain", "--user JSON --collection C --action A [--policies PATH] [--json]", "show the filter and field rules a caller gets", runPolicyExplain},
	{"test", "[-v] [-run REGEXP] DIR", "run the cases in DIR/tests/*.yml against the policies in DIR", runPolicyTest},
}

func runPolicy(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		policyUsage(stderr)
		return exitUsage
	}
	if isHelp(args[0]) {
		policyUsage(stdout)
		return exitOK
	}
	for _, s := range policySubcommands {
		if s.name == args[0] {
			return s.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "pm policy: unknown subcommand %q\n", args[0])
	policyUsage(stderr)
	return exitUsage
}

func policyUsage(w io.Writer) {
	fmt.Fprintln(w, "usage:")
	for _, s := range policySubcommands {
		fmt.Fprintf(w, "  pm policy %s %s\n      %s\n", s.name, s.args, s.summary)
	}
}

// runFunc runs a command or subcommand with its arguments.
type runFunc = func(args []string, stdout, stderr io.Writer) int

// runSubcommand runs the subcommand of name that args[0] names: usage on
// stderr when there is none or it is unknown (exit 2), on stdout when asked.
func runSubcommand(name, usage string, subs map[string]runFunc, args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		fmt.Fprint(stderr, usage)
		return exitUsage
	case isHelp(args[0]):
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	if run, ok := subs[args[0]]; ok {
		return run(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "%s: unknown subcommand %q\n", name, args[0])
	fmt.Fprint(stderr, usage)
	return exitUsage
}

func isHelp(a string) bool {
	return a == "-h" || a == "-help" || a == "--help" || a == "help"
}

// newFlagSet returns a flag set that reports to stderr and leaves exiting to
// the caller, so that tests can run commands in-process.
func newFlagSet(name, args string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s %s\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and turns the outcome into an exit code when the
// command must stop: -h is a success, anything else the flag package
// rejected is a usage error (it has already printed why).
func parseFlags(fs *flag.FlagSet, args []string) (code int, stop bool) {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, false
	case errors.Is(err, flag.ErrHelp):
		return exitOK, true
	default:
		return exitUsage, true
	}
}

// parseNoArgs is parseFlags for a command that takes flags only: a
// positional argument is a usage error, named.
func parseNoArgs(fs *flag.FlagSet, args []string) (code int, stop bool) {
	if code, stop := parseFlags(fs, args); stop {
		return code, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage, true
	}
	return 0, false
}

// parseOneArg parses flags for a command that takes exactly one argument
// and returns it; otherwise it prints problem and the usage (stop is true).
func parseOneArg(fs *flag.FlagSet, args []string, problem string) (arg string, code int, stop bool) {
	if code, stop := parseFlags(fs, args); stop {
		return "", code, true
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(fs.Output(), problem)
		fs.Usage()
		return "", exitUsage, true
	}
	return fs.Arg(0), 0, false
}

// runPolicyCheck implements `pm policy check FILE_OR_DIR...`.
func runPolicyCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("pm policy check", "FILE_OR_DIR...", stderr)
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "pm policy check: name at least one policy file or folder")
		fs.Usage()
		return exitUsage
	}
	set, ok := loadPolicies(stderr, fs.Args()...)
	if !ok {
		return exitFail
	}
	fmt.Fprintf(stdout, "ok: %d roles, %d collections\n", len(set.Roles), len(set.Collections))
	return exitOK
}

// loadPolicies loads a policy set, printing every problem (one per line,
// file:line:col: message) or, on success, every warning to stderr.
func loadPolicies(stderr io.Writer, paths ...string) (*policy.Set, bool) {
	set, err := policy.Load(paths...)
	if err != nil {
		var le *policy.LoadError
		if errors.As(err, &le) {
			for _, p := range le.Problems {
				fmt.Fprintln(stderr, p.String())
			}
			for _, w := range le.Warnings {
				fmt.Fprintf(stderr, "%s: warning: %s\n", w.Pos, w.Msg)
			}
		} else {
			fmt.Fprintf(stderr, "%s: %v\n", strings.Join(paths, ","), err)
		}
		return nil, false
	}
	for _, w := range set.Warnings {
		fmt.Fprintf(stderr, "%s: warning: %s\n", w.Pos, w.Msg)
	}
	return set, true
}
