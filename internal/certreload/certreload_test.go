package certreload_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/certreload"
	"github.com/permission-mongo/permission-mongo/internal/config"
)

type pair struct {
	certPEM, keyPEM []byte
	cert            *x509.Certificate
}

// selfSigned makes a certificate for 127.0.0.1 named cn.
func selfSigned(t *testing.T, cn string) pair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return pair{pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), c}
}

// install writes a file the way deployment tools do: a new file renamed
// over the old one.
func install(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// rotationPairs installs a certificate named "first" at certFile and
// keyFile and returns it with a "second" one for the test to rotate in.
func rotationPairs(t *testing.T, certFile, keyFile string) (first, second pair) {
	t.Helper()
	first, second = selfSigned(t, "first"), selfSigned(t, "second")
	install(t, certFile, first.certPEM)
	install(t, keyFile, first.keyPEM)
	return first, second
}

// client trusts exactly one certificate.
func client(p pair, h2 bool) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(p.cert)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: h2, DisableKeepAlives: true}}
}

func get(c *http.Client, url string) (string, error) {
	res, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.Proto + " " + string(b), err
}

// poll retries cond until it holds or a generous deadline passes.
func poll(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCertificateRotatedWithoutRestart: over a real listener, a client
// that trusts only the new certificate gets through once the files are
// replaced; a half-written pair keeps the old certificate in service.
func TestCertificateRotatedWithoutRestart(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first, second := rotationPairs(t, certFile, keyFile)

	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, r, err := certreload.Wrap(raw, certFile, keyFile, certreload.Options{Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }),
		ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	url := "https://" + raw.Addr().String() + "/"

	body, err := get(client(first, false), url)
	if err != nil || body != "HTTP/1.1 ok" {
		t.Fatalf("first certificate: %q %v", body, err)
	}
	if body, err := get(client(first, true), url); err != nil || body != "HTTP/2.0 ok" {
		t.Fatalf("first certificate over HTTP/2: %q %v", body, err)
	}
	if _, err := get(client(second, false), url); err == nil {
		t.Fatal("a client trusting only the second certificate got through before the rotation")
	}

	// Half a rotation: the new certificate without its key. The pair does
	// not match, so the first certificate stays in service.
	install(t, certFile, second.certPEM)
	for range 5 {
		if _, err := get(client(first, false), url); err != nil {
			t.Fatalf("during a half-written rotation the old certificate must stay: %v", err)
		}
	}
	if r.Reloads() != 0 {
		t.Fatalf("a mismatched pair was loaded")
	}

	install(t, keyFile, second.keyPEM)
	poll(t, "the second certificate to be served", func() error {
		_, err := get(client(second, false), url)
		return err
	})
	if _, err := get(client(first, false), url); err == nil {
		t.Fatal("the first certificate is still served after the rotation")
	}
	if r.Reloads() != 1 {
		t.Fatalf("reloads = %d, want 1", r.Reloads())
	}
}

// TestReloadOnDemand: Reload (what SIGHUP calls) swaps at once, whatever the
// interval, and refuses a broken pair without dropping the current one.
func TestReloadOnDemand(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	_, second := rotationPairs(t, certFile, keyFile)
	r, err := certreload.New(certFile, keyFile, certreload.Options{Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	name := func() string {
		c, _ := r.GetCertificate(&tls.ClientHelloInfo{})
		return c.Leaf.Subject.CommonName
	}
	install(t, certFile, second.certPEM)
	install(t, keyFile, second.keyPEM)
	if name() != "first" {
		t.Fatal("reloaded before the interval")
	}
	if err := r.Reload(); err != nil || name() != "second" {
		t.Fatalf("Reload: %v, serving %s", err, name())
	}
	install(t, keyFile, []byte("not a key"))
	if err := r.Reload(); err == nil || name() != "second" {
		t.Fatalf("a broken key: %v, serving %s", err, name())
	}
	if err := os.Remove(certFile); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); !errors.Is(err, os.ErrNotExist) || name() != "second" {
		t.Fatalf("a missing file: %v, serving %s", err, name())
	}
	if _, err := certreload.New(filepath.Join(dir, "none"), keyFile, certreload.Options{}); err == nil {
		t.Fatal("New accepted a missing certificate")
	}
}

// TestListenFromConfig: the server.tls section as pm serve reads it turns
// the listener into https; without it the listener is left as it is.
func TestListenFromConfig(t *testing.T) {
	dir := t.TempDir()
	p := selfSigned(t, "configured")
	install(t, filepath.Join(dir, "tls.crt"), p.certPEM)
	install(t, filepath.Join(dir, "tls.key"), p.keyPEM)
	if err := os.Mkdir(filepath.Join(dir, "policies"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "pm.yml")
	// Relative paths are relative to the config file's folder.
	install(t, cfgFile, []byte("policies: policies\nserver:\n  tls: {cert_file: tls.crt, key_file: tls.key, reload_interval: 1s}\n"))
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, r, err := certreload.Listen(raw, cfg.Server.TLS, nil)
	if err != nil || r == nil {
		t.Fatalf("Listen: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }),
		ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	if body, err := get(client(p, false), "https://"+raw.Addr().String()+"/"); err != nil || body != "HTTP/1.1 ok" {
		t.Fatalf("https with the configured pair: %q %v", body, err)
	}
	// Plain HTTP to a TLS listener gets no answer from the API.
	if res, err := http.Get("http://" + raw.Addr().String() + "/"); err == nil {
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain http answered %d", res.StatusCode)
		}
	}

	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = plain.Close() }()
	same, r, err := certreload.Listen(plain, config.Default().Server.TLS, nil)
	if err != nil || r != nil || same != plain {
		t.Fatalf("without server.tls: %v %v", r, err)
	}

	// A key that does not match is refused at start, naming the keys.
	other := selfSigned(t, "other")
	install(t, filepath.Join(dir, "tls.key"), other.keyPEM)
	if _, err := config.Load(cfgFile); err == nil || !strings.Contains(err.Error(), "server.tls.cert_file") {
		t.Fatalf("mismatched pair: %v", err)
	}
}
