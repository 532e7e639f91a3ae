// Package httpfuzz holds the seeded, bounded, property-based HTTP test of
// the proxy (generator_test.go). It has no code of its own: the test stands
// up two real proxies over two real databases holding twin documents that
// differ only in what the caller cannot see, sends both the same generated
// requests, and checks what no answer may ever do (see the test's comment).
//
// Run it long with `make fuzz-http` (PM_FUZZ_HTTP_CASES, PM_FUZZ_HTTP_SEED,
// PM_FUZZ_HTTP_KNOWN); `go test` runs a small budget.
package httpfuzz
