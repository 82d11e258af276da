// Package metric is Osprey's embedded metric store: a Prometheus TSDB in the
// data directory, queried with the Prometheus PromQL engine.
//
// Tenancy: every series carries the label osprey_project="<id>", set by this
// package on the way in (never taken from the payload) and enforced on the way
// out by Queryable, which adds the matcher to every selection and hides the
// label from results.
package metric

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	prw "github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/compression"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// ProjectLabel is the tenancy label stamped on every series.
const ProjectLabel = "osprey_project"

const (
	defaultRetention       = 15 * 24 * time.Hour
	defaultMaxFutureSkew   = 10 * time.Minute
	defaultOOOWindow       = 10 * time.Minute
	defaultQueryTimeout    = 30 * time.Second
	defaultQueryMaxSamples = 50_000_000
	defaultLookbackDelta   = 5 * time.Minute
)

// promotedResourceAttributes become labels on every series of a resource, so
// that dashboards can filter by agent, host, service and Kubernetes object
// without joining against target_info.
var promotedResourceAttributes = []string{
	"osprey.agent.id",
	"osprey.agent.name",
	"osprey.agent.group",
	"osprey.agent.kind",
	"host.name",
	"service.name",
	"service.namespace",
	"service.instance.id",
	"k8s.namespace.name",
	"k8s.pod.name",
	"k8s.deployment.name",
	"k8s.node.name",
}

// Options configures Open. Zero values take the documented defaults.
type Options struct {
	Dir           string        // e.g. <data-dir>/metrics
	Retention     time.Duration // default 15 days when zero
	MaxFutureSkew time.Duration // samples with T > now+skew are rejected (counted); default 10m
	Logger        *slog.Logger

	// OutOfOrderWindow is how far behind a series' newest sample a sample
	// may still be accepted, so that an agent replaying its disk spool after
	// a server restart is not refused. Default 10m.
	OutOfOrderWindow time.Duration
	// Query budget of the store's engine (Engine()). Defaults: 30s, 50e6
	// samples in memory at once, 5m lookback.
	QueryTimeout    time.Duration
	QueryMaxSamples int
	LookbackDelta   time.Duration

	// noFastPath sends every OTLP point through the translator; the
	// equivalence test compares the two paths.
	noFastPath bool
}

func (o Options) withDefaults() Options {
	if o.Retention <= 0 {
		o.Retention = defaultRetention
	}
	if o.MaxFutureSkew <= 0 {
		o.MaxFutureSkew = defaultMaxFutureSkew
	}
	if o.OutOfOrderWindow <= 0 {
		o.OutOfOrderWindow = defaultOOOWindow
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = defaultQueryTimeout
	}
	if o.QueryMaxSamples <= 0 {
		o.QueryMaxSamples = defaultQueryMaxSamples
	}
	if o.LookbackDelta <= 0 {
		o.LookbackDelta = defaultLookbackDelta
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Store is the embedded metric store. All methods are safe for concurrent use.
type Store struct {
	opts     Options
	log      *slog.Logger
	db       *tsdb.DB
	engine   *promql.Engine
	reg      *prometheus.Registry
	otlpSet  prw.Settings
	convPool sync.Pool
	cache    seriesCache
	fast     *fastCache // nil: every OTLP point takes the translator
	now      func() time.Time

	appended atomic.Uint64
	rejected atomic.Uint64
}

// Open opens (or creates) the TSDB in opts.Dir and replays its WAL.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("metric store: Options.Dir is empty")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("metric store: open: %w", err)
	}
	opts = opts.withDefaults()
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("metric store: create dir %s: %w", opts.Dir, err)
	}

	// A private registry: the TSDB and engine register their own metrics, and
	// a global registry would make a second Open in one process (tests,
	// restarts) fail with duplicate registrations.
	reg := prometheus.NewRegistry()

	to := tsdb.DefaultOptions()
	to.RetentionDuration = opts.Retention.Milliseconds()
	to.OutOfOrderTimeWindow = opts.OutOfOrderWindow.Milliseconds()
	// Snappy roughly halves the WAL for little CPU; the WAL is what a crash
	// replays and what sits on disk for the newest ~2-3h.
	to.WALCompression = compression.Snappy
	// Exemplars are not queried by Osprey; their ring buffer would be memory
	// for nothing on a small machine.
	to.EnableExemplarStorage = false
	to.MaxExemplars = 0
	// Writing a chunk snapshot on Close makes the next start skip most of the
	// WAL replay, which matters after an ordinary SIGTERM restart.
	to.EnableMemorySnapshotOnShutdown = true
	// A smaller stripe than the default 16k keeps the head's fixed overhead
	// down; lock contention is not an issue on two cores.
	to.StripeSize = 4096

	db, err := tsdb.Open(opts.Dir, opts.Logger.With("component", "tsdb"), reg, to, nil)
	if err != nil {
		return nil, fmt.Errorf("metric store: open tsdb in %s: %w", opts.Dir, err)
	}

	s := &Store{
		opts: opts,
		log:  opts.Logger,
		db:   db,
		reg:  reg,
		now:  time.Now,
		engine: NewEngine(EngineOptions{
			Logger:        opts.Logger,
			Registerer:    reg,
			Timeout:       opts.QueryTimeout,
			MaxSamples:    opts.QueryMaxSamples,
			LookbackDelta: opts.LookbackDelta,
		}),
		otlpSet: prw.Settings{
			AddMetricSuffixes: true,
			PromoteResourceAttributes: prw.NewPromoteResourceAttributes(config.OTLPConfig{
				PromoteResourceAttributes: promotedResourceAttributes,
			}),
			// Deltas are stored as they come (as Prometheus' native delta
			// support does); PromQL sum_over_time/increase-style queries
			// are the user's to choose.
			AllowDeltaTemporality: true,
			LookbackDelta:         opts.LookbackDelta,
		},
	}
	s.convPool.New = func() any { return prw.NewPrometheusConverter(nil) }
	if !opts.noFastPath {
		s.fast = newFastCache()
	}
	return s, nil
}

