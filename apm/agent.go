package apm

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/osprey-monitoring/osprey/apm/internal/push"
	"github.com/osprey-monitoring/osprey/apm/internal/ratelog"
	"github.com/osprey-monitoring/osprey/apm/internal/stacks"
	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// version is the library version reported at registration.
const version = "0.1.0"

// Batch processor sizing: at 10k transactions/s, fast ones export one span
// each. The queue holds a couple of seconds of that; when the server is
// away longer, new spans are dropped (the SDK's choice) rather than memory
// growing.
const (
	spanQueueSize   = 16384
	spanBatchSize   = 1024
	spanBatchDelay  = 2 * time.Second
	spanExportLimit = 15 * time.Second
)

// Agent is a running APM library instance. Create it with Start and stop
// it with Shutdown.
type Agent struct {
	cfg   Config
	log   *slog.Logger
	logs  *ratelog.Limiter
	conn  *grpc.ClientConn
	tp    *sdktrace.TracerProvider
	proc  *processor
	push  *push.Pusher
	prop  propagation.TextMapPropagator
	exp   *exporter
	ident *agentpb.AgentIdentity

	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
	stopErr  error

	// Loop state; the loop goroutine owns it until Shutdown has waited
	// for the loop to end.
	proc0     *procStats
	winStart  int64 // unix ns of the current 5-s window
	statStart int64 // unix ns of the current statistics window
	// statsRetired: a statistics window ended and waits to be sent;
	// retiredStart is its start.
	statsRetired bool
	retiredStart int64
	lastStack    time.Time
	sampler      stacks.Sampler

	sentMu sync.Mutex
	sent   map[string]struct{} // stack hashes sent (or queued) this session
}

// Start builds the TracerProvider, makes it and the W3C TraceContext and
// Baggage propagator the OpenTelemetry globals, and starts registering
// with the server and sending. It does not wait for the server: one that
// is down costs queued data, never the application's time.
func Start(ctx context.Context, cfg Config) (*Agent, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	a := &Agent{
		cfg:  cfg,
		log:  cfg.Logger,
		logs: ratelog.New(cfg.Logger, time.Minute),
		prop: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		sent: make(map[string]struct{}),
	}
	a.ident = &agentpb.AgentIdentity{
		Id:      agentID(cfg.App, cfg.Instance),
		Name:    cfg.Instance,
		Group:   cfg.App,
		Kind:    wire.KindApp,
		Version: version,
		// The server files the library's rollups under this identity;
		// the labels say what the spans' resource says.
		Labels: map[string]string{"language": "go", "telemetry.sdk.language": "go", "host.name": host,
			"runtime": runtime.Version()},
	}
	for k, v := range cfg.Attributes {
		a.ident.Labels[k] = v
	}

	creds := insecure.NewCredentials()
	if !cfg.Insecure {
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	}
	a.conn, err = grpc.NewClient(cfg.Endpoint,
		grpc.WithTransportCredentials(creds),
		grpc.WithUserAgent("osprey-apm-go/"+version),
		// gRPC's default reconnect back-off grows to two minutes; data
		// should move again soon after the server is back.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 500 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 15 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("apm: grpc client for %s: %w", cfg.Endpoint, err)
	}

	res, err := a.resource(ctx, host)
	if err != nil {
		_ = a.conn.Close()
		return nil, err
	}
	otlp, err := otlptracegrpc.New(ctx,
		otlptracegrpc.WithGRPCConn(a.conn),
		otlptracegrpc.WithHeaders(map[string]string{wire.HeaderAuthorization: "Bearer " + cfg.Key}),
		otlptracegrpc.WithTimeout(spanExportLimit),
		// Retry within one export's time limit; the batch processor holds
		// new spans meanwhile (and drops them when its queue is full).
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{
			Enabled: true, InitialInterval: time.Second, MaxInterval: 5 * time.Second, MaxElapsedTime: spanExportLimit,
		}),
	)
	if err != nil {
		_ = a.conn.Close()
		return nil, fmt.Errorf("apm: otlp trace exporter: %w", err)
	}
	a.exp = newExporter(otlp, a.logs)
	bsp := sdktrace.NewBatchSpanProcessor(a.exp,
		sdktrace.WithMaxQueueSize(spanQueueSize),
		sdktrace.WithMaxExportBatchSize(spanBatchSize),
		sdktrace.WithBatchTimeout(spanBatchDelay),
		sdktrace.WithExportTimeout(spanExportLimit),
	)
	a.proc = newProcessor(&cfg, bsp)
	a.tp = sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSpanProcessor(a.proc),
		// Every transaction counts in the rollups, so every span is
		// recorded, whatever an upstream caller sampled; the processor
		// decides what is worth exporting.
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
	)
	otel.SetTracerProvider(a.tp)
	otel.SetTextMapPropagator(a.prop)

	a.push = push.New(push.Config{
		Conn:      a.conn,
		Identity:  a.ident,
		Inventory: &agentpb.Inventory{Hostname: host, Os: runtime.GOOS, Arch: runtime.GOARCH, LogicalCores: int32(runtime.NumCPU()), AgentVersion: version},
		Key:       cfg.Key,
		Logs:      a.logs,
		Logger:    cfg.Logger,
		OnDrop:    a.forgetStacks,
	})
	if cfg.Key == "" {
		a.log.Warn("osprey apm: no project key (Config.Key / OSPREY_KEY); the server will refuse the data")
	}

	now := time.Now()
	a.proc0 = newProcStats()
	a.winStart = alignDown(now, cfg.ActiveInterval)
	a.statStart = alignDown(now, cfg.StatInterval)
	loopCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		a.push.Run(loopCtx)
	}()
	go func() {
		defer a.wg.Done()
		a.loop(loopCtx)
	}()
	return a, nil
}

