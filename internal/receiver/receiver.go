// Package receiver takes data in: OTLP over gRPC and HTTP (protobuf and
// JSON, gzip), the Osprey agent protocol on the same gRPC listener, and
// Prometheus remote-write. Every request is authenticated by project key,
// checked (size, rate, timestamps) and handed to the ingest pipeline; it is
// acknowledged only once the pipeline has logged it durably.
package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/osprey-monitoring/osprey/internal/agentstate"
	"github.com/osprey-monitoring/osprey/internal/ingest"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

type Options struct {
	MaxRequestBytes int           // largest accepted request body; default 16 MiB
	MaxFutureSkew   time.Duration // records newer than now+skew are rejected; default 10m
	RateLimit       float64       // requests per second per project; 0 = unlimited
	RateBurst       int
	Logger          *slog.Logger
	Registerer      prometheus.Registerer
	// Config answers agents' configuration requests; nil answers an
	// empty configuration.
	Config ConfigSource
}

// ConfigSource gives an agent what the server wants it to run, and a
// version that changes whenever that does.
type ConfigSource interface {
	AgentConfig(ctx context.Context, project int64, agentID string) (version string, checks []*agentpb.URLCheck, err error)
}

// Receiver is shared by the gRPC and HTTP front ends.
type Receiver struct {
	opts    Options
	log     *slog.Logger
	pipe    *ingest.Pipeline
	keys    *KeyCache
	limiter *Limiter
	agents  *agentstate.Tracker

	records  *prometheus.CounterVec
	rejected *prometheus.CounterVec
}

func New(opts Options, pipe *ingest.Pipeline, keys *KeyCache, agents *agentstate.Tracker) (*Receiver, error) {
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = 16 << 20
	}
	if opts.MaxFutureSkew <= 0 {
		opts.MaxFutureSkew = 10 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &Receiver{
		opts: opts, log: opts.Logger, pipe: pipe, keys: keys, agents: agents,
		limiter: NewLimiter(opts.RateLimit, opts.RateBurst),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osprey_ingest_records_total",
			Help: "Records accepted (spans, log records, metric data points, snapshots, samples), by kind.",
		}, []string{"kind"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osprey_ingest_rejected_total",
			Help: "Requests or records refused at ingest, by reason.",
		}, []string{"reason"}),
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{r.records, r.rejected} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register receiver metrics: %w", err)
			}
		}
	}
	return r, nil
}

// Reasons a request or record is refused, as counter labels.
const (
	reasonBadKey    = "bad_key"
	reasonRate      = "rate_limited"
	reasonTooLarge  = "too_large"
	reasonMalformed = "malformed"
	reasonFuture    = "future_timestamp"
	reasonInternal  = "internal"
)

var (
	errRateLimited = errors.New("project request rate limit exceeded")
)

// authenticate resolves key to a project and applies the project's rate
// limit; it counts refusals.
func (r *Receiver) authenticate(ctx context.Context, key string) (context.Context, error) {
	p, err := r.keys.Resolve(ctx, key)
	if err != nil {
		if errors.Is(err, ErrBadKey) {
			r.rejected.WithLabelValues(reasonBadKey).Inc()
		}
		return ctx, err
	}
	if !r.limiter.Allow(p.ID) {
		r.rejected.WithLabelValues(reasonRate).Inc()
		return ctx, errRateLimited
	}
	return withProject(ctx, p), nil
}

func (r *Receiver) accept(ctx context.Context, b *ingest.Batch, records int, kind string) error {
	if err := r.pipe.Accept(ctx, b); err != nil {
		r.rejected.WithLabelValues(reasonInternal).Inc()
		return err
	}
	r.records.WithLabelValues(kind).Add(float64(records))
	return nil
}
