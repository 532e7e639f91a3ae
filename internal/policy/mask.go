package policy

import (
	"strings"
	"unicode"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Masker turns a readable value into its masked form. A masked value is
// always a string: a number or a sub-document is not shown in any form.
type Masker func(v bson.RawValue) string

// redacted is what any non-string value, or a string too short to show a part
// of, becomes.
const redacted = "****"

var builtinMasks = map[string]Masker{
	"email":   maskEmail,
	"phone":   maskPhone,
	"partial": PartialMask(2, 2, '*'),
	"redact":  FixedMask(redacted),
}

// RegisterMask adds a built-in mask type for every policy loaded afterwards.
// Call it from an init function of the binary that embeds the proxy.
func RegisterMask(name string, m Masker) { builtinMasks[name] = m }

// FixedMask replaces any value with s.
func FixedMask(s string) Masker { return func(bson.RawValue) string { return s } }

// PartialMask keeps the first keepStart and last keepEnd characters of a
// string and replaces the others with ch; at least half the characters are
// always hidden, so short values are not given away.
func PartialMask(keepStart, keepEnd int, ch rune) Masker {
	return func(v bson.RawValue) string {
		s, ok := v.StringValueOK()
		if !ok {
			return redacted
		}
		r := []rune(s)
		ks, ke := keepStart, keepEnd
		for ks+ke > len(r)/2 && (ks > 0 || ke > 0) {
			if ks >= ke && ks > 0 {
				ks--
			} else {
				ke--
			}
		}
		out := make([]rune, len(r))
		for i := range r {
			if i < ks || i >= len(r)-ke {
				out[i] = r[i]
			} else {
				out[i] = ch
			}
		}
		return string(out)
	}
}

// maskEmail keeps the first character of the local part and the domain:
// jane.doe@example.com -> j*******@example.com.
func maskEmail(v bson.RawValue) string {
	s, ok := v.StringValueOK()
	if !ok {
		return redacted
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 {
		return PartialMask(1, 0, '*')(v)
	}
	local := []rune(s[:at])
	return string(local[0]) + strings.Repeat("*", len(local)-1) + s[at:]
}

// maskPhone keeps the last four digits and the punctuation:
// +1 555-123-4567 -> +* ***-***-4567.
func maskPhone(v bson.RawValue) string {
	s, ok := v.StringValueOK()
	if !ok {
		return redacted
	}
	r := []rune(s)
	digits := 0
	for _, c := range r {
		if unicode.IsDigit(c) {
			digits++
		}
	}
	keep := 4
	if digits < 8 {
		keep = digits / 3
	}
	seen := 0
	for i, c := range r {
		if unicode.IsDigit(c) {
			seen++
			if seen <= digits-keep {
				r[i] = '*'
			}
		}
	}
	return string(r)
}

func maskedValue(m Masker, v bson.RawValue) bson.RawValue {
	return bson.RawValue{Type: bson.TypeString, Value: bsoncore.AppendString(nil, m(v))}
}
