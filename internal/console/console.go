// Package console serves the web console: static HTML, CSS and JavaScript
// modules embedded in the binary, mounted under /console. The console is only
// a client of the HTTP API; it holds no logic of its own about who may see
// what, so these handlers serve files and nothing else.
package console

import (
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed assets
var assets embed.FS

// Prefix is where the console is mounted.
const Prefix = "/console"

// ContentSecurityPolicy is sent with every asset. Scripts, styles and API
// calls come from this origin only and nothing may run inline, so a value
// from the database that slipped into the page as markup still could not
// execute; the page may not be framed (clickjacking) and forms may not post
// anywhere (the credential field is never in a form).
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

var files fs.FS

func init() {
	var err error
	if files, err = fs.Sub(assets, "assets"); err != nil {
		panic(err) // the embed directive guarantees the directory
	}
}

// Handler serves GET and HEAD below Prefix: Prefix and Prefix+"/" answer
// index.html, any other path the embedded file of that name, else 404.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if p == Prefix {
		// Relative module paths in index.html resolve against the directory.
		http.Redirect(w, r, Prefix+"/", http.StatusMovedPermanently)
		return
	}
	name, ok := strings.CutPrefix(p, Prefix+"/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if name == "" {
		name = "index.html"
	}
	name = path.Clean(name)
	if !fs.ValidPath(name) {
		http.NotFound(w, r)
		return
	}
	b, err := fs.ReadFile(files, name)
	if err != nil {
		// Directories fail here too: no listings.
		http.NotFound(w, r)
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	// Assets change with the binary; revalidation is cheap on loopback and
	// keeps an upgraded server from running an old script.
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(b)
	}
}
