package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"
)

var keyShape = regexp.MustCompile(`^pm_[0-9a-f]{16}_[a-z2-7]{52}$`)

func TestGenerateKey(t *testing.T) {
	seen := map[string]bool{}
	// distinct[i] collects the values seen at byte i of the decoded secret:
	// a secret padded with constant or low-entropy bytes shows up here.
	var distinct [32]map[byte]bool
	for i := range distinct {
		distinct[i] = map[byte]bool{}
	}
	for i := 0; i < 200; i++ {
		id, full, hash := GenerateKey()
		if !keyShape.MatchString(full) {
			t.Fatalf("generated key %q has the wrong shape", full)
		}
		gotID, secret, err := ParseKey(full)
		if err != nil {
			t.Fatalf("ParseKey(GenerateKey()) = %v", err)
		}
		if gotID != id {
			t.Fatalf("id = %q, want %q", gotID, id)
		}
		if !SecretMatches(secret, hash) || HashSecret(secret) != hash {
			t.Fatal("generated hash does not match the generated secret")
		}
		if strings.Contains(hash, secret) {
			t.Fatal("hash contains the secret")
		}
		// 256 bits: the encoded secret decodes to 32 bytes.
		raw, err := secretEncoding.DecodeString(secret)
		if err != nil || len(raw) != 32 {
			t.Fatalf("secret decodes to %d bytes (%v), want 32", len(raw), err)
		}
		for j, c := range raw {
			distinct[j][c] = true
		}
		if seen[id] || seen[secret] {
			t.Fatal("GenerateKey repeated an id or secret")
		}
		seen[id], seen[secret] = true, true
	}
	for j, d := range distinct {
		// 200 uniform draws from 256 values give ~140 distinct; 50 is a
		// bound random data essentially never misses.
		if len(d) < 50 {
			t.Fatalf("secret byte %d took only %d distinct values in 200 keys", j, len(d))
		}
	}
}

func TestHashSecretIsSHA256Hex(t *testing.T) {
	sum := sha256.Sum256([]byte("abc"))
	if got, want := HashSecret("abc"), hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("HashSecret = %q, want %q", got, want)
	}
}

func TestParseKeyRejectsMalformed(t *testing.T) {
	_, full, _ := GenerateKey()
	id, secret, _ := ParseKey(full)
	cases := map[string]string{
		"empty":                    "",
		"prefix only":              "pm_",
		"no secret separator":      "pm_" + id + secret,
		"empty id":                 "pm__" + secret,
		"empty secret":             "pm_" + id + "_",
		"wrong prefix":             "pk_" + id + "_" + secret,
		"uppercase prefix":         "PM_" + id + "_" + secret,
		"uppercase id":             "pm_" + strings.ToUpper(id) + "_" + secret,
		"id too short":             "pm_" + id[1:] + "_" + secret,
		"id too long":              "pm_" + id + "0_" + secret,
		"id not hex":               "pm_" + "g" + id[1:] + "_" + secret,
		"secret too short":         "pm_" + id + "_" + secret[1:],
		"secret too long":          "pm_" + id + "_" + strings.Repeat("a", 129),
		"secret uppercase":         "pm_" + id + "_" + strings.ToUpper(secret),
		"secret has underscore":    "pm_" + id + "_" + secret[:20] + "_" + secret[20:],
		"secret has dash":          "pm_" + id + "_" + secret + "-",
		"secret padded":            "pm_" + id + "_" + secret + "====",
		"secret has 0/1/8/9":       "pm_" + id + "_" + secret[:51] + "1",
		"trailing space":           full + " ",
		"leading space":            " " + full,
		"trailing newline":         full + "\n",
		"nul byte":                 full[:30] + "\x00" + full[31:],
		"unicode lookalike":        "pm_" + id + "_" + secret[:51] + "а", // Cyrillic a
		"double prefix":            "pm_pm_" + id + "_" + secret,
		"extra segment":            full + "_" + secret,
		"separator only":           "pm_" + "_",
		"id and secret swapped":    "pm_" + secret + "_" + id,
		"jwt-looking":              "eyJhbGciOiJIUzI1NiJ9.e30.sig",
		"bearer prefix in api key": "Bearer " + full,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			gotID, gotSecret, err := ParseKey(in)
			if !errors.Is(err, ErrMalformedKey) {
				t.Fatalf("ParseKey accepted %q (id=%q secret=%q, err=%v)", in, gotID, gotSecret, err)
			}
			if gotID != "" || gotSecret != "" {
				t.Fatal("ParseKey returned parts together with an error")
			}
			if in != "" && strings.Contains(err.Error(), in) {
				t.Fatal("error echoes the input")
			}
		})
	}
}

func TestSecretMatches(t *testing.T) {
	_, full, hash := GenerateKey()
	_, secret, _ := ParseKey(full)
	_, other, _ := GenerateKey()
	_, otherSecret, _ := ParseKey(other)
	cases := []struct {
		name   string
		secret string
		stored string
		want   bool
	}{
		{"correct", secret, hash, true},
		{"stored hash uppercase", secret, strings.ToUpper(hash), true},
		{"other secret", otherSecret, hash, false},
		{"secret with one char changed", secret[:len(secret)-1] + flip(secret[len(secret)-1]), hash, false},
		{"empty secret", "", hash, false},
		{"stored hash empty", secret, "", false},
		{"stored hash truncated", secret, hash[:62], false},
		{"stored hash differs in last byte", secret, hash[:63] + flip(hash[63]), false},
		{"stored hash differs in first byte", secret, flip(hash[0]) + hash[1:], false},
		{"stored hash not hex", secret, strings.Repeat("z", 64), false},
		{"stored hash is the plain secret", secret, secret, false},
		{"empty against hash of empty", "", HashSecret(""), true}, // documents: matching is purely by hash
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := SecretMatches(c.secret, c.stored); got != c.want {
				t.Fatalf("SecretMatches = %v, want %v", got, c.want)
			}
		})
	}
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}
