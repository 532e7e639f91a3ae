//go:build race

package api_test

// raceEnabled: the race detector slows the import about tenfold, so the
// large-import test streams fewer documents under it.
const raceEnabled = true
