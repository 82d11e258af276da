// Package loadgen simulates many Osprey host agents and instrumented
// applications over the real wire protocols (OTLP gRPC and the Osprey agent
// protocol), for benchmarks, demos and the UI's scale tests. It is a client
// only: it shares nothing with the server but the wire definitions, so what
// it proves about ingest is what a real fleet would see.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/osprey-monitoring/osprey/internal/wire"
)

// Config says what to simulate and where to send it.
type Config struct {
	Server      string        // OTLP gRPC address, default localhost:4317
	Key         string        // project access key, sent as "authorization: Bearer KEY"
	Hosts       int           // simulated host agents
	Apps        int           // simulated app instances sending transactions
	TPS         float64       // total transactions/s across apps (0 = none)
	LogsPerSec  float64       // total log lines/s (0 = none)
	Interval    time.Duration // host report interval, default 5s
	Duration    time.Duration // 0 = until ctx is done
	Processes   int           // processes per simulated host, default 150
	Seed        int64         // same seed, same fleet (ids, names, shapes)
	Connections int           // gRPC connections to spread load over, default 4
	BatchSpans  int           // spans per trace export request, default 1000

	// Progress, if set, is called about every ProgressEvery (default 5s)
	// with the running totals; Main uses it for its progress line.
	Progress      func(Stats)
	ProgressEvery time.Duration
}

// Stats counts what the server acknowledged. Errors counts failed or
// partially rejected requests; the data in them is not counted elsewhere.
type Stats struct {
	MetricPoints, Snapshots, Spans, Transactions, Logs, Errors uint64
	Elapsed                                                    time.Duration
}

const (
	defaultServer = "localhost:4317"
	// flushEvery bounds how long a partly filled batch waits, so that low
	// rates still show up in the UI in real time.
	flushEvery = time.Second
	// drainGrace is how long in-flight and final batches may take after the
	// run is over; without it the last batches would be counted by the
	// server but not by us (or lost).
	drainGrace = 5 * time.Second
	// callTimeout keeps one stuck request from stalling a worker forever.
	callTimeout = 30 * time.Second
	maxBackoff  = 5 * time.Second
	minBackoff  = 100 * time.Millisecond
)

// ErrKeyRefused is returned (wrapped) when the server rejects the access key.
var ErrKeyRefused = errors.New("server refused the key")

func (c Config) withDefaults() (Config, error) {
	if c.Server == "" {
		c.Server = defaultServer
	}
	if c.Interval <= 0 {
		c.Interval = wire.DefaultReportInterval * time.Second
	}
	if c.Processes <= 0 {
		c.Processes = 150
	}
	if c.Connections <= 0 {
		c.Connections = 4
	}
	if c.BatchSpans <= 0 {
		c.BatchSpans = 1000
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = 5 * time.Second
	}
	switch {
	case c.Hosts < 0 || c.Apps < 0:
		return c, errors.New("loadgen: hosts and apps must not be negative")
	case c.TPS < 0 || c.LogsPerSec < 0:
		return c, errors.New("loadgen: rates must not be negative")
	case c.Duration < 0:
		return c, errors.New("loadgen: duration must not be negative")
	case c.TPS > 0 && c.Apps == 0:
		return c, errors.New("loadgen: a transaction rate needs at least one app")
	}
	return c, nil
}

type counters struct {
	metricPoints, snapshots, spans, transactions, logs, errors atomic.Uint64
}

func (c *counters) stats(elapsed time.Duration) Stats {
	return Stats{
		MetricPoints: c.metricPoints.Load(),
		Snapshots:    c.snapshots.Load(),
		Spans:        c.spans.Load(),
		Transactions: c.transactions.Load(),
		Logs:         c.logs.Load(),
		Errors:       c.errors.Load(),
		Elapsed:      elapsed,
	}
}

// runner is the state shared by all workers of one Run.
type runner struct {
	cfg    Config
	log    *slog.Logger
	conns  []*grpc.ClientConn
	count  counters
	start  time.Time
	stop   context.Context // generation stops when this is done
	send   context.Context // requests run on this; outlives stop by drainGrace
	fatal  func(error)
	failed atomic.Pointer[error]
	// lastWarn rate-limits error logging: at full speed a down server
	// would otherwise produce thousands of identical lines per second.
	lastWarn atomic.Int64
	// noAgentProto is set when the server answers Unimplemented to the
	// agent service.
	noAgentProto atomic.Bool
}

