package api

import (
	"net/http"
	"path/filepath"

	"github.com/labstack/echo/v5"
)

// policyTests: GET /admin/policies/tests → the loaded policy's test cases
// run against it (service.PolicyTests): counts, every case with its
// failures, and the problems of the case files. File names are relative to
// the policy folder, so the server's directory layout is not shown.
func (s *Server) policyTests(c *echo.Context) error {
	run, err := s.svc.PolicyTests(c.Request().Context(), principalOf(c))
	if err != nil {
		return err
	}
	passed, failed := 0, 0
	files := []string{}
	cases := []map[string]any{}
	problems := []map[string]any{}
	for i, rep := range run.Reports {
		rel := func(f string) string {
			if r, err := filepath.Rel(run.Bases[i], f); err == nil {
				return filepath.ToSlash(r)
			}
			return filepath.Base(f)
		}
		passed += rep.Passed
		failed += rep.Failed
		for _, f := range rep.Files {
			files = append(files, rel(f))
		}
		for _, r := range rep.Results {
			fails := r.Failures
			if fails == nil {
				fails = []string{}
			}
			cases = append(cases, map[string]any{"file": rel(r.File), "line": r.Line, "name": r.Name,
				"passed": r.Passed(), "failures": fails})
		}
		for _, p := range rep.Problems {
			problems = append(problems, map[string]any{"file": rel(p.Pos.File), "line": p.Pos.Line, "column": p.Pos.Col,
				"case": p.Case, "message": p.Msg})
		}
	}
	return writeData(c, http.StatusOK, map[string]any{
		"passed": passed, "failed": failed, "files": files, "cases": cases, "problems": problems,
	})
}
