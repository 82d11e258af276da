package loadgen

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"
)

// Main is `osprey loadgen`: it parses args (without the subcommand name),
// runs, prints a progress line every 5 s and a summary at the end.
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stdout)
	cfg := Config{}
	fs.StringVar(&cfg.Server, "server", defaultServer, "Osprey OTLP gRPC address (host:port)")
	fs.StringVar(&cfg.Key, "key", os.Getenv("OSPREY_KEY"), "project access key (default $OSPREY_KEY)")
	fs.IntVar(&cfg.Hosts, "hosts", 10, "simulated host agents")
	fs.IntVar(&cfg.Apps, "apps", 6, "simulated app instances")
	fs.Float64Var(&cfg.TPS, "tps", 50, "total transactions per second across apps (0 = none)")
	fs.Float64Var(&cfg.LogsPerSec, "logs", 20, "total log lines per second (0 = none)")
	fs.DurationVar(&cfg.Interval, "interval", 5*time.Second, "host report interval")
	fs.DurationVar(&cfg.Duration, "duration", 0, "how long to run (0 = until interrupted)")
	fs.IntVar(&cfg.Processes, "processes", 150, "processes per simulated host")
	fs.Int64Var(&cfg.Seed, "seed", 1, "random seed; the same seed gives the same fleet")
	fs.IntVar(&cfg.Connections, "connections", 4, "gRPC connections to spread load over")
	fs.IntVar(&cfg.BatchSpans, "batch", 1000, "spans per trace export request")
	verbose := fs.Bool("v", false, "log debug detail")
	fs.Usage = func() {
		fmt.Fprintln(stdout, "usage: osprey loadgen [flags]\n\nSimulates host agents, instrumented apps and log sources against an Osprey server.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("loadgen: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("loadgen: unexpected arguments %q", fs.Args())
	}

	// Progress lines and log lines share stdout; one lock keeps them whole.
	out := &lockedWriter{w: stdout}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level}))

	var prev Stats
	cfg.Progress = func(s Stats) {
		dt := (s.Elapsed - prev.Elapsed).Seconds()
		if dt <= 0 {
			return
		}
		fmt.Fprintf(out, "%6s  points %s/s  snapshots %s/s  tx %s/s  spans %s/s  logs %s/s  errors %d\n",
			s.Elapsed.Round(time.Second),
			human(float64(s.MetricPoints-prev.MetricPoints)/dt), human(float64(s.Snapshots-prev.Snapshots)/dt),
			human(float64(s.Transactions-prev.Transactions)/dt), human(float64(s.Spans-prev.Spans)/dt),
			human(float64(s.Logs-prev.Logs)/dt), s.Errors)
		prev = s
	}
	fmt.Fprintf(out, "loadgen → %s: %d hosts (%d processes each, every %s), %d apps at %g tx/s, %g logs/s\n",
		cfg.Server, cfg.Hosts, cfg.Processes, cfg.Interval, cfg.Apps, cfg.TPS, cfg.LogsPerSec)
	s, err := Run(ctx, cfg, logger)
	sec := s.Elapsed.Seconds()
	if sec <= 0 {
		sec = 1
	}
	fmt.Fprintf(out, "summary after %s: %d metric points (%s/s), %d snapshots, %d transactions (%s/s), %d spans (%s/s), %d logs (%s/s), %d errors\n",
		s.Elapsed.Round(time.Millisecond), s.MetricPoints, human(float64(s.MetricPoints)/sec), s.Snapshots,
		s.Transactions, human(float64(s.Transactions)/sec), s.Spans, human(float64(s.Spans)/sec),
		s.Logs, human(float64(s.Logs)/sec), s.Errors)
	return err
}

// human formats a rate compactly (950, 12.3k, 1.25M).
func human(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case v >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
