// Command pm is the permission-mongo binary: the proxy server and the tools
// that check, explain and test policies before they are deployed.
//
// Each subcommand lives in its own file and adds itself to commands from an
// init function, so main.go never changes when a subcommand is added:
//
//	func init() {
//		commands["serve"] = command{
//			summary: "run the proxy",
//			run:     runServe,
//		}
//	}
//
// A subcommand returns its exit code instead of calling os.Exit, which lets
// tests run it in-process through run and inspect what it printed.
//
// Exit codes: 0 success, 1 the thing checked is wrong (bad policy, failing
// case, server error), 2 the command line is wrong.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one `pm` subcommand.
type command struct {
	// summary is the one line `pm help` shows.
	summary string
	// run receives the arguments after the subcommand name and returns the
	// process exit code.
	run func(args []string, stdout, stderr io.Writer) int
}

// commands is every subcommand by name, filled by init functions. Package
// variables are initialised before any init function runs, so each file's
// init may add to it regardless of file order.
var commands = map[string]command{}

// Exit codes shared by every subcommand.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches args (without the program name) to a subcommand.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			// `pm help policy` is `pm policy -h`: each command owns its usage.
			if c, ok := commands[args[1]]; ok {
				c.run([]string{"-h"}, stdout, stderr)
				return exitOK
			}
			fmt.Fprintf(stderr, "pm: unknown command %q\n", args[1])
			usage(stderr)
			return exitUsage
		}
		usage(stdout)
		return exitOK
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "pm: unknown command %q\n", name)
		usage(stderr)
		return exitUsage
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	names := make([]string, 0, len(commands))
	width := 0
	for n := range commands {
		names = append(names, n)
		width = max(width, len(n))
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: pm <command> [arguments]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s  %s\n", width, n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "pm help <command>" for a command's arguments.`)
}
