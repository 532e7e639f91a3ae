package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/app/apptest"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// The console's browser test: the whole proxy as `pm serve` builds it, on
// the test engine (embedded FerretDB, or PM_TEST_MONGODB_URI), driven by a
// real headless Chromium. It checks what a user sees, not how the page is
// built: the filter of an explain, that a hidden field never reaches the
// page and a masked one arrives masked, an audit entry's details, a broken
// audit chain pointed at, keys created and revoked.

const consolePolicy = `
version: "1"
roles: {admin: {}, employee: {}, viewer: {}}
system: {api_keys.manage: [admin], audit.read: [admin], explain.any_principal: [admin], policies.test: [admin]}
policies:
  employees:
    employee:
      actions: [read, update]
      when: "resource.tenant_id == user.tenant_id && resource.owner == user.id"
      fields:
        deny: [ssn]
        deny_write: [salary]
    viewer:
      actions: [read]
      when: "resource.tenant_id == user.tenant_id && resource.public == true"
      fields:
        allow: [name, email, public, owner, tenant_id]
        mask: {email: email}
    admin:
      actions: [create, read, update, delete, aggregate, restore]
      when: "resource.tenant_id == user.tenant_id"
    presets: {tenant_id: user.tenant_id}
`

// consoleCases are the policy's test cases: one passes, one fails (it
// expects a viewer to see a private record).
const consoleCases = `
cases:
  - name: employee reads own record
    user: {id: u1, tenant_id: t1, roles: [employee]}
    collection: employees
    action: read
    document: {tenant_id: t1, owner: u1, ssn: x}
    expect: allow
    hidden: [ssn]
  - name: viewer reads a private record
    user: {id: u5, tenant_id: t1, roles: [viewer]}
    collection: employees
    action: read
    document: {tenant_id: t1, owner: u1, public: false}
    expect: allow
`

// writeConsoleCases puts the cases where the policy tests page runs them:
// tests/ next to the policy file.
func writeConsoleCases(t *testing.T, dir string) {
	t.Helper()
	if err := os.Mkdir(filepath.Join(dir, "tests"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tests", "employees.yml"), []byte(consoleCases), 0o600); err != nil {
		t.Fatal(err)
	}
}

const consoleJWTSecret = "console-test-secret-0123456789abcdef"

// screenshotsEnv, when "1", makes the test save a PNG of each page under
// docs/console/ (the copies the README shows).
const screenshotsEnv = "PM_CONSOLE_SCREENSHOTS"

type consoleServer struct {
	url  string
	app  *app.App
	keys map[string]string
}

func startConsoleServer(t *testing.T) *consoleServer {
	t.Helper()
	dir := t.TempDir()
	writeTestFile(t, dir, "policy.yml", consolePolicy)
	writeConsoleCases(t, dir)
	mongo := "{uri: embedded, embedded_dir: data, database: app}"
	if uri := os.Getenv(testenv.EnvMongoURI); uri != "" {
		b, _ := json.Marshal(uri)
		mongo = "{uri: " + string(b) + ", database: " + testenv.UniqueName("pmtest_console_") + "}"
	}
	head := "listen: 127.0.0.1:0\npolicies: policy.yml\nmongodb: " + mongo + "\n" + testCursorSecret +
		"versions: {collections: [employees]}\n"
	c, keys := loadTestConfig(t, dir, head, "  jwt: {secret: "+consoleJWTSecret+"}\n", []testKey{
		{"admin", "a1", "t1", []string{"admin"}},
		{"admin2", "a2", "t2", []string{"admin"}},
		{"alice", "u1", "t1", []string{"employee", "viewer"}},
	})
	a, url := serveApp(t, c, app.Options{})
	if !c.MongoDB.Embedded() {
		db := apptest.DriverDB(t, a)
		t.Cleanup(func() { // before close (cleanups run last first)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = db.Drop(ctx)
		})
	}
	return &consoleServer{url: url, app: a, keys: keys}
}

// call is a plain HTTP client of the API, for seeding data and for checking
// what the console did.
func (s *consoleServer) call(t *testing.T, key, method, path string, body any) (int, map[string]any) {
	t.Helper()
	text := ""
	if body != nil {
		b, _ := json.Marshal(body)
		text = string(b)
	}
	st, _, out := call(t, method, s.url+path, key, text)
	return st, out
}

// browser drives one headless Chromium tab; every step fails the test with
// what the page was showing.
type browser struct {
	t   *testing.T
	ctx context.Context
}

// chromiumPath fails the test, never skips it, when the browser is missing:
// a console nobody tested is not a passing console.
func chromiumPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("the console tests need Debian's chromium, which is not installed: run scripts/install-deps.sh (make test runs it)")
	}
	return path
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath(t)
	// The browser lives at most as long as this whole test may take (the
	// first run's context bounds the browser's life, so it gets this long
	// deadline and not a step's).
	life, cancelLife := context.WithTimeout(t.Context(), 10*time.Minute)
	t.Cleanup(cancelLife)
	alloc, cancelAlloc := chromedp.NewExecAllocator(life,
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // tests run as root in containers
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx}
}

