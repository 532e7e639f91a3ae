package service_test

import (
	"strings"
	"testing"

	"github.com/permission-mongo/permission-mongo/internal/cursor"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/service"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// newService is a service enforcing the policy policyYAML over st, with a
// cursor codec of a fixed test key.
func newService(t *testing.T, policyYAML string, st service.Store) *service.Service {
	t.Helper()
	set, err := policy.Parse(map[string][]byte{"p.yml": []byte(policyYAML)})
	if err != nil {
		t.Fatal(err)
	}
	return service.New(service.Params{Store: st, Policies: set, Cursors: cursor.NewCodec([]byte(strings.Repeat("s", 32)))})
}
