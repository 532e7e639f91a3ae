package main

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/permission-mongo/permission-mongo/internal/app/apptest"
)

type importServer struct {
	url, clerk, viewer string
	db                 *mongo.Database
	dir                string
}

// startImportServer starts the proxy the way `pm serve` does, on its own
// embedded database, with a clerk key (create, read on tickets) and a
// viewer key (read only).
func startImportServer(t *testing.T) *importServer {
	t.Helper()
	pol := `
version: "1"
roles: {clerk: {}, viewer: {}}
policies:
  tickets:
    clerk:
      actions: [create, read]
      when: "resource.tenant_id == user.tenant_id"
      fields: {deny_write: [priority]}
    viewer:
      actions: [read]
    presets: {tenant_id: user.tenant_id}
`
	ts := startTestServer(t, pol,
		testKey{"clerk", "u1", "t1", []string{"clerk"}},
		testKey{"viewer", "v1", "t1", []string{"viewer"}})
	return &importServer{url: ts.url, clerk: ts.keys["clerk"], viewer: ts.keys["viewer"], db: apptest.DriverDB(t, ts.app), dir: ts.dir}
}

func (s *importServer) file(t *testing.T, name, content string) string {
	t.Helper()
	return writeTestFile(t, s.dir, name, content)
}

func (s *importServer) find(t *testing.T, filter bson.D) []bson.M {
	t.Helper()
	cur, err := s.db.Collection("tickets").Find(t.Context(), filter)
	if err != nil {
		t.Fatal(err)
	}
	var out []bson.M
	if err := cur.All(t.Context(), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// importSomeFail imports file into tickets as the clerk, expects exit 1
// (some lines failed) and a summary holding every one of wants.
func (s *importServer) importSomeFail(t *testing.T, file string, wants ...string) {
	t.Helper()
	code, out, errs := pmImport(t, "--collection", "tickets", "--file", file, "--url", s.url, "--api-key", s.clerk)
	if code != exitFail {
		t.Fatalf("exit %d (want 1: lines failed)\n%s%s", code, out, errs)
	}
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Fatalf("summary lacks %q:\n%s", want, out)
		}
	}
}

