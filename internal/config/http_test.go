package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func loadText(t *testing.T, text string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "policies"), 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "c.yml")
	if err := os.WriteFile(p, []byte("policies: policies\n"+text), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(p)
}

func TestCORSAndAccessLogDefaultsAndValidation(t *testing.T) {
	c, err := loadText(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.CORS.Enabled() || !c.AccessLog.Enabled || c.AccessLog.Level != "info" || c.AccessLog.SampleEvery != 1 || c.CORS.MaxAge != 10*time.Minute {
		t.Fatalf("defaults: %+v %+v", c.CORS, c.AccessLog)
	}
	c, err = loadText(t, "cors: {allowed_origins: [\"https://app.example.com\", \"http://localhost:3000\"], max_age: 1m}\naccess_log: {level: debug, sample_every: 10}\n")
	if err != nil {
		t.Fatal(err)
	}
	if !c.CORS.Enabled() || len(c.CORS.AllowedOrigins) != 2 || c.AccessLog.SampleEvery != 10 {
		t.Fatalf("read back: %+v %+v", c.CORS, c.AccessLog)
	}

	_, err = loadText(t, `cors:
  allowed_origins: ["*", "app.example.com", "https://a.example/path", "ftp://x"]
  allow_credentials: true
  allowed_headers: ["X-Ok", "bad header"]
  max_age: -1s
access_log: {level: loud, sample_every: 0}
`)
	if err == nil {
		t.Fatal("bad values accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`cors.allow_credentials: cannot be true with "*"`,
		`"app.example.com" is not an origin`,
		`"https://a.example/path" is not an origin`,
		`"ftp://x" is not an origin`,
		`"bad header" is not a header name`,
		"cors.max_age: must not be negative",
		`access_log.level: "loud"`,
		"access_log.sample_every: must be at least 1",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing problem %q in:\n%s", want, msg)
		}
	}

	t.Setenv("PM_CORS_ALLOWED_ORIGINS", "https://a.example, https://b.example")
	t.Setenv("PM_ACCESS_LOG_ENABLED", "false")
	c, err = loadText(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.CORS.AllowedOrigins) != 2 || c.CORS.AllowedOrigins[1] != "https://b.example" || c.AccessLog.Enabled {
		t.Fatalf("environment: %+v %+v", c.CORS, c.AccessLog)
	}
}

// keyPaths lists every key of the file: leaves, lists of objects and their
// members (as "auth.api_keys[].name"), and maps.
func keyPaths(t reflect.Type, prefix string) []string {
	var out []string
	for name, f := range fileKeys(t) {
		p := join(prefix, name)
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct && ft != timeType:
			out = append(out, keyPaths(ft, p)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, p)
			out = append(out, keyPaths(ft.Elem(), p+"[]")...)
		default:
			out = append(out, p)
		}
	}
	return out
}

// docs/configuration.md names every key, and the variable of every key that
// has one, so that it cannot fall behind the code.
func TestConfigurationDocListsEveryKey(t *testing.T) {
	raw, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	paths := keyPaths(reflect.TypeOf(Config{}), "")
	if len(paths) < 40 {
		t.Fatalf("only %d keys found; the walk is broken", len(paths))
	}
	for _, p := range paths {
		if !strings.Contains(doc, "`"+p+"`") {
			t.Errorf("docs/configuration.md does not list key `%s`", p)
		}
	}
	for _, v := range EnvNames() {
		if !strings.Contains(doc, "`"+v+"`") {
			t.Errorf("docs/configuration.md does not list variable `%s`", v)
		}
	}
}
