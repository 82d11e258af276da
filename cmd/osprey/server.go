package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/osprey-monitoring/osprey/internal/agent"
	"github.com/osprey-monitoring/osprey/internal/server"
)

func runServer(ctx context.Context, args []string, stdout, stderr io.Writer, withAgent bool) error {
	name := "server"
	if withAgent {
		name = "up"
	}
	fs := flag.NewFlagSet("osprey "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	// The config file must be read before the flags are bound, so that flags
	// given on the command line win: --config is found by hand first and
	// registered here only so that parsing accepts it.
	fs.String("config", "", "YAML config file (flags override it)")
	cfg := server.DefaultConfig()
	if p := findFlag(args, "config"); p != "" {
		if err := cfg.LoadFile(p); err != nil {
			return err
		}
	}
	cfg.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)

	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		_ = srv.Close(context.Background())
		return err
	}
	httpAddr, grpcAddr, _ := srv.Addrs()
	b := srv.Bootstrap
	if b.FirstStart {
		fmt.Fprintln(stdout, "──────────────────────────────────────────────────────────────")
		fmt.Fprintln(stdout, " Osprey first start: these are shown once, keep them.")
		if b.AdminPassword != "" {
			fmt.Fprintf(stdout, "   UI login:            admin / %s\n", b.AdminPassword)
		}
		if b.ProjectKey != "" {
			fmt.Fprintf(stdout, "   default project key: %s\n", b.ProjectKey)
			fmt.Fprintf(stdout, "   connect an agent:    osprey-agent --server %s --key %s\n", dialable(grpcAddr), b.ProjectKey)
		}
		fmt.Fprintln(stdout, "──────────────────────────────────────────────────────────────")
	}
	fmt.Fprintf(stdout, "Osprey is up: UI and API on http://%s\n", dialable(httpAddr))

	errc := make(chan error, 1)
	if withAgent {
		key, err := localAgentKey(cfg.DataDir, b.ProjectKey)
		if err != nil {
			log.Error("local agent not started", "err", err)
		} else {
			acfg := agent.DefaultConfig()
			acfg.Server = dialable(grpcAddr)
			acfg.Key = key
			acfg.StateDir = filepath.Join(cfg.DataDir, "agent")
			if cfg.TLS.Enabled() {
				acfg.TLS.Enabled = true
				acfg.TLS.InsecureSkipVerify = true // the local server's own certificate, over loopback
			}
			go func() { errc <- agent.Run(ctx, acfg, log.With("part", "agent")) }()
		}
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Error("local agent stopped", "err", err)
		}
		<-ctx.Done()
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Close(sctx)
}

// localAgentKey returns the key the local agent uses: the one just created
// (saved for later starts) or the one saved by an earlier start.
func localAgentKey(dataDir, fresh string) (string, error) {
	path := filepath.Join(dataDir, server.LocalAgentKeyFile)
	if fresh != "" {
		if err := os.WriteFile(path, []byte(fresh+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("save local agent key: %w", err)
		}
		return fresh, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s (the default project key was created by `osprey server`; set OSPREY_PROJECT_KEY): %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// dialable turns a listen address like [::]:4317 into one a client can dial.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// findFlag returns the value of --name/-name in args without parsing the
// rest.
func findFlag(args []string, name string) string {
	for i, a := range args {
		a = strings.TrimLeft(a, "-")
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}
