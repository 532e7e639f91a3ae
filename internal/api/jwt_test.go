package api_test

import (
	"encoding/base64"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/query"
	"github.com/permission-mongo/permission-mongo/internal/service"
)

const jwtSecret = "a-test-secret-of-at-least-32-bytes!!"

// TestJWTOverHTTP: a JWT's claims become the principal the policy sees;
// bad, expired and claim-less tokens never reach the data.
func TestJWTOverHTTP(t *testing.T) {
	cfg := testConfig(t, writePolicy(t, testPolicy))
	cfg.Auth.JWT.Secret, cfg.Auth.JWT.Issuer = jwtSecret, "pm-test"
	e := startEnv(t, cfg, app.Options{NoAudit: true, Service: func(p *service.Params) { p.Limits.Filter = query.DefaultLimits }})
	e.insert("employees",
		bson.D{{Key: "_id", Value: "a"}, {Key: "tenant_id", Value: "t1"}, {Key: "owner", Value: "u1"}, {Key: "ssn", Value: "1"}, {Key: "email", Value: "ann@x.io"}},
		bson.D{{Key: "_id", Value: "b"}, {Key: "tenant_id", Value: "t2"}, {Key: "owner", Value: "u1"}, {Key: "ssn", Value: "2"}})

	sign := func(claims jwt.MapClaims, key string) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(key))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	get := func(token string) resp { return e.do("GET", "/collections/employees", "Bearer "+token, nil) }
	exp := time.Now().Add(time.Hour).Unix()

	good := get(sign(jwt.MapClaims{"sub": "u1", "tenant_id": "t1", "roles": []string{"employee"}, "exp": exp, "iss": "pm-test"}, jwtSecret))
	expect(t, good, 200, "")
	list := good.list(t)
	if len(list) != 1 || list[0].(map[string]any)["_id"] != "a" {
		t.Fatalf("the token's tenant must scope the list to document a: %s", good.Body)
	}
	if good.has("ssn") || !good.has(`a**@x.io`) {
		t.Fatalf("field rules must apply to a JWT caller: %s", good.Body)
	}

	// No tenant claim: the tenant rule fails closed, nothing is visible.
	none := get(sign(jwt.MapClaims{"sub": "u1", "roles": []string{"employee"}, "exp": exp, "iss": "pm-test"}, jwtSecret))
	expect(t, none, 200, "")
	if len(none.list(t)) != 0 {
		t.Fatalf("a token without tenant_id must see nothing: %s", none.Body)
	}

	for name, tok := range map[string]string{
		"wrong key":  sign(jwt.MapClaims{"sub": "u1", "tenant_id": "t1", "roles": []string{"employee"}, "exp": exp, "iss": "pm-test"}, "another-secret-of-at-least-32-bytes!"),
		"expired":    sign(jwt.MapClaims{"sub": "u1", "tenant_id": "t1", "roles": []string{"employee"}, "exp": time.Now().Add(-time.Hour).Unix(), "iss": "pm-test"}, jwtSecret),
		"no exp":     sign(jwt.MapClaims{"sub": "u1", "tenant_id": "t1", "roles": []string{"employee"}, "iss": "pm-test"}, jwtSecret),
		"wrong iss":  sign(jwt.MapClaims{"sub": "u1", "tenant_id": "t1", "roles": []string{"employee"}, "exp": exp, "iss": "other"}, jwtSecret),
		"roles type": sign(jwt.MapClaims{"sub": "u1", "tenant_id": "t1", "roles": 7, "exp": exp, "iss": "pm-test"}, jwtSecret),
		"garbage":    "not.a.jwt",
		// The first tenant is the caller's, the second another tenant's;
		// a last-wins decoder would let the token read tenant t2.
		"duplicate tenant claim": signRaw(t, `{"sub":"u1","tenant_id":"t1","roles":["employee"],"exp":`+strconv.FormatInt(exp, 10)+`,"iss":"pm-test","tenant_id":"t2"}`),
		"duplicate roles claim":  signRaw(t, `{"sub":"u1","tenant_id":"t1","roles":["employee"],"roles":["admin"],"exp":`+strconv.FormatInt(exp, 10)+`,"iss":"pm-test"}`),
	} {
		r := get(tok)
		if r.Status != 401 || r.code(t) != "UNAUTHENTICATED" {
			t.Fatalf("%s: want 401 UNAUTHENTICATED, got %d %s", name, r.Status, r.Body)
		}
		if r.has(tok) {
			t.Fatalf("%s: the token is echoed in the error", name)
		}
	}
}

// signRaw signs a payload written by hand, for claim sets (duplicate names)
// that no JSON encoder produces.
func signRaw(t *testing.T, payload string) string {
	t.Helper()
	unsigned := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(unsigned, []byte(jwtSecret))
	if err != nil {
		t.Fatal(err)
	}
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(sig)
}
