package config

import (
	"crypto/tls"
	"time"
)

// Server configures the listener.
type Server struct {
	TLS TLS `yaml:"tls"`
}

// TLS makes the server speak https with a certificate from files, read
// again when they change (internal/certreload). Off unless CertFile is set;
// the alternative is a reverse proxy in front (docs/http.md).
type TLS struct {
	// CertFile is the PEM certificate chain, leaf first; KeyFile its key.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ReloadInterval is how often the files are looked at for a new pair.
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

// Enabled reports whether the server speaks TLS.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

func (c *Config) tlsProblems(bad func(path, format string, args ...any)) {
	t := c.Server.TLS
	if t.ReloadInterval < time.Second {
		bad("server.tls.reload_interval", "must be at least 1s")
	}
	if !t.Enabled() {
		return
	}
	switch {
	case t.CertFile == "":
		bad("server.tls.cert_file", "is required with server.tls.key_file")
	case t.KeyFile == "":
		bad("server.tls.key_file", "is required with server.tls.cert_file")
	default:
		// Loaded once here so that a wrong pair stops the start with the
		// key named, instead of failing every handshake later.
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			bad("server.tls.cert_file", "%s and server.tls.key_file %s do not form a usable pair: %v", t.CertFile, t.KeyFile, err)
		}
	}
}
