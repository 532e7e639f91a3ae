package policy

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/principal"
)

const ibanPolicy = `roles: {r: {}}
policies:
  accounts:
    r:
      actions: [read]
      fields: {mask: {iban: iban, email: email}}
`

// A registry made With an extra type serves only the loads given it: the
// built-ins (and every other registry) stay as they were.
func TestMasksWithLeavesOtherRegistriesAlone(t *testing.T) {
	iban := BuiltinMasks().With("iban", FixedMask("IBAN ****"))
	_, ok := iban.Lookup("iban")
	require.True(t, ok)
	_, ok = iban.Lookup("email")
	require.True(t, ok, "With keeps the types it started from")
	_, ok = BuiltinMasks().Lookup("iban")
	require.False(t, ok, "With must not change the registry it was called on")

	s, err := iban.Parse(map[string][]byte{"p.yml": []byte(ibanPolicy)})
	require.NoError(t, err)
	p := &principal.Principal{ID: "u", Roles: []string{"r"}}
	doc, err := bson.Marshal(bson.D{{Key: "_id", Value: 1}, {Key: "iban", Value: "DE89370400440532013000"}, {Key: "email", Value: "jane@example.com"}})
	require.NoError(t, err)
	d := s.Decide(p.Roles, p, "accounts", Read, time.Now())
	got, err := d.FieldsFor(doc).Apply(doc)
	require.NoError(t, err)
	require.Equal(t, "IBAN ****", got.Lookup("iban").StringValue())
	require.NotEqual(t, "jane@example.com", got.Lookup("email").StringValue())

	// The same policy with the plain loader does not know the type.
	_, err = Parse(map[string][]byte{"p.yml": []byte(ibanPolicy)})
	var le *LoadError
	require.True(t, errors.As(err, &le), "%v", err)
	require.Contains(t, le.Error(), `unknown mask type "iban"`)
}

// A type the registry provides is built in for the policy: masks: cannot
// redefine it, with that registry only.
func TestMasksRegistryTypesCannotBeRedefined(t *testing.T) {
	src := map[string][]byte{"p.yml": []byte(`roles: {r: {}}
masks:
  iban: {type: fixed, value: "x"}
policies:
  accounts:
    r: {actions: [read], fields: {mask: {iban: iban}}}
`)}
	_, err := BuiltinMasks().With("iban", FixedMask("IBAN ****")).Parse(src)
	require.Error(t, err)
	require.Contains(t, err.Error(), `mask "iban" is built in and cannot be redefined`)
	_, err = Parse(src)
	require.NoError(t, err, "without the extra type the policy may define its own")
}