func pmImport(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"import"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestImportCommandNDJSON(t *testing.T) {
	s := startImportServer(t)
	f := s.file(t, "t.ndjson", `{"_id": "n1", "title": "one"}
{"_id": "n2", "title":
{"_id": "n3", "priority": 1}

{"_id": "n4", "title": "four", "at": {"$date": "2026-01-02T03:04:05Z"}}
`)
	s.importSomeFail(t, f, "into tickets: 2 inserted, 2 failed", "line 2: BAD_REQUEST", "line 3: FORBIDDEN")
	docs := s.find(t, bson.D{{Key: "_id", Value: "n4"}})
	if len(docs) != 1 || docs[0]["tenant_id"] != "t1" {
		t.Fatalf("stored %v", docs)
	}
	if _, ok := docs[0]["at"].(bson.DateTime); !ok {
		t.Fatalf("Extended JSON date stored as %T", docs[0]["at"])
	}

	// All good, key from the environment: exit 0.
	f = s.file(t, "ok.ndjson", `{"title": "a"}`+"\n"+`{"title": "b"}`)
	t.Setenv("PM_API_KEY", s.clerk)
	code, out, errs := pmImport(t, "--collection", "tickets", "--file", f, "--url", s.url)
	if code != exitOK || !strings.Contains(out, "2 inserted, 0 failed") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
}

func TestImportCommandCSV(t *testing.T) {
	s := startImportServer(t)
	f := s.file(t, "t.csv", "\ufefftitle,count,ratio,open,zip,note\n"+
		"first,3,0.5,true,007,\"hello, world\"\n"+
		"second,-2,1e3,false,12345,\"two\nlines\"\n"+
		"third,x,,null,1.,ok\n")
	code, out, errs := pmImport(t, "--collection", "tickets", "--file", f, "--url", s.url, "--api-key", s.clerk)
	if code != exitOK || !strings.Contains(out, "3 inserted, 0 failed") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	byTitle := map[string]bson.M{}
	for _, d := range s.find(t, bson.D{}) {
		byTitle[d["title"].(string)] = d
	}
	first, second, third := byTitle["first"], byTitle["second"], byTitle["third"]
	if first["count"] != int32(3) || first["ratio"] != 0.5 || first["open"] != true || first["zip"] != "007" ||
		first["note"] != "hello, world" || first["tenant_id"] != "t1" {
		t.Fatalf("first: %v", first)
	}
	if second["count"] != int32(-2) || second["ratio"] != 1000.0 || second["open"] != false || second["zip"] != int32(12345) || second["note"] != "two\nlines" {
		t.Fatalf("second: %v", second)
	}
	if third["count"] != "x" || third["ratio"] != "" || third["open"] != "null" || third["zip"] != "1." {
		t.Fatalf("third: %v", third)
	}

	// A record with the wrong number of fields stops the conversion: the
	// records before it are imported and reported, and the exit code is 1.
	f = s.file(t, "ragged.csv", "title,n\nr1,1\nr2,2,extra\nr3,3\n")
	code, out, errs = pmImport(t, "--collection", "tickets", "--file", f, "--url", s.url, "--api-key", s.clerk)
	if code != exitFail || !strings.Contains(out, "1 inserted, 0 failed") || !strings.Contains(errs, "csv record 2") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if len(s.find(t, bson.D{{Key: "title", Value: "r3"}})) != 0 {
		t.Fatal("records after the bad one were imported")
	}
}

func TestImportCommandJSONArray(t *testing.T) {
	s := startImportServer(t)
	f := s.file(t, "t.json", `[
  {"_id": "j1",
   "title": "pretty\nprinted",
   "tags": ["a", "b"]},
  {"_id": {"$oid": "65f0c0ffee0000000000abcd"}, "title": "oid"},
  42,
  {"_id": "j1", "title": "duplicate"}
]
`)
	s.importSomeFail(t, f, "2 inserted, 2 failed", "element [2]: BAD_REQUEST", "element [3]: CONFLICT")
	oid, _ := bson.ObjectIDFromHex("65f0c0ffee0000000000abcd")
	if len(s.find(t, bson.D{{Key: "_id", Value: oid}})) != 1 {
		t.Fatal("the $oid _id was not stored as an ObjectId")
	}
	if d := s.find(t, bson.D{{Key: "_id", Value: "j1"}}); len(d) != 1 || d[0]["title"] != "pretty\nprinted" {
		t.Fatalf("j1: %v", d)
	}
	// Not an array: nothing sent, exit 1.
	f = s.file(t, "obj.json", `{"title": "x"}`)
	code, _, errs := pmImport(t, "--collection", "tickets", "--file", f, "--url", s.url, "--api-key", s.clerk)
	if code != exitFail || !strings.Contains(errs, "array of documents") {
		t.Fatalf("exit %d: %s", code, errs)
	}
}

func TestImportCommandRefusedAndUsage(t *testing.T) {
	s := startImportServer(t)
	f := s.file(t, "t.ndjson", `{"title": "x"}`+"\n")
	code, _, errs := pmImport(t, "--collection", "tickets", "--file", f, "--url", s.url, "--api-key", s.viewer)
	if code != exitFail || !strings.Contains(errs, "403 FORBIDDEN") {
		t.Fatalf("viewer: exit %d: %s", code, errs)
	}
	t.Setenv("PM_API_KEY", "")
	for _, args := range [][]string{
		{"--file", f},
		{"--collection", "tickets"},
		{"--collection", "tickets", "--file", f, "--format", "xml", "--api-key", "k"},
		{"--collection", "tickets", "--file", f},
		{"--collection", "tickets", "--file", f, "--api-key", "k", "--url", "ftp://x"},
	} {
		if code, _, errs := pmImport(t, args...); code != exitUsage {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
	}
	if code, _, _ := pmImport(t, "--collection", "tickets", "--file", filepath.Join(s.dir, "missing"), "--api-key", "k"); code != exitFail {
		t.Fatalf("missing file: exit %d", code)
	}
}

// The converters stream: they are fed one byte at a time and must still
// produce one line per document.
func TestImportConvertersStream(t *testing.T) {
	var out bytes.Buffer
	in := `[{"a": 1}, {"b": [1, {"c": "]"}]}]`
	if err := jsonArrayToNDJSON(&oneByte{strings.NewReader(in)}, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "{\"a\":1}\n{\"b\":[1,{\"c\":\"]\"}]}\n" {
		t.Fatalf("%q", out.String())
	}
	out.Reset()
	if err := jsonArrayToNDJSON(strings.NewReader(`[{"a":1}] {}`), &out); err == nil {
		t.Fatal("content after the array accepted")
	}
	out.Reset()
	if err := csvToNDJSON(&oneByte{strings.NewReader("a,a\n1,2\n")}, &out); err == nil {
		t.Fatal("repeated header name accepted")
	}
	if err := csvToNDJSON(strings.NewReader(""), &out); err != nil || out.Len() != 0 {
		t.Fatalf("empty CSV: %v %q", err, out.String())
	}
}

type oneByte struct{ r io.Reader }

func (o *oneByte) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

// The progress bar is drawn only on a terminal, as bytes sent / total.
func TestImportProgressBar(t *testing.T) {
	var b bytes.Buffer
	if isTerminal(&b) {
		t.Fatal("a buffer is not a terminal")
	}
	stop := startProgress(&b, &progressReader{r: strings.NewReader("")}, 10)
	stop()
	if b.Len() != 0 {
		t.Fatalf("drew on a non-terminal: %q", b.String())
	}
	drawProgress(&b, 5<<20, 10<<20)
	if got := b.String(); !strings.HasPrefix(got, "\r[===============               ]  50% 5.0/10.0 MiB") {
		t.Fatalf("%q", got)
	}
	b.Reset()
	drawProgress(&b, 3<<20, 0)
	if b.String() != "\r3.0 MiB sent" {
		t.Fatalf("%q", b.String())
	}
}

// A refused import of a file larger than the pipe's buffers: the server's
// 403 is reported, and not a false "could not be converted" line (the
// converter was only cut off because the server had answered). Each format
// converts through its own code.
func TestImportRefusedLargeFileNoFalseConversionError(t *testing.T) {
	s := startImportServer(t)
	var nd, csv, js strings.Builder
	csv.WriteString("title,n\n")
	js.WriteString("[")
	for i := range 40000 {
		line := `{"title": "ticket number ` + strings.Repeat("x", 40) + `", "n": 1}`
		nd.WriteString(line + "\n")
		csv.WriteString("ticket " + strings.Repeat("y", 40) + ",1\n")
		if i > 0 {
			js.WriteString(",")
		}
		js.WriteString(line)
	}
	js.WriteString("]")
	for name, content := range map[string]string{"big.ndjson": nd.String(), "big.csv": csv.String(), "big.json": js.String()} {
		f := s.file(t, name, content)
		code, _, errs := pmImport(t, "--collection", "tickets", "--file", f, "--url", s.url, "--api-key", s.viewer)
		if code != exitFail || !strings.Contains(errs, "403 FORBIDDEN") {
			t.Fatalf("%s: exit %d: %s", name, code, errs)
		}
		if strings.Contains(errs, "could not be converted") {
			t.Fatalf("%s: false conversion error after a 403:\n%s", name, errs)
		}
	}
	// A file that really cannot be converted is still reported as such.
	f := s.file(t, "bad.json", `[{"title": "ok"}, {"title": `)
	code, _, errs := pmImport(t, "--collection", "tickets", "--file", f, "--url", s.url, "--api-key", s.clerk)
	if code != exitFail || !strings.Contains(errs, "could not be converted") {
		t.Fatalf("truncated JSON: exit %d: %s", code, errs)
	}
}
