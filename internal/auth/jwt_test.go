package auth

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func sign(t *testing.T, m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return s
}

// goodClaims is a valid claim set at testNow; cases modify a copy.
func goodClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"sub":       "user-1",
		"tenant_id": "tenant-a",
		"roles":     []any{"editor", "viewer"},
		"exp":       testNow.Add(time.Hour).Unix(),
		"iat":       testNow.Add(-time.Minute).Unix(),
		"iss":       "https://issuer.example",
		"aud":       "permission-mongo",
		"dept":      map[string]any{"id": 42},
	}
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == deleteClaim {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

type deleteMarker struct{}

var deleteClaim = deleteMarker{}

func b64(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func newVerifier(t *testing.T, cfg JWTConfig) *JWTVerifier {
	t.Helper()
	v, err := NewJWTVerifier(cfg)
	if err != nil {
		t.Fatalf("NewJWTVerifier: %v", err)
	}
	return v
}

// familyConfigs are verifier settings for the test issuer and audience, one
// for each key family the tests sign with: HMAC, RSA and EC.
func familyConfigs(k *testKeys) (hs, rs, es JWTConfig) {
	base := JWTConfig{Issuer: "https://issuer.example", Audience: "permission-mongo"}
	hs, rs, es = base, base, base
	hs.Secret = testHMACSecret
	rs.PublicKeyPEM = k.rsaPEM
	es.PublicKeyPEM = k.ecPEM
	return hs, rs, es
}

func TestJWTValid(t *testing.T) {
	k := keys(t)
	hs, rs, es := familyConfigs(k)

	cases := []struct {
		name  string
		cfg   JWTConfig
		token string
	}{
		{"HS256", hs, sign(t, jwt.SigningMethodHS256, []byte(testHMACSecret), goodClaims())},
		{"RS256", rs, sign(t, jwt.SigningMethodRS256, k.rsa, goodClaims())},
		{"ES256", es, sign(t, jwt.SigningMethodES256, k.ec, goodClaims())},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := newVerifier(t, c.cfg).Verify(c.token, testNow)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.ID != "user-1" || p.KeyID != "user-1" || p.TenantID != "tenant-a" || p.Auth != "jwt" {
				t.Fatalf("principal = %+v", p)
			}
			if len(p.Roles) != 2 || p.Roles[0] != "editor" || p.Roles[1] != "viewer" {
				t.Fatalf("roles = %v", p.Roles)
			}
			// Every claim is exposed; numbers keep an exact integer type.
			if v, ok := p.Lookup("claims.dept.id"); !ok || v != int64(42) {
				t.Fatalf("claims.dept.id = %#v, %v", v, ok)
			}
			if v, ok := p.Lookup("claims.iss"); !ok || v != "https://issuer.example" {
				t.Fatalf("claims.iss = %#v, %v", v, ok)
			}
		})
	}
}