// stepTimeout bounds one step, so that a page that never shows what a
// step waits for fails with what it shows instead of hanging the suite.
const stepTimeout = 2 * time.Minute

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v\npage shows: %s", what, err, b.errors())
	}
}

func (b *browser) eval(expr string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

// errors is the text of the page's visible error messages, for failures.
func (b *browser) errors() string {
	s, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](
		`[...document.querySelectorAll('.error')].filter(e => !e.hidden && e.textContent).map(e => e.id + ': ' + e.textContent).join(' | ')`))
	return s
}

func js(v string) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return b.eval(`(document.querySelector(` + js(sel) + `) || {textContent: ''}).textContent`)
}

// waitText waits until the element's text contains want.
func (b *browser) waitText(sel, want string) {
	b.t.Helper()
	expr := `(document.querySelector(` + js(sel) + `)?.textContent || '').includes(` + js(want) + `)`
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(stepTimeout))); err != nil {
		b.t.Fatalf("waiting for %s to show %q: %v\nit shows: %q\nerrors: %s", sel, want, err, b.text(sel), b.errors())
	}
}

// set gives a visible input, select or textarea its value.
func (b *browser) set(sel, value string) {
	b.t.Helper()
	b.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	if got := b.eval(`(() => { const e = document.querySelector(` + js(sel) + `); e.value = ` + js(value) + `; return e.value; })()`); got != value {
		b.t.Fatalf("set %s to %q: it holds %q", sel, value, got)
	}
}

// fill sets fields: selector, value, selector, value...
func (b *browser) fill(selValue ...string) {
	b.t.Helper()
	for i := 0; i+1 < len(selValue); i += 2 {
		b.set(selValue[i], selValue[i+1])
	}
}

func (b *browser) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

func (b *browser) screenshot(name string) {
	b.t.Helper()
	if os.Getenv(screenshotsEnv) != "1" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("..", "..", "docs", "console")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) signIn(base, key string) {
	b.t.Helper()
	b.do("open the console", chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(chromedp.CSS("#credential")))
	b.set("#credential", key)
	b.click("#signin-button")
	// Either the pages appear or the form says why not; fail fast on the latter.
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](`!document.querySelector('#nav').hidden || !document.querySelector('#signin-error').hidden`,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(stepTimeout))); err != nil {
		b.t.Fatalf("sign in: %v", err)
	}
	if msg := b.text("#signin-error"); msg != "" {
		b.t.Fatalf("sign in refused: %s", msg)
	}
	// The key is in session storage and nowhere in the address.
	if got := b.eval(`sessionStorage.getItem('pm.console.credential')`); got != key {
		b.t.Fatalf("session storage holds %q, want the key", got)
	}
	if href := b.eval(`location.href`); strings.Contains(href, key) || strings.Contains(href, strings.Split(key, "_")[2]) {
		b.t.Fatalf("the key is in the address: %s", href)
	}
}

func (b *browser) signOut() {
	b.t.Helper()
	b.click("#signout")
	b.do("signed out", chromedp.WaitVisible(chromedp.CSS("#credential")))
	if got := b.eval(`sessionStorage.getItem('pm.console.credential') || ''`); got != "" {
		b.t.Fatalf("session storage still holds the credential after sign-out")
	}
}

