package policy

import (
	"strings"
	"testing"
)

func TestHooksSection(t *testing.T) {
	set, err := Parse(map[string][]byte{"p.yml": []byte(`
roles: {m: {}}
policies:
  orders: {m: {actions: [read]}}
hooks:
  orders:
    - on: [create, delete]
      webhook: {url: "http://127.0.0.1:9000/hook", secret_env: HOOK_SECRET}
`)})
	if err != nil {
		t.Fatal(err)
	}
	if hs := set.HooksFor("orders", "delete"); len(hs) != 1 || hs[0].URL != "http://127.0.0.1:9000/hook" || hs[0].SecretEnv != "HOOK_SECRET" {
		t.Fatalf("hooks %+v", hs)
	}
	if hs := set.HooksFor("orders", "update"); len(hs) != 0 {
		t.Fatalf("update hooks %+v", hs)
	}
	_, err = Parse(map[string][]byte{"p.yml": []byte(`
roles: {m: {}}
policies:
  orders: {m: {actions: [read]}}
hooks:
  ghosts:
    - on: [create]
      webhook: {url: "http://x/", secret_env: S}
  orders:
    - on: [create, explode]
      webhook: {url: "ftp://x/", secret_env: "not a name"}
    - webhook: {url: "http://x/"}
      retry: 3
`)})
	if err == nil {
		t.Fatal("bad hooks loaded")
	}
	for _, want := range []string{
		`p.yml:7:5: hooks for collection "ghosts", which has no policy`,
		`p.yml:10:11: unknown hook event "explode"`,
		`p.yml:11:22: webhook.url "ftp://x/" must be an http:// or https:// URL`,
		`p.yml:11:46: webhook.secret_env "not a name" is not an environment variable name`,
		`p.yml:12:7: hook needs on:`,
		`p.yml:12:16: webhook needs url and secret_env`,
		`p.yml:13:7: unknown key "retry" in hook`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}