// TestJWTAttacks: every token here must be refused with a 401 whose text
// does not contain the token.
func TestJWTAttacks(t *testing.T) {
	k := keys(t)
	hsKey := []byte(testHMACSecret)
	hs, rs, es := familyConfigs(k)
	hsPlain := JWTConfig{Secret: testHMACSecret}
	hsrs := rs // both families enabled: confusion must still fail
	hsrs.Secret = testHMACSecret
	hsrs.Algorithms = []string{AlgHS256, AlgRS256}

	good := sign(t, jwt.SigningMethodHS256, hsKey, goodClaims())
	parts := strings.Split(good, ".")
	goodRS := sign(t, jwt.SigningMethodRS256, k.rsa, goodClaims())
	rsParts := strings.Split(goodRS, ".")

	noneToken := func(alg string) string {
		return b64(map[string]any{"alg": alg, "typ": "JWT"}) + "." + b64(goodClaims()) + "."
	}
	libNone := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, goodClaims())

	// Signature bit flipped: change the first signature char (its high
	// bits are always significant, unlike the last char's padding bits).
	tamperedSig := parts[0] + "." + parts[1] + "." + string(flipB64(parts[2][0])) + parts[2][1:]
	// Payload swapped for one granting more, signature kept.
	escalated := parts[0] + "." + b64(with(goodClaims(), "roles", []any{"admin"})) + "." + parts[2]
	// RS token whose header is rewritten to HS256, and one HMAC-signed with
	// the RSA public key PEM as the secret: the classic confusion attack.
	confusedPEM := sign(t, jwt.SigningMethodHS256, k.rsaPEM, goodClaims())
	der, _ := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	confusedDER := sign(t, jwt.SigningMethodHS256, der, goodClaims())
	headerSwapped := b64(map[string]any{"alg": "HS256", "typ": "JWT"}) + "." + rsParts[1] + "." + rsParts[2]

	critToken := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, goodClaims())
		tok.Header["crit"] = []string{"exp"}
		s, err := tok.SignedString(hsKey)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()

	hsWith := func(kv ...any) string { return sign(t, jwt.SigningMethodHS256, hsKey, with(goodClaims(), kv...)) }

	cases := []struct {
		name  string
		cfg   JWTConfig
		token string
		cause error
	}{
		{"tampered signature", hs, tamperedSig, jwt.ErrTokenSignatureInvalid},
		{"payload escalated, signature kept", hs, escalated, jwt.ErrTokenSignatureInvalid},
		{"signature with non-canonical base64 tail", hs, parts[0] + "." + parts[1] + "." + nonCanonicalTail(parts[2]), jwt.ErrTokenMalformed},
		{"signature stripped", hs, parts[0] + "." + parts[1] + ".", jwt.ErrTokenSignatureInvalid},
		{"signed with another secret", hs, sign(t, jwt.SigningMethodHS256, []byte(testHMACSecret+"x"), goodClaims()), jwt.ErrTokenSignatureInvalid},
		{"HS512 with the right secret (alg not enabled)", hs, sign(t, jwt.SigningMethodHS512, hsKey, goodClaims()), jwt.ErrTokenSignatureInvalid},
		{"alg none (library)", hs, libNone, jwt.ErrTokenSignatureInvalid},
		{"alg none (handmade)", hs, noneToken("none"), jwt.ErrTokenSignatureInvalid},
		{"alg None", hs, noneToken("None"), jwt.ErrTokenUnverifiable},
		{"alg NONE", rs, noneToken("NONE"), jwt.ErrTokenUnverifiable},
		{"alg none with signature", hs, noneToken("none") + parts[2], jwt.ErrTokenSignatureInvalid},
		{"alg missing", hs, b64(map[string]any{"typ": "JWT"}) + "." + parts[1] + "." + parts[2], jwt.ErrTokenUnverifiable},
		{"HS256 signed with RSA public key PEM, RS256 configured", rs, confusedPEM, jwt.ErrTokenSignatureInvalid},
		{"HS256 signed with RSA public key DER, RS256 configured", rs, confusedDER, jwt.ErrTokenSignatureInvalid},
		{"HS256 signed with RSA public key PEM, HS256+RS256 configured", hsrs, confusedPEM, jwt.ErrTokenSignatureInvalid},
		{"RS256 token relabelled HS256", hsrs, headerSwapped, jwt.ErrTokenSignatureInvalid},
		{"HS256 signed with EC public key PEM, ES256 configured", es, sign(t, jwt.SigningMethodHS256, k.ecPEM, goodClaims()), jwt.ErrTokenSignatureInvalid},
		{"RS256 signed by attacker key", rs, sign(t, jwt.SigningMethodRS256, k.rsa2, goodClaims()), jwt.ErrTokenSignatureInvalid},
		{"ES256 signed by attacker key", es, sign(t, jwt.SigningMethodES256, k.ec2, goodClaims()), jwt.ErrTokenSignatureInvalid},
		{"ES256 token, RS256 configured", rs, sign(t, jwt.SigningMethodES256, k.ec, goodClaims()), jwt.ErrTokenSignatureInvalid},
		{"RS256 token, ES256 configured", es, goodRS, jwt.ErrTokenSignatureInvalid},
		{"PS256 token, RS256 configured", rs, sign(t, jwt.SigningMethodPS256, k.rsa, goodClaims()), jwt.ErrTokenSignatureInvalid},
		{"RS256 token, HS256 only", hs, goodRS, jwt.ErrTokenSignatureInvalid},
		{"expired", hs, hsWith("exp", testNow.Add(-time.Second).Unix()), jwt.ErrTokenExpired},
		{"expired exactly now", hs, hsWith("exp", testNow.Unix()), jwt.ErrTokenExpired},
		{"exp missing", hs, hsWith("exp", deleteClaim), jwt.ErrTokenRequiredClaimMissing},
		{"exp zero", hs, hsWith("exp", 0), jwt.ErrTokenExpired},
		{"exp null", hs, hsWith("exp", nil), jwt.ErrTokenInvalidClaims},
		{"exp as string", hs, hsWith("exp", "9999999999"), jwt.ErrTokenInvalidClaims},
		{"exp out of float range", hsPlain, hsRaw(t, `{"sub":"u","exp":1e400}`), nil},
		{"exp absurdly large", hsPlain, hsRaw(t, `{"sub":"u","exp":1e300}`), nil},
		{"exp after year 9999", hsPlain, hsRaw(t, `{"sub":"u","exp":253402300800}`), jwt.ErrTokenInvalidClaims},
		{"claim out of float range", hsPlain, hsRaw(t, `{"sub":"u","exp":1893456000,"big":1e400}`), ErrClaimType},
		{"iss wrong", hs, hsWith("iss", "https://evil.example"), jwt.ErrTokenInvalidIssuer},
		{"iss missing", hs, hsWith("iss", deleteClaim), jwt.ErrTokenRequiredClaimMissing},
		{"iss as array", hs, hsWith("iss", []any{"https://issuer.example"}), jwt.ErrTokenInvalidClaims},
		{"aud wrong", hs, hsWith("aud", "other-service"), jwt.ErrTokenInvalidAudience},
		{"aud missing", hs, hsWith("aud", deleteClaim), jwt.ErrTokenRequiredClaimMissing},
		{"aud array without us", hs, hsWith("aud", []any{"a", "b"}), jwt.ErrTokenInvalidAudience},
		{"nbf in future", hs, hsWith("nbf", testNow.Add(time.Minute).Unix()), jwt.ErrTokenNotValidYet},
		{"iat in future", hs, hsWith("iat", testNow.Add(time.Minute).Unix()), jwt.ErrTokenUsedBeforeIssued},
		{"roles number", hs, hsWith("roles", 7), ErrClaimType},
		{"roles object", hs, hsWith("roles", map[string]any{"admin": true}), ErrClaimType},
		{"roles bool", hs, hsWith("roles", true), ErrClaimType},
		{"roles null", hs, hsWith("roles", nil), ErrClaimType},
		{"roles array with number", hs, hsWith("roles", []any{"viewer", 1}), ErrClaimType},
		{"roles array with nested array", hs, hsWith("roles", []any{[]any{"admin"}}), ErrClaimType},
		{"roles array with empty string", hs, hsWith("roles", []any{""}), ErrClaimType},
		{"roles empty string", hs, hsWith("roles", ""), ErrClaimType},
		{"tenant number", hs, hsWith("tenant_id", 5), ErrClaimType},
		{"tenant array", hs, hsWith("tenant_id", []any{"tenant-a", "tenant-b"}), ErrClaimType},
		{"sub number", hs, hsWith("sub", 1), ErrClaimType},
		{"crit header", hs, critToken, ErrUnsupportedHeader},
		{"duplicate tenant claim", hsPlain, hsRaw(t, `{"sub":"u","exp":1893456000,"tenant_id":"a","tenant_id":"b"}`), ErrDuplicateClaim},
		{"duplicate roles claim", hsPlain, hsRaw(t, `{"sub":"u","exp":1893456000,"roles":["viewer"],"roles":["admin"]}`), ErrDuplicateClaim},
		{"duplicate claim spelled with an escape", hsPlain, hsRaw(t, `{"sub":"u","exp":1893456000,"\u0073ub":"admin"}`), ErrDuplicateClaim},
		{"duplicate exp", hsPlain, hsRaw(t, `{"sub":"u","exp":1,"exp":1893456000}`), ErrDuplicateClaim},
		{"duplicate nested claim", hsPlain, hsRaw(t, `{"sub":"u","exp":1893456000,"dept":{"id":1,"id":2}}`), ErrDuplicateClaim},
		{"duplicate header member", hsPlain, hsRawHeader(t, `{"alg":"HS256","typ":"JWT","typ":"JWT"}`, `{"sub":"u","exp":1893456000}`), ErrDuplicateClaim},
		{"not a jwt", hs, "hello", jwt.ErrTokenMalformed},
		{"empty", hs, "", jwt.ErrTokenMalformed},
		{"two segments", hs, parts[0] + "." + parts[1], jwt.ErrTokenMalformed},
		{"four segments", hs, good + ".x", jwt.ErrTokenMalformed},
		{"padded base64", hs, parts[0] + "=." + parts[1] + "." + parts[2], jwt.ErrTokenMalformed},
		{"payload not json", hs, parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte("not json")) + "." + parts[2], jwt.ErrTokenMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := newVerifier(t, c.cfg).Verify(c.token, testNow)
			if err == nil {
				t.Fatalf("token accepted: %+v", p)
			}
			if p != nil {
				t.Fatal("principal returned together with an error")
			}
			assertUnauthenticated(t, err, c.token)
			if c.cause != nil && !errors.Is(err, c.cause) {
				t.Fatalf("cause = %v, want %v", errors.Unwrap(err), c.cause)
			}
		})
	}
}

