//go:build race

package when

// The race detector slows the embedded server about tenfold; the race run
// uses a smaller differential data set, and `make test` runs the full one
// without it.
const raceEnabled = true
