package auth

import (
	"encoding/base64"
	"errors"
	"io"
	"strings"

	"github.com/permission-mongo/permission-mongo/internal/jsonscan"
)

// ErrDuplicateClaim is the cause when a JWT header or payload names the same
// member twice. Decoders disagree on which one wins (Go keeps the last, others
// the first or refuse), so a token signed by one system could mean another
// principal here; RFC 7519 §4 lets us refuse it, as the JSON bodies do.
var ErrDuplicateClaim = errors.New("auth: jwt has duplicate member names")

// checkJWTSegments refuses duplicate member names, at any depth, in the
// header and payload of a compact JWT whose signature already verified.
func checkJWTSegments(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("auth: jwt is not three segments") // unreachable after a successful parse
	}
	for _, seg := range parts[:2] {
		raw, err := base64.RawURLEncoding.Strict().DecodeString(seg)
		if err != nil {
			return err
		}
		if err := noDuplicateKeys(raw); err != nil {
			return err
		}
	}
	return nil
}

// noDuplicateKeys fails on the first object in data that repeats a key.
func noDuplicateKeys(data []byte) error {
	sc := jsonscan.New(data)
	for {
		_, err := sc.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var dup *jsonscan.DuplicateKeyError
		if errors.As(err, &dup) {
			return ErrDuplicateClaim
		}
		if err != nil {
			return err
		}
	}
}
