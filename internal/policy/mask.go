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

// Masks is a registry of the mask types a policy can use without defining
// them (and cannot redefine). It is a value that never changes once built:
// With returns a new registry, so two embedders, or two tests, never see
// each other's types, and nothing global is written after start-up.
type Masks struct{ byName map[string]Masker }

// builtinMasks is only read; BuiltinMasks hands it out and With copies it.
var builtinMasks = Masks{byName: map[string]Masker{
	"email":   maskEmail,
	"phone":   maskPhone,
	"partial": PartialMask(2, 2, '*'),
	"redact":  FixedMask(redacted),
}}

// BuiltinMasks is the registry Load and Parse use: email, phone, partial
// and redact.
func BuiltinMasks() Masks { return builtinMasks }

// With returns a registry holding m's types and mk as name (replacing a
// type of that name); m itself is unchanged. A program that embeds the
// proxy adds its own types this way and loads with the result:
//
//	set, err := policy.BuiltinMasks().With("iban", ibanMask).Load(dir)
func (m Masks) With(name string, mk Masker) Masks {
	byName := make(map[string]Masker, len(m.byName)+1)
	for n, f := range m.byName {
		byName[n] = f
	}
	byName[name] = mk
	return Masks{byName: byName}
}

// Lookup returns the type called name.
func (m Masks) Lookup(name string) (Masker, bool) {
	mk, ok := m.byName[name]
	return mk, ok
}

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
