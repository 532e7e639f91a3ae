package benchmarks

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The floor is the least any HTTP proxy in front of MongoDB does per
// request: read an HTTP request, compare a key, run one query through the
// driver (a GET by {_id}, the tenant checked on the document; a list with
// the tenant's filter), write the result as JSON. No policy
// engine, field rules, audit, metrics, logging or cursors. Measured as a
// process of its own beside `pm serve`, its CPU per request is the part of
// the proxy's that no cut inside the proxy can remove; what is left above it
// is the proxy's own.

// envFloorRole, set to "uri database key", makes the test binary serve the
// floor instead of running tests.
const envFloorRole = "PM_BENCH_FLOOR"

// serveFloor is the whole life of the floor process: connect, listen, print
// the address on stdout, serve until stdin is closed.
func serveFloor(spec string) int {
	parts := strings.Fields(spec)
	if len(parts) != 3 {
		fmt.Fprintln(os.Stderr, "floor: want \"uri database key\"")
		return 1
	}
	client, err := mongo.Connect(options.Client().ApplyURI(parts[0]))
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		return 1
	}
	coll := client.Database(parts[1]).Collection("employees")
	key := []byte(parts[2])
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		return 1
	}
	mux := http.NewServeMux()
	authorized := func(w http.ResponseWriter, r *http.Request) bool {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-API-Key")), key) != 1 {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return false
		}
		return true
	}
	mux.HandleFunc("GET /collections/employees/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !authorized(w, r) {
			return
		}
		id, err := bson.ObjectIDFromHex(r.PathValue("id"))
		if err != nil {
			http.Error(w, `{"error":"bad id"}`, http.StatusBadRequest)
			return
		}
		// By {_id} alone, the tenant checked here: the one query shape every
		// server answers through its index (FerretDB v1 pushes down no other).
		raw, err := coll.FindOne(r.Context(), bson.D{{Key: "_id", Value: id}},
			options.FindOne().SetProjection(bson.D{{Key: "ssn", Value: 0}})).Raw()
		if err == nil {
			if tenant, ok := raw.Lookup("tenant_id").StringValueOK(); !ok || tenant != "t1" {
				err = mongo.ErrNoDocuments
			}
		}
		if errors.Is(err, mongo.ErrNoDocuments) {
			http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, `{"error":"database"}`, http.StatusBadGateway)
			return
		}
		js, err := bson.MarshalExtJSON(raw, false, false)
		if err != nil {
			http.Error(w, `{"error":"encode"}`, http.StatusInternalServerError)
			return
		}
		writeJSON(w, [][]byte{[]byte(`{"data":`), js, []byte("}")})
	})
	mux.HandleFunc("GET /collections/employees", func(w http.ResponseWriter, r *http.Request) {
		if !authorized(w, r) {
			return
		}
		filter := bson.D{{Key: "tenant_id", Value: "t1"}}
		if after := r.URL.Query().Get("after"); after != "" {
			id, err := bson.ObjectIDFromHex(after)
			if err != nil {
				http.Error(w, `{"error":"bad after"}`, http.StatusBadRequest)
				return
			}
			filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: id}}})
		}
		cur, err := coll.Find(r.Context(), filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).
			SetLimit(20).SetProjection(bson.D{{Key: "ssn", Value: 0}}))
		if err != nil {
			http.Error(w, `{"error":"database"}`, http.StatusBadGateway)
			return
		}
		defer cur.Close(r.Context())
		parts := [][]byte{[]byte(`{"data":[`)}
		for cur.Next(r.Context()) {
			js, err := bson.MarshalExtJSON(cur.Current, false, false)
			if err != nil {
				http.Error(w, `{"error":"encode"}`, http.StatusInternalServerError)
				return
			}
			if len(parts) > 1 {
				parts = append(parts, []byte(","))
			}
			parts = append(parts, js)
		}
		if cur.Err() != nil {
			http.Error(w, `{"error":"database"}`, http.StatusBadGateway)
			return
		}
		writeJSON(w, append(parts, []byte("]}")))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("addr %s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.Close()
	_ = client.Disconnect(context.Background())
	return 0
}

func writeJSON(w http.ResponseWriter, parts [][]byte) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(n))
	for _, p := range parts {
		_, _ = w.Write(p)
	}
}

// startFloor starts the floor process on database of uri, answering to key,
// and returns it with its base URL.
func startFloor(b *testing.B, uri, database, key string) (*process, string) {
	b.Helper()
	p, addr := startChild(b, "floor", envFloorRole+"="+uri+" "+database+" "+key, "addr ")
	return p, "http://" + addr
}
