// Package jsonscan walks JSON token by token and refuses an object that
// repeats a key. Decoders disagree on which of two equal keys wins (Go keeps
// the last, others the first or refuse), so a body or token that one layer
// checks could mean something else to the next; both the request bodies
// (internal/query) and JWT segments (internal/auth) refuse them through this
// one walk.
//
// The walk uses the standard streaming tokenizer, which is iterative: deep
// nesting cannot exhaust the stack, whatever the input.
package jsonscan

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// DuplicateKeyError names the key an object repeats. Keys are compared
// after unescaping, so "sub" and "\u0073ub" are the same name, as they are
// to every decoder.
type DuplicateKeyError struct{ Key string }

func (e *DuplicateKeyError) Error() string { return fmt.Sprintf("duplicate key %q", e.Key) }

// Scanner hands out the tokens of one JSON text.
type Scanner struct {
	dec   *json.Decoder
	stack []frame
}

type frame struct {
	object    bool
	expectKey bool
	keys      map[string]struct{}
}

// New scans data. Numbers come out as json.Number: judging them is the
// caller's business, and a huge one is no reason to stop the walk.
func New(data []byte) *Scanner {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return &Scanner{dec: dec}
}

// Depth is how many objects and arrays are open after the last token.
func (s *Scanner) Depth() int { return len(s.stack) }

// Next returns the next token: the tokenizer's error (io.EOF at the end of
// the input), or a *DuplicateKeyError for a key its object already has.
func (s *Scanner) Next() (json.Token, error) {
	tok, err := s.dec.Token()
	if err != nil {
		return nil, err
	}
	// In a key position the tokenizer returns the key as a string; anything
	// else there is the object's closing '}'.
	if n := len(s.stack); n > 0 && s.stack[n-1].object && s.stack[n-1].expectKey {
		if key, ok := tok.(string); ok {
			top := &s.stack[n-1]
			if _, dup := top.keys[key]; dup {
				return nil, &DuplicateKeyError{Key: key}
			}
			top.keys[key] = struct{}{}
			top.expectKey = false
			return tok, nil
		}
	}
	if d, ok := tok.(json.Delim); ok {
		switch d {
		case '{', '[':
			s.stack = append(s.stack, frame{object: d == '{', expectKey: d == '{', keys: map[string]struct{}{}})
			return tok, nil
		case '}', ']':
			s.stack = s.stack[:len(s.stack)-1]
		}
	}
	// A value completed: the enclosing object expects a key next.
	if n := len(s.stack); n > 0 && s.stack[n-1].object {
		s.stack[n-1].expectKey = true
	}
	return tok, nil
}
