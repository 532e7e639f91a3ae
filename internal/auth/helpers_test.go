package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

const testHMACSecret = "0123456789abcdef0123456789abcdef-test-secret"

type testKeys struct {
	rsa      *rsa.PrivateKey
	rsaPEM   []byte
	rsa2     *rsa.PrivateKey // an unrelated key an attacker controls
	ec       *ecdsa.PrivateKey
	ecPEM    []byte
	ec2      *ecdsa.PrivateKey
	ecP384   *ecdsa.PrivateKey
	rsaSmall *rsa.PrivateKey
}

var (
	keysOnce sync.Once
	keysVal  *testKeys
)

// keys generates the asymmetric test keys once per test binary; RSA
// generation is the slow part of this suite.
func keys(t testing.TB) *testKeys {
	t.Helper()
	keysOnce.Do(func() {
		k := &testKeys{}
		var err error
		must := func(e error) {
			if e != nil && err == nil {
				err = e
			}
		}
		k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		k.rsaSmall, err = rsa.GenerateKey(rand.Reader, 1024)
		must(err)
		k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		k.ec2, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		k.ecP384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		must(err)
		if err != nil {
			panic(err)
		}
		k.rsaPEM = pkixPEM(&k.rsa.PublicKey)
		k.ecPEM = pkixPEM(&k.ec.PublicKey)
		keysVal = k
	})
	return keysVal
}

func pkixPEM(pub any) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// assertUnauthenticated checks that err is a 401 whose client message and
// logged text contain none of the presented credential material.
func assertUnauthenticated(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error, got nil")
	}
	if k := apperr.KindOf(err); k != apperr.KindUnauthenticated {
		t.Fatalf("kind = %v, want KindUnauthenticated (err: %v)", k, err)
	}
	assertNoLeak(t, err, secrets...)
}

func assertNoLeak(t *testing.T, err error, secrets ...string) {
	t.Helper()
	var ae *apperr.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error is not *apperr.Error: %T", err)
	}
	texts := []string{ae.Message, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", ae.Details)}
	for _, s := range secrets {
		for _, part := range credentialParts(s) {
			for _, txt := range texts {
				if strings.Contains(txt, part) {
					t.Fatalf("error text %q contains credential material %q", txt, part)
				}
			}
		}
	}
	if len(ae.Message) > 40 {
		t.Errorf("client message %q is not short and generic", ae.Message)
	}
}

// credentialParts returns the pieces of a credential that must never be
// echoed: the whole thing and each long segment (key secret, JWT header,
// payload, signature). Short/common fragments like "pm" are skipped.
func credentialParts(s string) []string {
	out := []string{}
	if len(strings.TrimSpace(s)) >= 8 {
		out = append(out, strings.TrimSpace(s))
	}
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == '.' || r == '_' || r == ' ' }) {
		if len(p) >= 12 {
			out = append(out, p)
		}
	}
	return out
}