// agentID is stable for a given app and instance name, so an instance
// named in the configuration keeps its id across restarts.
func agentID(app, instance string) string {
	h := fnv.New64a()
	h.Write([]byte(app))
	h.Write([]byte{0})
	h.Write([]byte(instance))
	return fmt.Sprintf("app-%016x", h.Sum64())
}

func (a *Agent) resource(ctx context.Context, host string) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{
		attribute.String(wire.AttrServiceName, a.cfg.App),
		attribute.String(wire.AttrServiceInstanceID, a.cfg.Instance),
		attribute.String(wire.AttrHostName, host),
		attribute.Int("process.pid", os.Getpid()),
		attribute.String("process.runtime.name", "go"),
		attribute.String("process.runtime.version", runtime.Version()),
		attribute.String(wire.AttrAgentID, a.ident.Id),
		attribute.String(wire.AttrAgentName, a.cfg.Instance),
		attribute.String(wire.AttrAgentGroup, a.cfg.App),
		attribute.String(wire.AttrAgentKind, wire.KindApp),
		attribute.String(wire.AttrApmRollups, wire.ApmRollupsInProcess),
	}
	for k, v := range a.cfg.Attributes {
		attrs = append(attrs, attribute.String(k, v))
	}
	// Later options win: the environment's OTEL_RESOURCE_ATTRIBUTES may
	// add, but the identity the rollups are filed under stays ours.
	res, err := resource.New(ctx,
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attrs...),
	)
	if errors.Is(err, resource.ErrPartialResource) {
		a.log.Warn("osprey apm: part of the resource could not be detected", "err", err)
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("apm: resource: %w", err)
	}
	return res, nil
}

// TracerProvider is the provider Start made (and set as the global one).
func (a *Agent) TracerProvider() *sdktrace.TracerProvider { return a.tp }

// Shutdown stops the loops, flushes the spans, sends the last rollup with
// the statistics of the unfinished window, and closes the connection. ctx
// bounds how long it waits for the server.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.stopOnce.Do(func() {
		a.cancel()
		a.wg.Wait()
		var errs []error
		if err := a.tp.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("apm: flush spans: %w", err))
		}
		// An export still retrying (server away, ctx expired) would keep
		// the batch processor's goroutine alive after we return.
		a.exp.abort()
		a.tick(time.Now(), true)
		if err := a.push.Drain(ctx); err != nil {
			errs = append(errs, fmt.Errorf("apm: send last snapshots: %w", err))
		}
		if err := a.conn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("apm: close connection: %w", err))
		}
		a.stopErr = errors.Join(errs...)
	})
	return a.stopErr
}

// exporter reports export failures through the rate-limited log instead
// of OpenTelemetry's global error handler, which logs every failed batch,
// and lets Shutdown cut short exports that are still retrying.
type exporter struct {
	sdktrace.SpanExporter
	logs   *ratelog.Limiter
	failed atomic.Uint64
	sent   atomic.Uint64
	base   context.Context
	abort  context.CancelFunc
}

func newExporter(e sdktrace.SpanExporter, logs *ratelog.Limiter) *exporter {
	x := &exporter{SpanExporter: e, logs: logs}
	x.base, x.abort = context.WithCancel(context.Background())
	return x
}

func (e *exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(e.base, cancel)()
	if err := e.SpanExporter.ExportSpans(ctx, spans); err != nil {
		total := e.failed.Add(uint64(len(spans)))
		e.logs.Log(slog.LevelWarn, "export", "osprey apm: span export failed; spans dropped",
			"err", err, "spans", len(spans), "dropped_total", strconv.FormatUint(total, 10))
		return nil
	}
	e.sent.Add(uint64(len(spans)))
	return nil
}

func alignDown(t time.Time, d time.Duration) int64 {
	n := t.UnixNano()
	return n - n%int64(d)
}
