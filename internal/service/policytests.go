package service

import (
	"context"
	"os"
	"path/filepath"
	"slices"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/policytest"
	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// PolicyTestRun is the outcome of running the loaded policy's test cases:
// one report per tests folder, and the folders' parents, against which
// the reports' file names are relative.
type PolicyTestRun struct {
	Bases   []string
	Reports []*policytest.Report
}

// PolicyTests runs the test cases of the policy set in force against it. The
// cases are the tests/*.yml files of every folder a loaded policy file is in
// (the layout `pm policy test DIR` reads), read at each run, so that the
// answer tracks the files on the server's disk; no path comes from the
// client. It needs the policies.test system permission.
func (s *Service) PolicyTests(_ context.Context, caller *principal.Principal) (*PolicyTestRun, error) {
	if caller == nil {
		return nil, apperr.New(apperr.KindUnauthenticated, "authentication required")
	}
	set := s.policies.Load()
	if set == nil {
		return nil, apperr.New(apperr.KindUnavailable, "no policy loaded")
	}
	if !set.SystemAllowed(caller.Roles, policy.PermPoliciesTest) {
		return nil, apperr.Forbidden("running the policy tests needs the %s permission", policy.PermPoliciesTest)
	}
	var bases []string
	for _, f := range set.Files {
		if d := filepath.Dir(f); !slices.Contains(bases, d) {
			bases = append(bases, d)
		}
	}
	run := &PolicyTestRun{}
	for _, b := range bases {
		dir := filepath.Join(b, "tests")
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		rep, err := policytest.RunDir(set, dir, policytest.Options{Now: s.now()})
		if err != nil {
			continue // a tests folder without case files has nothing to run
		}
		run.Bases = append(run.Bases, b)
		run.Reports = append(run.Reports, rep)
	}
	if len(run.Reports) == 0 {
		// An empty run must not read as a green one.
		return nil, apperr.New(apperr.KindNotSupported, "the loaded policy has no test cases (tests/*.yml next to the policy files)").
			WithDetails(map[string]any{"capability": "policy tests"})
	}
	return run, nil
}
