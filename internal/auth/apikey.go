package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"strings"
)

// KeyPrefix starts every API key. It lets a bearer credential be routed to the
// API-key path without trying to parse it as a JWT (a JWT always starts with
// "ey", the base64url of `{"`), and makes leaked keys easy to spot by secret
// scanners.
const KeyPrefix = "pm_"

const (
	// KeyIDLen is the length of a key id: 8 random bytes in lowercase hex.
	// Ids are not secret (audit records carry them); 64 bits only has to
	// make collisions between independently generated keys negligible.
	KeyIDLen = 16

	// secretBytes is the entropy of a generated secret: 256 bits, so that a
	// single unsalted SHA-256 is a sufficient way to store it (see HashSecret).
	secretBytes = 32
	// minSecretLen is the encoded length of secretBytes in unpadded base32.
	minSecretLen = (secretBytes*8 + 4) / 5
	// maxSecretLen bounds what ParseKey accepts, so longer secrets can be
	// introduced later without letting arbitrary blobs through.
	maxSecretLen = 128
)

// secretEncoding is lowercase, unpadded RFC 4648 base32. Its alphabet has no
// '_', so "pm_<id>_<secret>" splits unambiguously; base64url would not.
var secretEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ErrMalformedKey is the cause when a string is not syntactically an API key.
var ErrMalformedKey = errors.New("auth: malformed api key")

// GenerateKey returns a new API key: its id, the full key to hand to the
// client exactly once, and the hash of its secret to store (KeyRecord.SecretSHA256).
//
// crypto/rand.Read never fails since Go 1.24 (it aborts the program
// instead), which is why there is no error result.
func GenerateKey() (id, fullKey string, secretHash string) {
	var idb [KeyIDLen / 2]byte
	var sec [secretBytes]byte
	_, _ = rand.Read(idb[:])
	_, _ = rand.Read(sec[:])
	id = hex.EncodeToString(idb[:])
	secret := secretEncoding.EncodeToString(sec[:])
	return id, KeyPrefix + id + "_" + secret, HashSecret(secret)
}

// ParseKey splits a full API key into its id and secret. It is strict about
// the alphabet and lengths so that anything odd is refused before a store is
// queried. The error never contains s.
func ParseKey(s string) (id, secret string, err error) {
	rest, ok := strings.CutPrefix(s, KeyPrefix)
	if !ok {
		return "", "", ErrMalformedKey
	}
	id, secret, ok = strings.Cut(rest, "_")
	if !ok || !ValidKeyID(id) || !validSecret(secret) {
		return "", "", ErrMalformedKey
	}
	return id, secret, nil
}

// ValidKeyID reports whether id has the shape of a key id (16 lowercase hex
// characters). Stores can use it to refuse lookups of garbage ids.
func ValidKeyID(id string) bool {
	return len(id) == KeyIDLen && onlyBytes(id, isLowerHex)
}

func validSecret(s string) bool {
	return len(s) >= minSecretLen && len(s) <= maxSecretLen && onlyBytes(s, isLowerBase32)
}

// onlyBytes reports whether every byte of s is allowed. Key ids and secrets
// are checked byte by byte against a fixed ASCII alphabet, so that no
// Unicode spelling of a character can pass for it.
func onlyBytes(s string, allowed func(c byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !allowed(s[i]) {
			return false
		}
	}
	return true
}

func isLowerHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }

func isLowerBase32(c byte) bool { return 'a' <= c && c <= 'z' || '2' <= c && c <= '7' }

// HashSecret returns the lowercase hex SHA-256 of the secret's encoded form.
//
// A fast, unsalted hash is deliberate: password hashes (bcrypt, argon2) exist
// to slow down guessing of low-entropy human secrets. API-key secrets are 256
// bits from crypto/rand, so there is nothing to guess and no dictionary to
// precompute; a slow hash would only add latency to every request.
//
// The encoded string is hashed, not the decoded bytes, so that two different
// spellings of the same bytes (non-canonical base32 tail bits) can never both
// be accepted.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// SecretMatches reports whether secret hashes to secretSHA256 (hex, either
// case). The digests are compared in constant time so response timing does
// not reveal how much of a guessed hash matched. A malformed stored hash
// never matches.
func SecretMatches(secret, secretSHA256 string) bool {
	want, err := hex.DecodeString(secretSHA256)
	if err != nil || len(want) != sha256.Size {
		return false
	}
	got := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(got[:], want) == 1
}
