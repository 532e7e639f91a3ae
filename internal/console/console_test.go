package console

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

func TestServesIndexAndAssets(t *testing.T) {
	res := get(t, "GET", "/console")
	if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/console/" {
		t.Fatalf("/console: %d to %q, want 301 to /console/", res.StatusCode, res.Header.Get("Location"))
	}
	for path, ctype := range map[string]string{
		"/console/":           "text/html",
		"/console/index.html": "text/html",
		"/console/app.js":     "text/javascript",
		"/console/style.css":  "text/css",
	} {
		res := get(t, "GET", path)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK || len(body) == 0 {
			t.Fatalf("%s: %d, %d bytes", path, res.StatusCode, len(body))
		}
		if got := res.Header.Get("Content-Type"); !strings.HasPrefix(got, ctype) {
			t.Errorf("%s: Content-Type %q, want %s", path, got, ctype)
		}
		if got := res.Header.Get("Content-Security-Policy"); got != ContentSecurityPolicy {
			t.Errorf("%s: CSP %q", path, got)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: missing nosniff / frame headers: %v", path, res.Header)
		}
	}
	res = get(t, "HEAD", "/console/app.js")
	if b, _ := io.ReadAll(res.Body); res.StatusCode != 200 || len(b) != 0 {
		t.Errorf("HEAD: %d with %d bytes", res.StatusCode, len(b))
	}
}

func TestRefusesWhatIsNotAnAsset(t *testing.T) {
	for _, p := range []string{"/console/nope.js", "/console/../console.go", "/console/assets/app.js", "/consolex", "/console//etc/passwd"} {
		if res := get(t, "GET", p); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, res.StatusCode)
		}
	}
	res := get(t, "POST", "/console/")
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d Allow %q", res.StatusCode, res.Header.Get("Allow"))
	}
}

// TestCSPPolicy: the policy forbids inline script and foreign origins, and
// the assets obey it, so that the policy need never be loosened for them.
func TestAssetsNeedNoInlineCodeOrOtherOrigins(t *testing.T) {
	for _, d := range []string{"script-src 'self'", "style-src 'self'", "connect-src 'self'", "default-src 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(ContentSecurityPolicy, d) {
			t.Errorf("CSP lacks %q", d)
		}
	}
	if strings.Contains(ContentSecurityPolicy, "unsafe") {
		t.Errorf("CSP allows something unsafe: %s", ContentSecurityPolicy)
	}
	inlineScript := regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`)
	scriptTag := regexp.MustCompile(`<script[^>]*>`)
	styleAttr := regexp.MustCompile(`(?i)\sstyle\s*=|<style|\son[a-z]+\s*=|javascript:`)
	foreign := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	n := 0
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		s := string(b)
		if strings.HasSuffix(name, ".html") {
			if inlineScript.MatchString(s) {
				t.Errorf("%s has an inline script", name)
			}
			for _, tag := range scriptTag.FindAllString(s, -1) {
				if !strings.Contains(tag, `src="`) {
					t.Errorf("%s: script without src: %s", name, tag)
				}
			}
			if m := styleAttr.FindString(s); m != "" {
				t.Errorf("%s: inline style or handler %q", name, m)
			}
		}
		if m := foreign.FindString(s); m != "" {
			t.Errorf("%s refers to another origin: %q", name, m)
		}
		if strings.Contains(s, "innerHTML") || strings.Contains(s, "insertAdjacentHTML") || strings.Contains(s, "document.write") {
			t.Errorf("%s writes markup; values must go through textContent", name)
		}
		if strings.Contains(s, "localStorage") {
			t.Errorf("%s uses localStorage; the credential belongs in sessionStorage only", name)
		}
		return nil
	})
	if err != nil || n < 5 {
		t.Fatalf("walk: %v, %d files", err, n)
	}
}