// hsRaw signs a raw JSON payload, for claims json.Marshal cannot produce.
func hsRaw(t *testing.T, payload string) string {
	t.Helper()
	return hsRawHeader(t, `{"alg":"HS256","typ":"JWT"}`, payload)
}

// hsRawHeader signs a raw JSON header and payload.
func hsRawHeader(t *testing.T, header, payload string) string {
	t.Helper()
	unsigned := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(unsigned, []byte(testHMACSecret))
	if err != nil {
		t.Fatal(err)
	}
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// nonCanonicalTail changes the unused low bits of the last base64url
// character of a 32-byte signature: a lenient decoder yields the same bytes,
// so the same signature would have two spellings.
func nonCanonicalTail(sig string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, sig[len(sig)-1])
	return sig[:len(sig)-1] + string(alphabet[last^1])
}

func flipB64(c byte) byte {
	if c == 'A' {
		return 'B'
	}
	return 'A'
}

func TestJWTTimeAndLeeway(t *testing.T) {
	cfg := JWTConfig{Secret: testHMACSecret, Leeway: 30 * time.Second}
	v := newVerifier(t, cfg)
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, []byte(testHMACSecret), c) }
	cases := []struct {
		name string
		c    jwt.MapClaims
		ok   bool
	}{
		{"expired within leeway", with(goodClaims(), "exp", testNow.Add(-20*time.Second).Unix()), true},
		{"expired beyond leeway", with(goodClaims(), "exp", testNow.Add(-40*time.Second).Unix()), false},
		{"nbf within leeway", with(goodClaims(), "nbf", testNow.Add(20*time.Second).Unix()), true},
		{"nbf beyond leeway", with(goodClaims(), "nbf", testNow.Add(40*time.Second).Unix()), false},
		{"exp in year 9999", with(goodClaims(), "exp", int64(253402300799)), true},
		{"nbf past", with(goodClaims(), "nbf", testNow.Add(-time.Hour).Unix()), true},
		{"iat within leeway", with(goodClaims(), "iat", testNow.Add(20*time.Second).Unix()), true},
		{"iat beyond leeway", with(goodClaims(), "iat", testNow.Add(40*time.Second).Unix()), false},
		// iss/aud not configured: not checked.
		{"any iss/aud when not configured", with(goodClaims(), "iss", "x", "aud", "y"), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := hs(c.c)
			_, err := v.Verify(tok, testNow)
			if c.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !c.ok {
				assertUnauthenticated(t, err, tok)
			}
		})
	}
	// The clock is the caller's: the same token is valid before exp and not after.
	tok := hs(goodClaims())
	if _, err := v.Verify(tok, testNow.Add(time.Hour+time.Minute)); err == nil {
		t.Fatal("token accepted after exp+leeway")
	}
}