// Run simulates the configured fleet until ctx is done or cfg.Duration has
// passed, and returns what the server acknowledged. It returns an error
// only when it could not run or the server refused the key; other server
// errors are counted in Stats.Errors and retried after a back-off.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) (Stats, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Stats{}, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	conns := make([]*grpc.ClientConn, 0, cfg.Connections)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range cfg.Connections {
		cc, err := grpc.NewClient(cfg.Server, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return Stats{}, fmt.Errorf("loadgen: connect to %s: %w", cfg.Server, err)
		}
		conns = append(conns, cc)
	}

	stopCtx, stopCause := context.WithCancelCause(ctx)
	defer stopCause(nil)
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		stopCtx, cancel = context.WithTimeout(stopCtx, cfg.Duration)
		defer cancel()
	}
	// Requests must survive the end of generation so that the batches in
	// flight are acknowledged and counted on both sides.
	sendBase := context.WithoutCancel(ctx)
	if cfg.Key != "" {
		sendBase = metadata.AppendToOutgoingContext(sendBase, wire.HeaderAuthorization, "Bearer "+cfg.Key)
	}
	sendCtx, sendCause := context.WithCancelCause(sendBase)
	defer sendCause(nil)

	r := &runner{cfg: cfg, log: logger, conns: conns, start: time.Now(), stop: stopCtx, send: sendCtx}
	r.fatal = func(err error) {
		if r.failed.CompareAndSwap(nil, &err) {
			stopCause(err)
			sendCause(err)
		}
	}

	logger.Info("loadgen starting", "server", cfg.Server, "hosts", cfg.Hosts, "apps", cfg.Apps,
		"tps", cfg.TPS, "logs_per_sec", cfg.LogsPerSec, "interval", cfg.Interval, "connections", cfg.Connections)

	var wg sync.WaitGroup
	var fleet *fleet
	if cfg.Hosts > 0 {
		fleet = newFleet(cfg)
		for w := range cfg.Connections {
			wg.Go(func() { r.runHosts(fleet, w) })
		}
	}
	var apps *appModel
	if cfg.Apps > 0 {
		apps = newAppModel(cfg)
	}
	if cfg.TPS > 0 {
		for w := range cfg.Connections {
			wg.Go(func() { r.runTraces(apps, w) })
		}
	}
	if cfg.LogsPerSec > 0 {
		// Logs are cheap next to spans; two workers keep rate and flushes
		// smooth without competing with traces for the cores.
		lm := newLogModel(cfg, apps, fleet)
		n := min(2, cfg.Connections)
		for w := range n {
			wg.Go(func() { r.runLogs(lm, w, n) })
		}
	}
	progressDone := make(chan struct{})
	go r.progress(progressDone)

	workersDone := make(chan struct{})
	go func() { wg.Wait(); close(workersDone) }()
	select {
	case <-workersDone:
	case <-stopCtx.Done():
		select {
		case <-workersDone:
		case <-time.After(drainGrace):
			sendCause(errors.New("loadgen: drain timed out"))
			<-workersDone
		}
	}
	close(progressDone)
	stats := r.count.stats(time.Since(r.start))
	if p := r.failed.Load(); p != nil {
		return stats, *p
	}
	logger.Info("loadgen done", "elapsed", stats.Elapsed.Round(time.Millisecond), "metric_points", stats.MetricPoints,
		"snapshots", stats.Snapshots, "spans", stats.Spans, "transactions", stats.Transactions, "logs", stats.Logs, "errors", stats.Errors)
	return stats, nil
}

func (r *runner) progress(done <-chan struct{}) {
	if r.cfg.Progress == nil {
		return
	}
	t := time.NewTicker(r.cfg.ProgressEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			r.cfg.Progress(r.count.stats(time.Since(r.start)))
		}
	}
}

// call runs one request with a per-call timeout on the send context.
func (r *runner) call(fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(r.send, callTimeout)
	defer cancel()
	return fn(ctx)
}

// backoff is a per-worker exponential back-off with jitter.
type backoff struct {
	d   time.Duration
	rng *rand.Rand
}

func (b *backoff) reset() { b.d = 0 }

func (b *backoff) next() time.Duration {
	if b.d == 0 {
		b.d = minBackoff
	} else {
		b.d = min(b.d*2, maxBackoff)
	}
	return b.d/2 + time.Duration(b.rng.Int64N(int64(b.d/2)+1))
}

// failed handles a request error: a refused key ends the whole run, any
// other error is counted and followed by a back-off so that a struggling
// server is not hammered. It reports whether the worker should go on.
func (r *runner) handleErr(what string, err error, bo *backoff) bool {
	if r.send.Err() != nil {
		// Shutting down (or already failed): the error is ours, not the server's.
		return false
	}
	switch status.Code(err) {
	case codes.Unauthenticated, codes.PermissionDenied:
		r.fatal(fmt.Errorf("loadgen: %w (%s %s): %w", ErrKeyRefused, what, r.cfg.Server, err))
		return false
	}
	r.count.errors.Add(1)
	now := time.Now().UnixNano()
	if last := r.lastWarn.Load(); now-last > int64(5*time.Second) && r.lastWarn.CompareAndSwap(last, now) {
		r.log.Warn("export failed; backing off", "what", what, "err", err)
	}
	return sleepCtx(r.stop, bo.next())
}

// sleepCtx waits d or until ctx is done; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// pacer spreads a rate evenly over time. It lets a worker fall behind by
// at most one second's worth: when generation cannot keep up, the achieved
// rate shows in the stats instead of an ever-growing debt being replayed
// as a burst later.
type pacer struct {
	rate  float64
	start time.Time
	done  float64
}

// due returns how many items should be produced now, and how long to wait
// before the next one if none are due.
func (p *pacer) due(now time.Time) (int, time.Duration) {
	target := p.rate * now.Sub(p.start).Seconds()
	if target-p.done > p.rate {
		p.done = target - p.rate
	}
	n := int(target - p.done)
	if n > 0 {
		return n, 0
	}
	wait := time.Duration((p.done + 1 - target) / p.rate * float64(time.Second))
	return 0, max(wait, time.Millisecond)
}

func (p *pacer) add(n int) { p.done += float64(n) }
