package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// pm runs the CLI in-process and returns its exit code and output.
func pm(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelpListsRegisteredCommands(t *testing.T) {
	// Other files add their commands from init; one added late must be
	// listed too, since help reads the map when it runs.
	commands["zz-test"] = command{summary: "a command registered by a test", run: func([]string, io.Writer, io.Writer) int { return 7 }}
	t.Cleanup(func() { delete(commands, "zz-test") })

	code, out, _ := pm(t, "help")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "policy")
	require.Contains(t, out, "zz-test  a command registered by a test")

	code, _, _ = pm(t, "zz-test", "x")
	require.Equal(t, 7, code, "dispatch returns the command's exit code")
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "usage: pm"},
		{"unknown command", []string{"nope"}, `unknown command "nope"`},
		{"unknown policy subcommand", []string{"policy", "lint"}, `unknown subcommand "lint"`},
		{"policy without subcommand", []string{"policy"}, "pm policy check"},
		{"check without files", []string{"policy", "check"}, "name at least one"},
		{"test without folder", []string{"policy", "test"}, "exactly one policy folder"},
		{"unknown flag", []string{"policy", "check", "--frobnicate", "x"}, "flag provided but not defined"},
		{"bad -run", []string{"policy", "test", "-run", "(", "x"}, "-run"},
		{"keys without subcommand", []string{"keys"}, "usage: pm keys"},
		{"unknown keys subcommand", []string{"keys", "rotate"}, `pm keys: unknown subcommand "rotate"`},
		{"audit without subcommand", []string{"audit"}, "usage: pm audit verify"},
		{"unknown audit subcommand", []string{"audit", "fix"}, `pm audit: unknown subcommand "fix"`},
		{"stray argument", []string{"serve", "extra"}, `pm serve: unexpected argument "extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := pm(t, tc.args...)
			require.Equal(t, exitUsage, code)
			require.Contains(t, errOut, tc.want)
		})
	}
}

func TestHelpOfACommand(t *testing.T) {
	code, out, _ := pm(t, "help", "policy")
	require.Equal(t, exitOK, code)
	require.True(t, strings.Contains(out, "pm policy explain"), out)
	for _, args := range [][]string{{"keys", "help"}, {"audit", "-h"}} {
		code, out, _ := pm(t, args...)
		require.Equal(t, exitOK, code, args)
		require.Contains(t, out, "usage: pm "+args[0], args)
	}
}
