package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/permission-mongo/permission-mongo/internal/principal"
)

func BenchmarkAuthenticateAPIKey(b *testing.B) {
	id, full, hash := GenerateKey()
	s, err := NewStaticKeys([]StaticKey{{KeyID: id, KeySHA256: hash, Principal: principal.Principal{ID: "svc", Roles: []string{"r"}}}})
	if err != nil {
		b.Fatal(err)
	}
	a := &Authenticator{Keys: s}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authenticate(ctx, "", full); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyJWT(b *testing.B) {
	k := keys(b)
	claims := with(goodClaims(), "exp", time.Now().Add(time.Hour).Unix(), "iat", time.Now().Unix())
	for _, c := range []struct {
		name string
		cfg  JWTConfig
		m    jwt.SigningMethod
		key  any
	}{
		{"HS256", JWTConfig{Secret: testHMACSecret}, jwt.SigningMethodHS256, []byte(testHMACSecret)},
		{"RS256", JWTConfig{PublicKeyPEM: k.rsaPEM}, jwt.SigningMethodRS256, k.rsa},
		{"ES256", JWTConfig{PublicKeyPEM: k.ecPEM}, jwt.SigningMethodES256, k.ec},
	} {
		b.Run(c.name, func(b *testing.B) {
			v, err := NewJWTVerifier(c.cfg)
			if err != nil {
				b.Fatal(err)
			}
			tok, err := jwt.NewWithClaims(c.m, claims).SignedString(c.key)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tok, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzParseKey: whatever ParseKey accepts reassembles to exactly its input
// and uses only the documented alphabets, so parsing is unambiguous.
func FuzzParseKey(f *testing.F) {
	_, full, _ := GenerateKey()
	for _, s := range []string{full, "pm_", "pm__", "pm_0123456789abcdef_", full + "_x", strings.ToUpper(full)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, err := ParseKey(s)
		if err != nil {
			return
		}
		if KeyPrefix+id+"_"+secret != s || !ValidKeyID(id) || !validSecret(secret) || strings.Contains(secret, "_") {
			t.Fatalf("ParseKey(%q) = %q, %q", s, id, secret)
		}
	})
}

// FuzzAuthenticate: arbitrary header values never authenticate, never
// panic, and never come back in the error text.
func FuzzAuthenticate(f *testing.F) {
	id, full, hash := GenerateKey()
	s, err := NewStaticKeys([]StaticKey{{KeyID: id, KeySHA256: hash, Principal: principal.Principal{ID: "svc"}}})
	if err != nil {
		f.Fatal(err)
	}
	v, err := NewJWTVerifier(JWTConfig{Secret: testHMACSecret})
	if err != nil {
		f.Fatal(err)
	}
	a := &Authenticator{Keys: s, JWT: v, Now: func() time.Time { return testNow }}
	f.Add("Bearer "+KeyPrefix+id+"_"+strings.Repeat("a", 52), "")
	f.Add("", KeyPrefix+id+"_"+strings.Repeat("b", 52))
	f.Add("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "")
	f.Add("bearer  x", "y")
	f.Fuzz(func(t *testing.T, authz, apiKey string) {
		if strings.Contains(authz, full) || strings.Contains(apiKey, full) {
			return // the fuzzer cannot find the secret; skip if it is handed it
		}
		p, err := a.Authenticate(t.Context(), authz, apiKey)
		if p != nil || err == nil {
			t.Fatalf("authenticated %+v", p)
		}
		for _, in := range []string{authz, apiKey} {
			in = strings.TrimSpace(in)
			if len(in) >= 24 && strings.Contains(err.Error(), in) {
				t.Fatalf("error echoes input: %v", err)
			}
		}
	})
}
