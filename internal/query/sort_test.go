package query

import (
	"fmt"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

func sortString(d bson.D) string {
	parts := make([]string, len(d))
	for i, e := range d {
		parts[i] = fmt.Sprintf("%s:%v", e.Key, e.Value)
	}
	return strings.Join(parts, ",")
}

func TestParseSortParam(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want string
		kind apperr.Kind
		msg  string
	}{
		{"empty", ``, "_id:1", ok, ""},
		{"blank", `  `, "_id:1", ok, ""},
		{"one asc", `name`, "name:1,_id:1", ok, ""},
		{"mixed", `name,-created_at`, "name:1,created_at:-1,_id:-1", ok, ""},
		{"spaces", ` name , -created_at `, "name:1,created_at:-1,_id:-1", ok, ""},
		{"id present", `-_id`, "_id:-1", ok, ""},
		{"id in middle", `a,_id,-b`, "a:1,_id:1,b:-1", ok, ""},
		{"dotted", `address.city`, "address.city:1,_id:1", ok, ""},
		{"unicode", `名前`, "名前:1,_id:1", ok, ""},
		{"duplicate", `name,name`, "", apperr.KindInvalid, "more than once"},
		{"duplicate opposite", `name,-name`, "", apperr.KindInvalid, "more than once"},
		{"duplicate id", `_id,-_id`, "", apperr.KindInvalid, "more than once"},
		{"empty entry", `a,,b`, "", apperr.KindInvalid, "empty"},
		{"trailing comma", `a,`, "", apperr.KindInvalid, "empty"},
		{"only minus", `-`, "", apperr.KindInvalid, "empty"},
		{"double minus", `--a`, "", apperr.KindInvalid, ""},
		{"dollar", `$natural`, "", apperr.KindInvalid, "'$'"},
		{"dollar inside", `a.$b`, "", apperr.KindInvalid, "'$'"},
		{"meta", `$meta`, "", apperr.KindInvalid, "'$'"},
		{"leading dot", `.a`, "", apperr.KindInvalid, "empty"},
		{"trailing dot", `a.`, "", apperr.KindInvalid, "empty"},
		{"double dot", `a..b`, "", apperr.KindInvalid, "empty"},
		{"too many", strings.Repeat("a,", 40) + "b", "", apperr.KindInvalid, "at most"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSortParam(tc.in)
			checkErr(t, err, tc.kind, tc.msg)
			if tc.kind == ok && sortString(got) != tc.want {
				t.Fatalf("got %s, want %s", sortString(got), tc.want)
			}
		})
	}
}

func TestParseSort(t *testing.T) {
	got, err := ParseSort([]string{"name", "-created_at"})
	if err != nil || sortString(got) != "name:1,created_at:-1,_id:-1" {
		t.Fatalf("got %s, %v", sortString(got), err)
	}
	got, err = ParseSort(nil)
	if err != nil || sortString(got) != "_id:1" {
		t.Fatalf("nil spec: got %s, %v", sortString(got), err)
	}
	_, err = ParseSort([]string{"a", ""})
	checkErr(t, err, apperr.KindInvalid, "empty")
	// A "-" followed by a name with a comma cannot sneak a second key in:
	// the array form does not split.
	_, err = ParseSort([]string{"a,b"})
	if err != nil {
		t.Fatalf("comma inside a name is an ordinary character: %v", err)
	}
}

func TestParseFields(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []string
		kind apperr.Kind
		msg  string
	}{
		{"empty", ``, nil, ok, ""},
		{"list", `a,b.c`, []string{"a", "b.c"}, ok, ""},
		{"spaces", ` a , b `, []string{"a", "b"}, ok, ""},
		{"id", `_id,name`, []string{"_id", "name"}, ok, ""},
		{"siblings", `a.b,a.c`, []string{"a.b", "a.c"}, ok, ""},
		{"prefix not overlap", `ab,a`, []string{"ab", "a"}, ok, ""},
		{"duplicate", `a,a`, nil, apperr.KindInvalid, "more than once"},
		{"overlap", `a,a.b`, nil, apperr.KindInvalid, "overlap"},
		{"overlap reversed", `a.b.c,a`, nil, apperr.KindInvalid, "overlap"},
		{"dollar", `a.$`, nil, apperr.KindInvalid, "'$'"},
		{"elemMatch projection", `$elemMatch`, nil, apperr.KindInvalid, "'$'"},
		{"empty entry", `a,,b`, nil, apperr.KindInvalid, "empty"},
		{"dots", `a..b`, nil, apperr.KindInvalid, "empty"},
		{"exclusion refused", `-a`, nil, apperr.KindInvalid, "exclusions"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseFields(tc.in)
			checkErr(t, err, tc.kind, tc.msg)
			if tc.kind == ok && !equalStrings(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	got, err := ParseFieldList([]string{"x", "y.z"})
	if err != nil || !equalStrings(got, []string{"x", "y.z"}) {
		t.Fatalf("ParseFieldList: %q %v", got, err)
	}
}
