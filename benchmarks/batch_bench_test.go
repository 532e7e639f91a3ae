package benchmarks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/permission-mongo/permission-mongo/internal/service"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// writePolicy lets hr create in its tenant: every created document goes
// through the presets, the stamps, deny_write and the policy check.
const writePolicy = `roles: {hr: {}}
policies:
  employees:
    hr:
      actions: [create, read]
      when: "resource.tenant_id == user.tenant_id"
      fields: {deny_write: [ssn]}
    presets: {tenant_id: user.tenant_id}
`

// batchSize is the size of one batch create, the contract's default
// max_batch.
const batchSize = 1000

// importSize is the number of documents of one import operation.
const importSize = 10_000

type writeFixture struct {
	coll  *mongo.Collection
	srv   *httptest.Server
	key   string
	calls *http.Client
}

func writeSetup(b *testing.B) *writeFixture {
	b.Helper()
	_, db := testenv.Mongo(b)
	srv, key, _ := startProxy(b, db, proxyOptions{policy: writePolicy, role: "hr"})
	return &writeFixture{coll: db.Collection("employees"), srv: srv, key: key,
		calls: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}}
}

// employee is the i-th document a client sends.
func employee(i int) map[string]any {
	return map[string]any{"name": fmt.Sprintf("Employee %d", i), "email": fmt.Sprintf("e%d@example.com", i),
		"owner": fmt.Sprintf("u%d", i%50), "public": i%3 == 0, "salary": 50000 + i}
}

// employeeD is the same document as stored directly: with the tenant the
// preset would add.
func employeeD(i int) bson.D {
	return bson.D{{Key: "tenant_id", Value: "t1"}, {Key: "name", Value: fmt.Sprintf("Employee %d", i)}, {Key: "email", Value: fmt.Sprintf("e%d@example.com", i)},
		{Key: "owner", Value: fmt.Sprintf("u%d", i%50)}, {Key: "public", Value: i%3 == 0}, {Key: "salary", Value: int32(50000 + i)}}
}

// reset empties the collection between operations, off the clock, so that
// every operation writes into the same state.
func (f *writeFixture) reset(b *testing.B) {
	b.Helper()
	b.StopTimer()
	if _, err := f.coll.DeleteMany(context.Background(), bson.D{}); err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
}

func (f *writeFixture) post(b *testing.B, path, contentType string, body io.Reader) []byte {
	b.Helper()
	return call(b, f.calls, http.MethodPost, f.srv.URL+path, f.key, contentType, body, 200)
}

// BenchmarkBatchCreate1000: 1,000 documents per operation. "direct" is the
// driver's InsertMany of the documents as they would be stored (tenant
// included); "proxy" is POST /collections/employees/batch over HTTP, where
// each document is checked and written on its own (presets, stamps,
// deny_write, policy check, one insert each).
func BenchmarkBatchCreate1000(b *testing.B) {
	f := writeSetup(b)
	ctx := context.Background()
	b.Run("direct", func(b *testing.B) {
		docs := make([]any, batchSize)
		run(b, func(int) {
			f.reset(b)
			for i := range docs {
				docs[i] = employeeD(i)
			}
			if _, err := f.coll.InsertMany(ctx, docs); err != nil {
				b.Fatal(err)
			}
		})
		b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "docs/s")
	})
	b.Run("proxy", func(b *testing.B) {
		list := make([]map[string]any, batchSize)
		for i := range list {
			list[i] = employee(i)
		}
		body, err := json.Marshal(map[string]any{"documents": list})
		if err != nil {
			b.Fatal(err)
		}
		run(b, func(int) {
			f.reset(b)
			out := f.post(b, "/collections/employees/batch", "application/json", bytes.NewReader(body))
			if bytes.Contains(out, []byte(`"index"`)) {
				b.Fatalf("items failed: %.300s", out)
			}
		})
		b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "docs/s")
	})
}

// BenchmarkImport: 10,000 documents per operation. "direct" is the driver's
// unordered InsertMany in chunks of 500 (what the import does after its
// checks); "proxy" is POST /collections/employees/import with the NDJSON
// body, every document checked like a batch create.
func BenchmarkImport(b *testing.B) {
	f := writeSetup(b)
	ctx := context.Background()
	b.Run("direct", func(b *testing.B) {
		chunk := make([]any, 0, service.DefaultImportChunk)
		run(b, func(int) {
			f.reset(b)
			for i := 0; i < importSize; i++ {
				chunk = append(chunk, employeeD(i))
				if len(chunk) == cap(chunk) || i == importSize-1 {
					if _, err := f.coll.InsertMany(ctx, chunk, options.InsertMany().SetOrdered(false)); err != nil {
						b.Fatal(err)
					}
					chunk = chunk[:0]
				}
			}
		})
		b.ReportMetric(float64(b.N*importSize)/b.Elapsed().Seconds(), "docs/s")
	})
	b.Run("proxy", func(b *testing.B) {
		var body bytes.Buffer
		for i := 0; i < importSize; i++ {
			line, _ := json.Marshal(employee(i))
			body.Write(line)
			body.WriteByte('\n')
		}
		want := []byte(fmt.Sprintf(`"inserted":%d`, importSize))
		run(b, func(int) {
			f.reset(b)
			out := f.post(b, "/collections/employees/import", "application/x-ndjson", bytes.NewReader(body.Bytes()))
			if !bytes.Contains(out, want) {
				b.Fatalf("import: %.300s", out)
			}
		})
		b.ReportMetric(float64(b.N*importSize)/b.Elapsed().Seconds(), "docs/s")
	})
}
