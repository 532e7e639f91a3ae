package main

import (
	"fmt"
	"io"
	"runtime"
)

// version is set at build time:
//
//	go build -ldflags "-X main.version=1.2.3" ./cmd/pm
//
// Builds without it (go run, go test) say "dev".
var version = "dev"

func init() {
	commands["version"] = command{
		summary: "print the version of this binary",
		run:     runVersion,
	}
}

func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("pm version", "", stderr)
	if code, stop := parseNoArgs(fs, args); stop {
		return code
	}
	fmt.Fprintf(stdout, "pm %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}
