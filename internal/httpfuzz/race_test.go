//go:build race

package httpfuzz

// The race detector slows the proxy and the embedded server several times
// over; `make test` runs this package with it, so its budget is smaller.
const raceBuild = true