func TestJWTClaimMapping(t *testing.T) {
	hsKey := []byte(testHMACSecret)
	cases := []struct {
		name       string
		mapping    ClaimMapping
		claims     jwt.MapClaims
		wantID     string
		wantTenant string
		wantRoles  []string
	}{
		{"defaults", ClaimMapping{}, goodClaims(), "user-1", "tenant-a", []string{"editor", "viewer"}},
		{"single role string", ClaimMapping{}, with(goodClaims(), "roles", "admin"), "user-1", "tenant-a", []string{"admin"}},
		{"roles missing -> none", ClaimMapping{}, with(goodClaims(), "roles", deleteClaim), "user-1", "tenant-a", []string{}},
		{"roles empty array", ClaimMapping{}, with(goodClaims(), "roles", []any{}), "user-1", "tenant-a", []string{}},
		{"tenant missing stays absent", ClaimMapping{}, with(goodClaims(), "tenant_id", deleteClaim), "user-1", "", []string{"editor", "viewer"}},
		{"tenant empty stays absent", ClaimMapping{}, with(goodClaims(), "tenant_id", ""), "user-1", "", []string{"editor", "viewer"}},
		{"sub missing stays absent", ClaimMapping{}, with(goodClaims(), "sub", deleteClaim), "", "tenant-a", []string{"editor", "viewer"}},
		{"custom names", ClaimMapping{ID: "uid", TenantID: "org", Roles: "groups"},
			with(goodClaims(), "uid", "u-9", "org", "o-1", "groups", []any{"g"}), "u-9", "o-1", []string{"g"}},
		{"custom name ignores default claim", ClaimMapping{TenantID: "org"}, goodClaims(), "user-1", "", []string{"editor", "viewer"}},
		{"nested path", ClaimMapping{Roles: "realm_access.roles"},
			with(goodClaims(), "realm_access", map[string]any{"roles": []any{"r1"}}), "user-1", "tenant-a", []string{"r1"}},
		{"namespaced claim with dots", ClaimMapping{Roles: "https://example.com/roles"},
			with(goodClaims(), "https://example.com/roles", []any{"ns"}), "user-1", "tenant-a", []string{"ns"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := newVerifier(t, JWTConfig{Secret: testHMACSecret, Claims: c.mapping})
			p, err := v.Verify(sign(t, jwt.SigningMethodHS256, hsKey, c.claims), testNow)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.ID != c.wantID || p.KeyID != c.wantID || p.TenantID != c.wantTenant {
				t.Fatalf("id=%q keyID=%q tenant=%q", p.ID, p.KeyID, p.TenantID)
			}
			if p.Roles == nil || len(p.Roles) != len(c.wantRoles) {
				t.Fatalf("roles = %#v, want %v", p.Roles, c.wantRoles)
			}
			for i := range c.wantRoles {
				if p.Roles[i] != c.wantRoles[i] {
					t.Fatalf("roles = %v, want %v", p.Roles, c.wantRoles)
				}
			}
			if c.wantTenant == "" {
				if _, ok := p.Lookup("tenant_id"); ok {
					t.Fatal("missing tenant must be absent for the policy engine")
				}
			}
		})
	}
}

