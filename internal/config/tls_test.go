package config

import (
	"strings"
	"testing"
)

func TestTLSConfigProblems(t *testing.T) {
	c, err := loadText(t, "")
	if err != nil || c.Server.TLS.Enabled() {
		t.Fatalf("default: %v %+v", err, c.Server.TLS)
	}
	for text, want := range map[string]string{
		"server: {tls: {cert_file: a.crt}}":                        "server.tls.key_file: is required",
		"server: {tls: {key_file: a.key}}":                         "server.tls.cert_file: is required",
		"server: {tls: {cert_file: none.crt, key_file: none.key}}": "do not form a usable pair",
		"server: {tls: {reload_interval: 10ms}}":                   "server.tls.reload_interval: must be at least 1s",
	} {
		if _, err := loadText(t, text+"\n"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", text, err, want)
		}
	}
}