// EngineOptions configures NewEngine.
type EngineOptions struct {
	Logger        *slog.Logger
	Registerer    prometheus.Registerer
	Timeout       time.Duration
	MaxSamples    int
	LookbackDelta time.Duration
}

// NewEngine builds a PromQL engine with Osprey's settings. Exposed so that an
// API with a different budget than the store's default can build one engine
// once, instead of per request.
func NewEngine(o EngineOptions) *promql.Engine {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return promql.NewEngine(promql.EngineOpts{
		Logger:               o.Logger.With("component", "promql"),
		Reg:                  o.Registerer,
		MaxSamples:           o.MaxSamples,
		Timeout:              o.Timeout,
		LookbackDelta:        o.LookbackDelta,
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
	})
}

// Close stops compaction, writes the head snapshot and closes the WAL. Call it
// before the process exits: data committed before Close is in the WAL either
// way, but a clean Close makes the next start fast.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("metric store: close tsdb: %w", err)
	}
	return nil
}

// Engine returns the store's PromQL engine (one per store).
func (s *Store) Engine() *promql.Engine { return s.engine }

// Options returns the effective options (defaults filled in).
func (s *Store) Options() Options { return s.opts }

// Registry holds the TSDB's and engine's own metrics (prometheus_tsdb_*,
// prometheus_engine_*), for the server's self-monitoring.
func (s *Store) Registry() *prometheus.Registry { return s.reg }

// AppendResult reports what one append call did.
type AppendResult struct {
	Accepted, Rejected int
	// RejectReason is the first rejection reason in words with its count,
	// e.g. "3 samples too far in the future". Empty when nothing was rejected.
	RejectReason string
}

// AppendOTLP converts OTLP metrics with Prometheus' own translator and appends
// them for project. Samples the TSDB refuses (too old, future, conflicting
// duplicate, invalid) are counted in Rejected and do not fail the batch; an
// error means nothing of the batch was stored.
func (s *Store) AppendOTLP(ctx context.Context, project int64, md pmetric.Metrics) (AppendResult, error) {
	if s.fast != nil {
		return s.appendOTLPFast(ctx, project, md)
	}
	app := s.newAppender(ctx, project)
	if err := s.translate(ctx, app, md); err != nil {
		return AppendResult{}, err
	}
	return app.commit()
}

