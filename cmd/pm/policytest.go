package main

import (
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/permission-mongo/permission-mongo/internal/policytest"
)

// runPolicyTest implements `pm policy test DIR`: the policies are DIR/*.yml,
// the cases DIR/tests/*.yml (run by package policytest, which the server's
// policy-tests endpoint shares).
func runPolicyTest(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("pm policy test", "[-v] [-run REGEXP] DIR", stderr)
	verbose := fs.Bool("v", false, "also print the cases that pass")
	runPattern := fs.String("run", "", "run only the cases whose name matches this regular expression")
	dir, code, stop := parseOneArg(fs, args, "pm policy test: name exactly one policy folder")
	if stop {
		return code
	}
	var opt policytest.Options
	if *runPattern != "" {
		var err error
		if opt.Only, err = regexp.Compile(*runPattern); err != nil {
			fmt.Fprintf(stderr, "pm policy test: -run: %v\n", err)
			return exitUsage
		}
	}
	set, ok := loadPolicies(stderr, dir)
	if !ok {
		return exitFail
	}
	rep, err := policytest.RunDir(set, filepath.Join(dir, "tests"), opt)
	if err != nil {
		fmt.Fprintf(stderr, "pm policy test: %v\n", err)
		return exitFail
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(stdout, p.String())
	}
	for _, r := range rep.Results {
		switch {
		case !r.Passed():
			fmt.Fprintf(stdout, "%s:%d: FAIL %s: %s\n", r.File, r.Line, r.Name, strings.Join(r.Failures, "; "))
		case *verbose:
			fmt.Fprintf(stdout, "%s:%d: ok   %s\n", r.File, r.Line, r.Name)
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", rep.Passed, rep.Failed)
	if rep.Failed > 0 {
		return exitFail
	}
	if rep.Passed == 0 {
		fmt.Fprintln(stderr, "pm policy test: no case ran")
		return exitFail
	}
	return exitOK
}
