// Package schema holds the per-collection data rules of a policy set (the
// `schemas:` section): field types and constraints, defaults, immutable and
// computed fields, references and declared indexes. It checks documents in
// memory and never relies on the database's own validators, whose support
// differs between backends.
//
// The policy loader hands it the YAML nodes of every `schemas:` section
// (Parse), so a schema problem is reported with file:line:column like any
// other policy problem. The service calls it on every write (see
// internal/service/schema.go).
package schema

import (
	"fmt"
	"regexp"

	"github.com/expr-lang/expr/vm"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Types a field may declare.
const (
	TypeString   = "string"
	TypeNumber   = "number"
	TypeInt      = "int"
	TypeBool     = "bool"
	TypeDate     = "date"
	TypeObject   = "object"
	TypeArray    = "array"
	TypeObjectID = "objectId"
	TypeAny      = "any"
)

// Types lists the known types, in the order error messages show them.
var Types = []string{TypeString, TypeNumber, TypeInt, TypeBool, TypeDate, TypeObject, TypeArray, TypeObjectID, TypeAny}

// Formats lists the string formats a field may declare.
var Formats = []string{"email", "uri", "date-time", "date"}

// Set is the schemas of a policy set, by collection name. Immutable once
// loaded.
type Set struct {
	Collections map[string]*Collection
}

// For returns the schema of coll, nil when it has none.
func (s *Set) For(coll string) *Collection {
	if s == nil {
		return nil
	}
	return s.Collections[coll]
}

// Collection is the schema of one collection.
type Collection struct {
	Name string
	// Object is the document itself: its fields and whether others are
	// allowed.
	Object
	Indexes []Index
	Pos     Pos
}

// Object is a set of declared fields.
type Object struct {
	Fields []*Field
	// Additional is false when a field not declared is refused.
	Additional bool
}

// Field is one declared field.
type Field struct {
	Name string
	// Path is the dotted path from the document root, with "[]" for the
	// elements of an array ("tags.[]"), used in load messages.
	Path string
	// Type is one of Types; "" means any (a computed field may omit it).
	Type      string
	Required  bool
	Nullable  bool
	Immutable bool
	Enum      []bson.RawValue
	Min, Max  *float64
	// MinLength and MaxLength count characters (Unicode code points).
	MinLength, MaxLength *int
	MinItems, MaxItems   *int
	Pattern              *regexp.Regexp
	Format               string
	// Default is written on create (and PUT) when the field is absent.
	Default    any
	HasDefault bool
	// Computed is evaluated by the server on every write; clients cannot
	// write the field.
	Computed    *vm.Program
	ComputedSrc string
	Ref         *Ref
	// Items is the schema of each element of an array.
	Items *Field
	// Object holds the fields of an object.
	Object *Object
	Pos    Pos
}

// Ref names the collection, and the field in it (default _id), whose
// documents a field's value must name.
type Ref struct {
	Collection string
	Field      string
}

// Index is a declared index, created at start.
type Index struct {
	Keys   bson.D // path -> 1 or -1
	Unique bool
	Name   string
	Pos    Pos
}

// Pos is a place in a policy file.
type Pos struct {
	File      string
	Line, Col int
}

// Problem is a load error in a schemas section.
type Problem struct {
	Pos Pos
	Msg string
}

// Failure is one reason a document does not satisfy its schema; the service
// lists every failure of a document in one 422.
type Failure struct {
	Path    string `json:"path"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

func (f Failure) String() string { return fmt.Sprintf("%s: %s (%s)", f.Path, f.Message, f.Rule) }

// Rules named in failures.
const (
	RuleRequired   = "required"
	RuleType       = "type"
	RuleEnum       = "enum"
	RuleMin        = "min"
	RuleMax        = "max"
	RuleMinLength  = "min_length"
	RuleMaxLength  = "max_length"
	RuleMinItems   = "min_items"
	RuleMaxItems   = "max_items"
	RulePattern    = "pattern"
	RuleFormat     = "format"
	RuleAdditional = "additional_fields"
	RuleImmutable  = "immutable"
	RuleComputed   = "computed"
	RuleRef        = "ref"
)
