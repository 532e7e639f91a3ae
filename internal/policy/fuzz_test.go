package policy

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// FuzzParse feeds arbitrary YAML to the loader: it must either load or
// return a *LoadError whose every problem has a position, never panic; and a
// set that loads must answer a decision without panicking.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("testdata/spec_example.yml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(benchPolicy))
	f.Add([]byte("roles: {a: {inherits: [a]}}\npolicies: {x: {a: {actions: [read], when: 'resource.a in user.b'}}}"))
	f.Add([]byte("policies: {c: {r: {actions: [read], fields: {mask: {e: email}, deny: [x.y]}}}}\ngrants: {r: {databases: [d], collections: ['*'], actions: [read], max_ttl: 1h}}"))
	p := &principal.Principal{ID: "u1", TenantID: "t1", Roles: []string{"a", "r", "employee", "hr"}}
	f.Fuzz(func(t *testing.T, src []byte) {
		if len(src) > 4096 {
			return
		}
		s, err := Parse(map[string][]byte{"f.yml": src})
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || len(le.Problems) == 0 {
				t.Fatalf("error is not a LoadError with problems: %v", err)
			}
			for _, pr := range le.Problems {
				if pr.Pos.File != "f.yml" {
					t.Fatalf("problem without a file: %v", pr)
				}
			}
			return
		}
		for name := range s.Collections {
			for _, a := range Actions {
				d := s.Decide(p.Roles, p, name, a, time.Now())
				_ = d.Filter()
			}
		}
	})
}
