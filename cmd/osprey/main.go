// Command osprey is the Osprey collection server and its admin CLI.
//
//	osprey server   run the server
//	osprey up       run the server and a local agent (one-command start)
//	osprey project  create | list | rotate-key
//	osprey user     add | list | passwd | token
//	osprey loadgen  simulate agents and apps against a server
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `osprey: the Osprey monitoring server

usage:
  osprey server  [flags]          run the collection server
  osprey up      [flags]          run the server and a local agent monitoring this host
  osprey project create NAME | list | rotate-key NAME
  osprey user    add NAME [--admin] [--project P --role R] | list | passwd NAME | token NAME
  osprey loadgen [flags]          simulate agents and apps (see osprey loadgen -h)
  osprey version

Run "osprey COMMAND -h" for a command's flags.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "osprey:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "server":
		return runServer(ctx, args[1:], stdout, stderr, false)
	case "up":
		return runServer(ctx, args[1:], stdout, stderr, true)
	case "project":
		return runProject(ctx, args[1:], stdout)
	case "user":
		return runUser(ctx, args[1:], stdout)
	case "loadgen":
		return runLoadgen(ctx, args[1:], stdout)
	case "version":
		fmt.Fprintln(stdout, "osprey", version)
		return nil
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
