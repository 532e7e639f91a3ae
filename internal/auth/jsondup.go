package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
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

// noDuplicateKeys walks data with the streaming tokenizer (iterative, so deep
// nesting cannot exhaust the stack) and fails on the first object that
// repeats a key. Keys are compared after unescaping, so "sub" and "\u0073ub"
// are the same name, as they are to every decoder.
func noDuplicateKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // numbers are the claim mapper's business, not ours
	type frame struct {
		object    bool
		expectKey bool
		keys      map[string]struct{}
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].expectKey {
			if key, ok := tok.(string); ok {
				top := &stack[n-1]
				if _, dup := top.keys[key]; dup {
					return ErrDuplicateClaim
				}
				top.keys[key] = struct{}{}
				top.expectKey = false
				continue
			}
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				stack = append(stack, frame{object: d == '{', expectKey: d == '{', keys: map[string]struct{}{}})
				continue
			case '}', ']':
				stack = stack[:len(stack)-1]
			}
		}
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].expectKey = true
		}
	}
}