// translate runs Prometheus' OTLP translator over md into app, counting
// what it cannot convert. It does not commit.
func (s *Store) translate(ctx context.Context, app *projectAppender, md pmetric.Metrics) error {
	project := app.project
	conv := s.convPool.Get().(*prw.PrometheusConverter)
	conv.Reset(app)
	annots, convErr := conv.FromMetrics(ctx, md, s.otlpSet)
	conv.Reset(nil)
	s.convPool.Put(conv)

	if err := ctx.Err(); err != nil {
		_ = app.Rollback()
		return fmt.Errorf("metric store: append otlp for project %d: %w", project, err)
	}
	if convErr != nil {
		// The translator stops at a metric it cannot convert (e.g. an
		// unsupported temporality) but keeps the others; count each as one
		// rejection so the caller sees the reason.
		for _, e := range unjoin(convErr) {
			app.reject(reasonTranslate, 1, e)
		}
	}
	if ws, _ := annots.AsStrings("", 0, 0); len(ws) > 0 {
		s.log.Debug("OTLP translation warnings", "project", project, "warnings", ws)
	}
	return nil
}

// AppendRemoteWrite appends a Prometheus remote-write 1.0 request for project.
// Exemplars and metadata in the request are ignored.
func (s *Store) AppendRemoteWrite(ctx context.Context, project int64, req *prompb.WriteRequest) (AppendResult, error) {
	app := s.newAppender(ctx, project)
	sb := labels.NewScratchBuilder(16)
	for i := range req.Timeseries {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				_ = app.Rollback()
				return AppendResult{}, fmt.Errorf("metric store: append remote write for project %d: %w", project, err)
			}
		}
		ts := &req.Timeseries[i]
		sb.Reset()
		for _, l := range ts.Labels {
			if l.Name == ProjectLabel {
				continue
			}
			sb.Add(l.Name, l.Value)
		}
		sb.Add(ProjectLabel, app.projectID)
		sb.Sort()
		ls := sb.Labels()
		var ref storage.SeriesRef
		for _, smp := range ts.Samples {
			ref = app.appendScoped(ref, ls, smp.Timestamp, smp.Value, nil)
		}
		for _, h := range ts.Histograms {
			ref = app.appendScoped(ref, ls, h.Timestamp, 0, &h)
		}
	}
	return app.commit()
}

// Sample is one float sample for AppendSamples.
type Sample struct {
	Labels labels.Labels
	T      int64 // ms
	V      float64
}

// AppendSamples appends plain float samples for project; the server uses it
// for its own metrics.
func (s *Store) AppendSamples(ctx context.Context, project int64, samples []Sample) (AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return AppendResult{}, fmt.Errorf("metric store: append samples for project %d: %w", project, err)
	}
	app := s.newAppender(ctx, project)
	for _, smp := range samples {
		app.appendScoped(0, app.withProject(smp.Labels), smp.T, smp.V, nil)
	}
	return app.commit()
}

// Stats are cheap store figures for status pages and self-monitoring.
type Stats struct {
	Series          uint64 // series in the in-memory head (last ~2-3h)
	DiskBytes       int64  // all files under Dir: blocks, WAL, chunks
	Blocks          int    // persisted blocks
	MinTime         int64  // ms, oldest sample; 0 when empty
	MaxTime         int64  // ms, newest sample; 0 when empty
	SamplesAccepted uint64 // since Open
	SamplesRejected uint64 // since Open
}

// Stats returns current figures. DiskBytes walks Dir (a few dozen files).
func (s *Store) Stats() Stats {
	st := Stats{
		Series:          s.db.Head().NumSeries(),
		Blocks:          len(s.db.Blocks()),
		SamplesAccepted: s.appended.Load(),
		SamplesRejected: s.rejected.Load(),
	}
	if st.Series > 0 || st.Blocks > 0 {
		if mint, err := s.db.StartTime(); err == nil {
			st.MinTime = mint
		}
		st.MaxTime = s.db.Head().MaxTime()
	}
	_ = filepath.WalkDir(s.opts.Dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // files vanish under compaction; a best-effort figure is fine
		}
		if !d.IsDir() {
			if info, err := d.Info(); err == nil {
				st.DiskBytes += info.Size()
			}
		}
		return nil
	})
	return st
}

func projectString(project int64) string { return strconv.FormatInt(project, 10) }

// unjoin flattens an errors.Join tree into its leaves.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}