func TestNewJWTVerifierConfig(t *testing.T) {
	k := keys(t)
	der, _ := x509.MarshalPKCS8PrivateKey(k.rsa)
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})

	bad := map[string]JWTConfig{
		"nothing":                    {},
		"alg none":                   {Secret: testHMACSecret, Algorithms: []string{"none"}},
		"alg lowercase":              {Secret: testHMACSecret, Algorithms: []string{"hs256"}},
		"alg HS512":                  {Secret: testHMACSecret, Algorithms: []string{"HS512"}},
		"HS256 without secret":       {Algorithms: []string{AlgHS256}},
		"short secret":               {Secret: "too-short"},
		"RS256 without key":          {Algorithms: []string{AlgRS256}},
		"RS256 with EC key":          {PublicKeyPEM: k.ecPEM, Algorithms: []string{AlgRS256}},
		"ES256 with RSA key":         {PublicKeyPEM: k.rsaPEM, Algorithms: []string{AlgES256}},
		"ES256 with P-384 key":       {PublicKeyPEM: pkixPEM(&k.ecP384.PublicKey)},
		"RSA 1024":                   {PublicKeyPEM: pkixPEM(&k.rsaSmall.PublicKey)},
		"private key PEM":            {PublicKeyPEM: privPEM},
		"garbage PEM":                {PublicKeyPEM: []byte("not a pem")},
		"two PEM blocks":             {PublicKeyPEM: append(append([]byte{}, k.rsaPEM...), k.ecPEM...)},
		"secret set, HS256 disabled": {Secret: testHMACSecret, PublicKeyPEM: k.rsaPEM, Algorithms: []string{AlgRS256}},
		"key set, only HS256":        {Secret: testHMACSecret, PublicKeyPEM: k.rsaPEM, Algorithms: []string{AlgHS256}},
		"negative leeway":            {Secret: testHMACSecret, Leeway: -time.Second},
	}
	for name, cfg := range bad {
		t.Run("bad/"+name, func(t *testing.T) {
			if _, err := NewJWTVerifier(cfg); err == nil {
				t.Fatal("config accepted")
			}
		})
	}

	good := []struct {
		name string
		cfg  JWTConfig
		want []string
	}{
		{"secret infers HS256", JWTConfig{Secret: testHMACSecret}, []string{AlgHS256}},
		{"RSA infers RS256", JWTConfig{PublicKeyPEM: k.rsaPEM}, []string{AlgRS256}},
		{"PKCS1 RSA", JWTConfig{PublicKeyPEM: pkcs1}, []string{AlgRS256}},
		{"EC infers ES256", JWTConfig{PublicKeyPEM: k.ecPEM}, []string{AlgES256}},
		{"both", JWTConfig{Secret: testHMACSecret, PublicKeyPEM: k.rsaPEM}, []string{AlgHS256, AlgRS256}},
		{"duplicates collapse", JWTConfig{Secret: testHMACSecret, Algorithms: []string{AlgHS256, AlgHS256}}, []string{AlgHS256}},
	}
	for _, c := range good {
		t.Run("good/"+c.name, func(t *testing.T) {
			v, err := NewJWTVerifier(c.cfg)
			if err != nil {
				t.Fatalf("NewJWTVerifier: %v", err)
			}
			got := v.Algorithms()
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Fatalf("algorithms = %v, want %v", got, c.want)
			}
		})
	}
}