func TestConsoleInBrowser(t *testing.T) {
	chromiumPath(t)
	s := startConsoleServer(t)

	// Assets are served with the strict policy, without a credential.
	res, err := http.Get(s.url + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("GET /console/: %d, CSP %q", res.StatusCode, res.Header.Get("Content-Security-Policy"))
	}

	seed := []struct {
		key string
		doc map[string]any
	}{
		{"admin", map[string]any{"name": "Alice", "owner": "u1", "public": false, "email": "alice@example.com", "ssn": "111-11-1111", "salary": 100,
			"title": `<img src=x id=injected onerror="window.pwned=1">`}},
		{"admin", map[string]any{"name": "Bob", "owner": "u2", "public": true, "email": "bob@example.com", "ssn": "222-22-2222", "salary": 200}},
		{"admin", map[string]any{"name": "Carol", "owner": "u3", "public": false, "email": "carol@example.com", "ssn": "333-33-3333"}},
		{"admin2", map[string]any{"name": "Dave", "owner": "u1", "public": true, "email": "dave@example.com", "ssn": "444-44-4444"}},
	}
	for _, d := range seed {
		if st, out := s.call(t, s.keys[d.key], "POST", "/collections/employees", d.doc); st != 201 {
			t.Fatalf("seed %v: %d %v", d.doc["name"], st, out)
		}
	}

	b := newBrowser(t)
	b.signIn(s.url, s.keys["alice"])

	t.Run("explain", func(t *testing.T) {
		b.t = t
		b.click(`#nav a[data-page="explain"]`)
		b.fill("#explain-collection", "employees", "#explain-action", "read")
		b.click("#explain-run")
		b.waitText("#explain-filter", `"owner"`)
		f := b.text("#explain-filter")
		for _, want := range []string{`"$or"`, `"tenant_id"`, `"t1"`, `"u1"`, `"public"`} {
			if !strings.Contains(f, want) {
				t.Errorf("explain filter lacks %s:\n%s", want, f)
			}
		}
		if got := b.text("#explain-state"); got != "conditional" {
			t.Errorf("state %q, want conditional", got)
		}
		rules := b.text("#explain-rules")
		for _, want := range []string{"employee", "viewer", "hidden: ssn", "masked: email (email)", "read-only: salary"} {
			if !strings.Contains(rules, want) {
				t.Errorf("rules table lacks %q: %s", want, rules)
			}
		}
		b.waitText("#explain-docs", "Bob")
		rows := b.eval(`[...document.querySelectorAll('#explain-docs tbody tr')].map(r => r.cells[1].textContent.match(/"name":"(\w+)"/)?.[1] + '=' + r.cells[2].textContent).sort().join(';')`)
		if rows != "Alice=#1 employee;Bob=#2 viewer" {
			t.Errorf("matching documents and the rules granting them: %q, want Alice by employee and Bob by viewer only", rows)
		}
		b.screenshot("explain")

		// A matching document opens on the documents page.
		b.click(`#explain-docs tbody tr:nth-child(2)`)
		b.do("documents page", chromedp.WaitVisible(chromedp.CSS("#doc-detail")))
		b.waitText("#doc-json", `"name": "Bob"`)
		if j := b.text("#doc-json"); strings.Contains(j, "ssn") || strings.Contains(j, "bob@example.com") {
			t.Errorf("bob's document shows a hidden or unmasked field: %s", j)
		}
	})

	var aliceID string
	t.Run("documents", func(t *testing.T) {
		b.t = t
		b.click(`#nav a[data-page="documents"]`)
		b.fill("#docs-collection", "employees", "#docs-filter", "", "#docs-sort", "name", "#docs-limit", "1")
		b.click("#docs-find")
		b.waitText("#docs-status", "1 document, more available")
		b.click("#docs-more")
		b.waitText("#docs-status", "2 documents")
		if b.eval(`String(document.querySelector('#docs-more').hidden)`) != "true" {
			t.Errorf("next page still offered after the last page")
		}
		table := b.text("#docs-table")
		if !strings.Contains(table, "Alice") || !strings.Contains(table, "Bob") || strings.Contains(table, "Carol") || strings.Contains(table, "Dave") {
			t.Errorf("documents table shows the wrong documents: %s", table)
		}
		page := b.eval(`document.body.innerText`) // what is rendered, not the explain page behind it
		for _, secret := range []string{"ssn", "111-11-1111", "222-22-2222", "bob@example.com"} {
			if strings.Contains(page, secret) {
				t.Errorf("the page shows %q, which the policy hides or masks from alice", secret)
			}
		}
		if !strings.Contains(table, "alice@example.com") {
			t.Errorf("alice's own email (not masked for her) is missing: %s", table)
		}
		// Values are text, never markup.
		if !strings.Contains(table, `<img src=x id=injected`) || b.eval(`String(!!document.getElementById('injected') || !!window.pwned)`) != "false" {
			t.Errorf("a document value was rendered as markup (or not shown): %s", table)
		}
		bobEmail := b.eval(`[...document.querySelectorAll('#docs-table tbody tr')].find(r => r.textContent.includes('Bob')).textContent`)
		if !strings.Contains(bobEmail, "@example.com") || strings.Contains(bobEmail, "bob@") {
			t.Errorf("bob's email should be shown masked: %s", bobEmail)
		}
		b.screenshot("documents")

		// Open alice's record, edit it within her rights, and see the version.
		b.do("open Alice", chromedp.Click(chromedp.CSS(`#docs-table tbody tr:first-child`)))
		b.waitText("#doc-json", `"Alice"`)
		aliceID = b.text("#doc-id")
		b.set("#doc-patch", `{"phone": "555-0100"}`)
		b.click("#doc-save")
		b.waitText("#doc-save-status", "Saved.")
		b.waitText("#doc-json", "555-0100")
		b.waitText("#versions-table", "update")
		b.set("#doc-patch", `{"salary": 1000000}`)
		b.click("#doc-save")
		b.waitText("#doc-save-status", "403 FORBIDDEN")
		if !strings.Contains(b.text("#doc-save-status"), "salary") {
			t.Errorf("the refusal should name the field: %s", b.text("#doc-save-status"))
		}
		b.screenshot("document")
	})
	if t.Failed() {
		return
	}
	_, after := s.call(t, s.keys["admin"], "GET", "/collections/employees/"+aliceID, nil)
	if d, _ := after["data"].(map[string]any); d["salary"] != float64(100) || d["phone"] != "555-0100" {
		t.Fatalf("stored document after the console's edits: %v", after)
	}

	b.signOut()
	b.signIn(s.url, s.keys["admin"])

	t.Run("versions restore", func(t *testing.T) {
		b.t = t
		b.click(`#nav a[data-page="documents"]`)
		b.fill("#docs-collection", "employees", "#docs-filter", `{"name": "Alice"}`, "#docs-limit", "20")
		b.click("#docs-find")
		b.waitText("#docs-status", "1 document")
		b.click(`#docs-table tbody tr:first-child`)
		b.waitText("#versions-table", "update")
		b.click(`#versions-table tbody tr:first-child button:nth-child(2)`)
		b.waitText("#doc-save-status", "Restored version 1.")
		if strings.Contains(b.text("#doc-json"), "555-0100") {
			t.Errorf("after restoring version 1 the phone is still shown: %s", b.text("#doc-json"))
		}
		_, got := s.call(t, s.keys["admin"], "GET", "/collections/employees/"+aliceID, nil)
		if d, _ := got["data"].(map[string]any); d == nil || d["phone"] != nil {
			t.Errorf("stored document after restore: %v", got)
		}
	})

	t.Run("explain as another principal", func(t *testing.T) {
		b.t = t
		b.click(`#nav a[data-page="explain"]`)
		choose := func(as string) {
			b.eval(`(() => { const e = document.querySelector('#explain-as'); e.value = ` + js(as) + `; e.dispatchEvent(new Event('change')); return ''; })()`)
		}
		// A user of the tenant, by id and roles: the filter is that user's,
		// and the documents are those the admin may read that it selects
		// (Alice; not Dave, who is u1's namesake in tenant t2).
		choose("user")
		b.set("#explain-user-id", "u1")
		b.set("#explain-user-roles", "employee")
		b.set("#explain-collection", "employees")
		b.set("#explain-action", "read")
		b.click("#explain-run")
		b.waitText("#explain-subject-text", "u1 @ t1 [employee]")
		b.waitText("#explain-docs", "Alice")
		if f := b.text("#explain-filter"); !strings.Contains(f, `"u1"`) || !strings.Contains(f, `"t1"`) || strings.Contains(f, `"$or"`) {
			t.Errorf("the filter explained for u1 as an employee: %s", f)
		}
		if docs := b.text("#explain-docs"); strings.Contains(docs, "Bob") || strings.Contains(docs, "Carol") || strings.Contains(docs, "Dave") {
			t.Errorf("documents selected for u1 as an employee: %s", docs)
		}

		// An API key of the tenant, by its id: alice's key, with both roles.
		choose("key")
		b.set("#explain-key-id", strings.Split(s.keys["alice"], "_")[1])
		b.click("#explain-run")
		b.waitText("#explain-subject-text", "u1 @ t1 [employee, viewer]")
		b.waitText("#explain-docs", "Bob")
		rows := b.eval(`[...document.querySelectorAll('#explain-docs tbody tr')].map(r => r.cells[1].textContent.match(/"name":"(\w+)"/)?.[1] + '=' + r.cells[2].textContent).sort().join(';')`)
		if rows != "Alice=#1 employee;Bob=#2 viewer" {
			t.Errorf("documents and granting rules for alice's key: %q", rows)
		}
		b.screenshot("explain-as")

		// Another tenant's key is not found, and nothing of it is shown.
		b.set("#explain-key-id", strings.Split(s.keys["admin2"], "_")[1])
		b.click("#explain-run")
		b.waitText("#explain-error", "404 NOT_FOUND")
		if b.eval(`String(document.querySelector('#explain-result').hidden)`) != "true" {
			t.Errorf("the previous explanation is still shown after a refusal")
		}
		choose("self")
	})

	t.Run("policy tests", func(t *testing.T) {
		b.t = t
		b.click(`#nav a[data-page="tests"]`)
		b.click("#tests-run")
		b.waitText("#tests-summary", "1 passed, 1 failed")
		cases := b.text("#tests-cases")
		for _, want := range []string{"FAIL", "tests/employees.yml:10", "viewer reads a private record", "expected allow, got deny"} {
			if !strings.Contains(cases, want) {
				t.Errorf("the failing case's row lacks %q: %s", want, cases)
			}
		}
		if strings.Contains(cases, "employee reads own record") {
			t.Errorf("a passing case is listed although passing cases are not asked for: %s", cases)
		}
		b.click("#tests-show-passed")
		b.waitText("#tests-cases", "employee reads own record")
		b.screenshot("policy-tests")
	})

	t.Run("audit", func(t *testing.T) {
		b.t = t
		// Entries are written by a background writer: wait until alice's
		// update is queryable before asking the page for it.
		waitUntil(t, func() bool {
			_, out := s.call(t, s.keys["admin"], "GET", "/audit?action=update&actor=u1", nil)
			l, _ := out["data"].([]any)
			return len(l) >= 2
		}, "alice's updates in /audit")
		b.click(`#nav a[data-page="audit"]`)
		b.fill("#audit-collection", "employees", "#audit-action", "update", "#audit-actor", "u1")
		b.click("#audit-query")
		b.waitText("#audit-status", "2 entries")
		// Newest first: the refused salary edit, then the phone edit.
		b.click(`#audit-table tbody tr:nth-child(2)`)
		b.waitText("#audit-entry-fields", "changed fields")
		fields := b.text("#audit-entry-fields")
		for _, want := range []string{"u1 @ t1", "employee,viewer", "api_key", "phone", "allowed (200)", aliceID} {
			if !strings.Contains(fields, want) {
				t.Errorf("audit entry details lack %q: %s", want, fields)
			}
		}
		goodID := b.text("#audit-entry-id")
		b.click(`#audit-table tbody tr:nth-child(1)`)
		b.waitText("#audit-entry-fields", "denied (403 FORBIDDEN)")
		b.screenshot("audit")

		b.click("#audit-verify")
		b.waitText("#audit-verify-result", "Chain intact")

		// Tamper with the phone edit's entry in the database: verify must
		// name it as the first bad entry, and the page marks and opens it.
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		r, err := apptest.DriverDB(t, s.app).Collection("pm_audit").UpdateOne(ctx, bson.D{{Key: "_id", Value: goodID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: 204}}}})
		if err != nil || r.MatchedCount != 1 {
			t.Fatalf("tamper with %s: %v %+v", goodID, err, r)
		}
		b.click("#audit-verify")
		b.waitText("#audit-verify-result", "Chain broken")
		if got := b.text("#audit-first-bad"); got != goodID {
			t.Errorf("first bad entry %q, want the tampered %q", got, goodID)
		}
		b.waitText("#audit-entry-id", goodID)
		if b.eval(`document.querySelector('#audit-table tr.bad')?.dataset.id || ''`) != goodID {
			t.Errorf("the tampered entry's row is not marked")
		}
		b.screenshot("audit-verify")
	})

	t.Run("keys", func(t *testing.T) {
		b.t = t
		b.click(`#nav a[data-page="keys"]`)
		b.waitText("#keys-table", "No keys.") // the bootstrap keys live in the config file

		b.fill("#key-name", "bad", "#key-principal", "svc-x", "#key-roles", "nope")
		b.click("#key-create")
		b.waitText("#keys-error", "400 BAD_REQUEST")

		b.fill("#key-name", "ci", "#key-principal", "svc-ci", "#key-roles", "employee", "#key-expires", "24h")
		b.click("#key-create")
		b.waitText("#key-secret", "pm_")
		key := strings.TrimSpace(b.text("#key-secret"))
		b.waitText("#keys-table", "svc-ci @ t1")
		if st, out := s.call(t, key, "POST", "/explain", map[string]any{"collection": "employees", "action": "read"}); st != 200 {
			t.Fatalf("the key the console created does not work: %d %v", st, out)
		}
		b.screenshot("keys")

		b.click(`#keys-table tbody tr:first-child button`)
		b.waitText(`#keys-table tbody tr:first-child button`, "Confirm revoke")
		if st, _ := s.call(t, key, "POST", "/explain", map[string]any{"collection": "employees", "action": "read"}); st != 200 {
			t.Fatalf("one click revoked the key; revoking takes a confirmation")
		}
		b.click(`#keys-table tbody tr:first-child button`)
		b.waitText(`#keys-table tbody tr:first-child`, "revoked")
		if st, _ := s.call(t, key, "POST", "/explain", map[string]any{"collection": "employees", "action": "read"}); st != 401 {
			t.Fatalf("the revoked key still works: %d", st)
		}
	})

	t.Run("jwt", func(t *testing.T) {
		b.t = t
		b.click(`#nav a[data-page="explain"]`)
		b.fill("#explain-collection", "employees", "#explain-action", "read")
		b.click("#explain-run")
		b.waitText("#explain-docs", "Carol") // the admin sees the whole tenant
		b.signOut()
		for _, sel := range []string{"#docs-table tbody", "#docs-status", "#audit-table tbody", "#audit-status", "#keys-table tbody", "#key-secret", "#explain-docs tbody", "#explain-filter"} {
			if got := b.text(sel); got != "" {
				t.Errorf("signing out left the previous caller's data in %s: %q", sel, got)
			}
		}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": "u1", "tenant_id": "t1", "roles": []string{"employee"}, "exp": time.Now().Add(time.Hour).Unix(),
		}).SignedString([]byte(consoleJWTSecret))
		if err != nil {
			t.Fatal(err)
		}
		b.do("open the console", chromedp.Navigate(s.url+"/console/#documents"), chromedp.WaitVisible(chromedp.CSS("#credential")))
		b.set("#credential", tok)
		b.click("#signin-button")
		b.waitText("#whoami-text", "JWT u1 @ t1 [employee]")
		// As an employee only (no viewer role), alice sees her own record
		// and not Bob's public one.
		b.fill("#docs-collection", "employees", "#docs-filter", "")
		b.click("#docs-find")
		b.waitText("#docs-table", "Alice")
		b.waitText("#docs-status", "1 document")
		if table := b.text("#docs-table"); !strings.Contains(table, "Alice") || strings.Contains(table, "Bob") {
			t.Errorf("documents seen with the JWT: %s", table)
		}
		if strings.Contains(b.eval(`location.href`), tok[:20]) {
			t.Errorf("the token is in the address")
		}
	})

	t.Run("assets are not audited", func(t *testing.T) {
		_, out := s.call(t, s.keys["admin"], "GET", "/audit?limit=1000", nil)
		l, _ := out["data"].([]any)
		if len(l) == 0 {
			t.Fatalf("no audit entries: %v", out)
		}
		for _, e := range l {
			if a, _ := e.(map[string]any)["action"].(string); strings.Contains(a, "console") {
				t.Errorf("a console asset fetch was audited: %v", e)
			}
		}
	})

	t.Run("expired credential", func(t *testing.T) {
		b.t = t
		// A key revoked while signed in sends the user back to sign-in.
		b.signOut()
		_, out := s.call(t, s.keys["admin"], "POST", "/admin/api-keys", map[string]any{"name": "short", "principal": map[string]any{"id": "u9", "roles": []string{"employee"}}})
		d, _ := out["data"].(map[string]any)
		key, _ := d["key"].(string)
		b.signIn(s.url, key)
		if st, _ := s.call(t, s.keys["admin"], "DELETE", "/admin/api-keys/"+d["id"].(string), nil); st != 200 {
			t.Fatalf("revoke: %d", st)
		}
		b.click(`#nav a[data-page="explain"]`)
		b.set("#explain-collection", "employees")
		b.click("#explain-run")
		b.waitText("#signin-error", "no longer accepts")
		if got := b.eval(`sessionStorage.getItem('pm.console.credential') || ''`); got != "" {
			t.Errorf("a refused credential stays in session storage")
		}
	})
}
