// Command tracewatch (码上哨兵) guards the medical-insurance fund with drug traceability
// codes. Each subcommand lives in its own file; `tracewatch help` lists them.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"tracewatch/internal/browser"
	"tracewatch/internal/server"
)

// env is what a subcommand may touch: its arguments and the standard streams.
type env struct {
	args   []string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// A command runs with its environment and returns the process exit status.
type command struct {
	summary string
	run     func(e env) int
}

// Exit statuses shared by the subcommands.
const (
	exitOK    = 0 // everything succeeded
	exitFail  = 1 // the command ran, and some input was refused or a check failed
	exitUsage = 2 // the command line was wrong
)

var commands = map[string]command{}

func register(name, summary string, run func(e env) int) {
	commands[name] = command{summary, run}
}

func main() {
	server.Version = version
	browser.Path = os.Getenv("TRACEWATCH_CHROMIUM")
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "tracewatch: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return c.run(env{args: args[1:], stdin: stdin, stdout: stdout, stderr: stderr})
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "tracewatch (码上哨兵): drug traceability codes against medical-insurance fraud")
	fmt.Fprintln(w, "\nUsage: tracewatch COMMAND [ARGS]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'tracewatch COMMAND -h' for a command's options. Docs: README.md and docs/.")
}

// subcommand splits "NAME rest…" for commands that have subcommands of their own.
func subcommand(e env, group string, subs map[string]func(env) int) int {
	if len(e.args) == 0 || e.args[0] == "-h" || e.args[0] == "--help" {
		names := make([]string, 0, len(subs))
		for n := range subs {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(e.stderr, "usage: tracewatch %s {%s} [ARGS]\n", group, strings.Join(names, "|"))
		return exitUsage
	}
	f, ok := subs[e.args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "tracewatch %s: unknown subcommand %q\n", group, e.args[0])
		return exitUsage
	}
	e.args = e.args[1:]
	return f(e)
}
