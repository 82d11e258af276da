// Command osprey-agent collects host metrics and process lists and sends
// them to an Osprey server, buffering on disk while the server is away.
//
//	osprey-agent --server osprey.example:4317 --key KEY
//	osprey-agent --config /etc/osprey-agent/osprey-agent.yaml
//
// Flags override the file; OSPREY_KEY overrides the file's key.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/osprey-monitoring/osprey/internal/agent"
)

// version is set at build time: -ldflags "-X main.version=1.2.3".
var version = agent.DefaultVersion

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "osprey-agent:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg, done, err := parseConfig(args)
	if err != nil || done {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("log level %q: %w", cfg.LogLevel, err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	// A standalone agent should stay small; the runtime otherwise lets the
	// heap double before collecting. Not set in Run: inside `osprey up` the
	// server owns the process's memory settings.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(24 << 20)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	err = agent.Run(ctx, cfg, logger)
	logger.Debug("exit", "uptime", time.Since(start).Round(time.Second))
	return err
}

// parseConfig lays the flags over the config file (and OSPREY_KEY). done
// is true when the command only printed something (--version).
func parseConfig(args []string) (cfg agent.Config, done bool, err error) {
	fs := flag.NewFlagSet("osprey-agent", flag.ContinueOnError)
	var (
		configPath  = fs.String("config", "", "YAML configuration file")
		server      = fs.String("server", "", "Osprey server OTLP gRPC address HOST:PORT (default localhost:4317)")
		key         = fs.String("key", "", "project access key (or env "+agent.EnvKey+")")
		name        = fs.String("name", "", "agent name (default: hostname)")
		group       = fs.String("group", "", `server group (default "default")`)
		stateDir    = fs.String("state-dir", "", "directory for the agent id and spool (default /var/lib/osprey-agent as root, ./data/agent otherwise)")
		interval    = fs.Duration("interval", 0, "collection interval (default 5s)")
		tlsOn       = fs.Bool("tls", false, "connect with TLS")
		caFile      = fs.String("tls-ca-file", "", "PEM CA bundle to trust for the server certificate")
		insecureTLS = fs.Bool("tls-insecure-skip-verify", false, "do not verify the server certificate")
		spoolMax    = fs.String("spool-max-bytes", "", "disk spool bound, e.g. 256MiB")
		logLevel    = fs.String("log-level", "", "debug, info, warn or error")
		showVersion = fs.Bool("version", false, "print the version and exit")
	)
	if err := fs.Parse(args); err != nil {
		return cfg, false, err
	}
	if *showVersion {
		fmt.Println(version)
		return cfg, true, nil
	}
	cfg, err = agent.LoadConfig(*configPath)
	if err != nil {
		return cfg, false, err
	}
	cfg.Version = version
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["server"] {
		cfg.Server = *server
	}
	if set["key"] {
		cfg.Key = *key
	}
	if set["name"] {
		cfg.Name = *name
	}
	if set["group"] {
		cfg.Group = *group
	}
	if set["state-dir"] {
		cfg.StateDir = *stateDir
	}
	if set["interval"] {
		cfg.Interval = *interval
	}
	if set["tls"] {
		cfg.TLS.Enabled = *tlsOn
	}
	if set["tls-ca-file"] {
		cfg.TLS.CAFile = *caFile
		cfg.TLS.Enabled = true
	}
	if set["tls-insecure-skip-verify"] {
		cfg.TLS.InsecureSkipVerify = *insecureTLS
	}
	if set["spool-max-bytes"] {
		n, err := agent.ParseByteSize(*spoolMax)
		if err != nil {
			return cfg, false, fmt.Errorf("--spool-max-bytes: %w", err)
		}
		cfg.Spool.MaxBytes = agent.ByteSize(n)
	}
	if set["log-level"] {
		cfg.LogLevel = *logLevel
	}

	return cfg, false, nil
}
