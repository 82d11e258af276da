// Package ingest is the durable acceptance path: a receiver hands it a
// decoded, authenticated batch; it is written to the write-ahead log (and so
// may be acknowledged), then applied to the stores by a background applier.
// A checkpointer makes applied data durable in the stores and trims the log;
// on start the log is replayed from the last checkpoint.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/protobuf/proto"

	"github.com/osprey-monitoring/osprey/internal/agentstate"
	"github.com/osprey-monitoring/osprey/internal/eventrow"
	"github.com/osprey-monitoring/osprey/internal/ingest/wal"
	"github.com/osprey-monitoring/osprey/internal/live"
	"github.com/osprey-monitoring/osprey/internal/store/event"
	"github.com/osprey-monitoring/osprey/internal/store/metric"
	"github.com/osprey-monitoring/osprey/internal/txn"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// Kind says what a batch's body holds. The values are stored in the log:
// never renumber them.
type Kind uint8

const (
	KindMetrics     Kind = 1 // OTLP ExportMetricsServiceRequest
	KindTraces      Kind = 2 // OTLP ExportTraceServiceRequest
	KindLogs        Kind = 3 // OTLP ExportLogsServiceRequest
	KindAgentPush   Kind = 4 // agentpb.PushRequest
	KindRemoteWrite Kind = 5 // prompb.WriteRequest (uncompressed)
)

func (k Kind) String() string {
	switch k {
	case KindMetrics:
		return "metrics"
	case KindTraces:
		return "traces"
	case KindLogs:
		return "logs"
	case KindAgentPush:
		return "agent"
	case KindRemoteWrite:
		return "remote_write"
	}
	return "kind" + strconv.Itoa(int(k))
}

// BatchField is stamped on every event row with the log sequence number of
// its batch, so that a replay after a crash can tell which batches already
// reached the event store and not add them twice.
const BatchField = "osprey.batch"

// Batch is one accepted request. Exactly one decoded form is set; Body is
// its protobuf encoding as logged.
type Batch struct {
	Kind    Kind
	Project int64
	Body    []byte

	Metrics     pmetric.Metrics
	Traces      ptrace.Traces
	Logs        plog.Logs
	Push        *agentpb.PushRequest
	RemoteWrite *prompb.WriteRequest

	seq    uint64
	replay bool
}

// MetricStore is what the pipeline needs of the metric store.
type MetricStore interface {
	AppendOTLP(ctx context.Context, project int64, md pmetric.Metrics) (metric.AppendResult, error)
	AppendRemoteWrite(ctx context.Context, project int64, req *prompb.WriteRequest) (metric.AppendResult, error)
}

// EventStore is what the pipeline needs of the event store.
type EventStore interface {
	Add(ctx context.Context, project int64, rows []event.Row) (accepted, rejected int, err error)
	FlushErr() error
	Count(ctx context.Context, project int64, q event.Query) (uint64, error)
}

type Options struct {
	WALDir             string
	WALSync            wal.SyncMode
	QueueSize          int           // batches between acceptance and the appliers; default 256
	Appliers           int           // concurrent appliers; default GOMAXPROCS
	CheckpointInterval time.Duration // default 2s
	Logger             *slog.Logger
	Registerer         prometheus.Registerer
	// APM marks transactions among the spans and keeps the APM rollups;
	// nil stores spans as they are.
	APM *txn.Processor
}

// Pipeline is safe for concurrent use. Batches are applied by several
// appliers at once, so two batches of one series may reach the TSDB out of
// order; its out-of-order window absorbs that.
type Pipeline struct {
	opts    Options
	log     *slog.Logger
	wal     *wal.WAL
	metrics MetricStore
	events  EventStore
	agents  *agentstate.Tracker
	bus     *live.Bus

	queue    chan *Batch
	applied  atomic.Uint64 // every batch up to here is applied
	doneMu   sync.Mutex
	done     map[uint64]struct{} // applied, but after a gap
	closeMu  sync.RWMutex
	acceptMu sync.Mutex
	closed   bool
	wg       sync.WaitGroup
	stopCP   chan struct{}

	accepted    *prometheus.CounterVec
	applyErrors *prometheus.CounterVec
	queueDepth  prometheus.GaugeFunc
	walBytes    prometheus.GaugeFunc
}

// New opens the log, replays what the stores may lack, and starts the
// applier and checkpointer.
func New(ctx context.Context, opts Options, ms MetricStore, es EventStore, agents *agentstate.Tracker, bus *live.Bus) (*Pipeline, error) {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 256
	}
	if opts.Appliers <= 0 {
		opts.Appliers = runtime.GOMAXPROCS(0)
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	w, replay, err := wal.Open(wal.Options{Dir: opts.WALDir, Sync: opts.WALSync, Logger: opts.Logger})
	if err != nil {
		return nil, fmt.Errorf("open ingest wal: %w", err)
	}
	p := &Pipeline{
		opts: opts, log: opts.Logger, wal: w, metrics: ms, events: es, agents: agents, bus: bus,
		queue:  make(chan *Batch, opts.QueueSize),
		done:   map[uint64]struct{}{},
		stopCP: make(chan struct{}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osprey_ingest_batches_total", Help: "Batches accepted into the ingest log, by kind.",
		}, []string{"kind"}),
		applyErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osprey_ingest_apply_errors_total", Help: "Batches a store failed to take, by kind.",
		}, []string{"kind"}),
	}
	p.queueDepth = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "osprey_ingest_queue_depth", Help: "Accepted batches waiting for the applier.",
	}, func() float64 { return float64(len(p.queue)) })
	p.walBytes = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "osprey_ingest_wal_bytes", Help: "Bytes held by the ingest write-ahead log.",
	}, func() float64 { return float64(w.Size()) })
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{p.accepted, p.applyErrors, p.queueDepth, p.walBytes} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register ingest metrics: %w", err)
			}
		}
	}
	if len(replay) > 0 {
		p.log.Info("replaying ingest log", "batches", len(replay), "from_seq", replay[0].Seq)
	}
	for _, r := range replay {
		b, err := Decode(Kind(r.Kind), r.Project, r.Body)
		if err != nil {
			// A record that passed its checksum but does not decode was
			// written by a different version; keep going with the rest.
			p.log.Error("skip undecodable ingest log record", "seq", r.Seq, "kind", Kind(r.Kind), "err", err)
			continue
		}
		b.seq, b.replay = r.Seq, true
		p.apply(ctx, b)
		p.applied.Store(r.Seq)
	}
	if len(replay) > 0 {
		if err := es.FlushErr(); err != nil {
			return nil, fmt.Errorf("flush replayed events: %w", err)
		}
		if err := w.Checkpoint(p.applied.Load()); err != nil {
			return nil, err
		}
	} else {
		p.applied.Store(w.LastSeq())
	}
	for i := 0; i < opts.Appliers; i++ {
		p.wg.Add(1)
		go p.applier()
	}
	go p.checkpointer()
	return p, nil
}

// Decode rebuilds a batch from its logged body.
func Decode(kind Kind, project int64, body []byte) (*Batch, error) {
	b := &Batch{Kind: kind, Project: project, Body: body}
	switch kind {
	case KindMetrics:
		req := pmetricotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			return nil, fmt.Errorf("decode metrics: %w", err)
		}
		b.Metrics = req.Metrics()
	case KindTraces:
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			return nil, fmt.Errorf("decode traces: %w", err)
		}
		b.Traces = req.Traces()
	case KindLogs:
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			return nil, fmt.Errorf("decode logs: %w", err)
		}
		b.Logs = req.Logs()
	case KindAgentPush:
		req := &agentpb.PushRequest{}
		if err := proto.Unmarshal(body, req); err != nil {
			return nil, fmt.Errorf("decode agent push: %w", err)
		}
		b.Push = req
	case KindRemoteWrite:
		req := &prompb.WriteRequest{}
		if err := req.Unmarshal(body); err != nil {
			return nil, fmt.Errorf("decode remote write: %w", err)
		}
		b.RemoteWrite = req
	default:
		return nil, fmt.Errorf("unknown batch kind %d", kind)
	}
	return b, nil
}

// ErrClosed is returned once the pipeline is shutting down.
var ErrClosed = errors.New("ingest is shutting down")

// Accept logs the batch durably and queues it for the stores. When it
// returns nil the batch may be acknowledged to the sender. It blocks while
// the applier is behind, which pushes back on senders.
//
// Appending and queueing happen under one lock so that batches reach the
// applier in log order: the checkpoint is "everything up to the applied
// sequence number", which must not pass a batch still waiting.
func (p *Pipeline) Accept(ctx context.Context, b *Batch) error {
	p.closeMu.RLock()
	defer p.closeMu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p.acceptMu.Lock()
	defer p.acceptMu.Unlock()
	seq, err := p.wal.Append(uint8(b.Kind), b.Project, b.Body)
	if err != nil {
		return fmt.Errorf("log %s batch: %w", b.Kind, err)
	}
	b.seq = seq
	p.accepted.WithLabelValues(b.Kind.String()).Inc()
	// No ctx escape here: the batch is logged, so giving up now would make
	// the sender resend a batch that is applied anyway. The applier always
	// makes progress, so this wait is bounded.
	p.queue <- b
	return nil
}

func (p *Pipeline) applier() {
	defer p.wg.Done()
	ctx := context.Background()
	for b := range p.queue {
		p.apply(ctx, b)
		p.markApplied(b.seq)
	}
}

// markApplied advances the applied mark over every contiguous applied
// batch. Appliers finish out of order; the checkpoint must never pass a
// batch that is still being applied.
func (p *Pipeline) markApplied(seq uint64) {
	p.doneMu.Lock()
	defer p.doneMu.Unlock()
	cur := p.applied.Load()
	if seq != cur+1 {
		p.done[seq] = struct{}{}
		return
	}
	cur = seq
	for {
		if _, ok := p.done[cur+1]; !ok {
			break
		}
		delete(p.done, cur+1)
		cur++
	}
	p.applied.Store(cur)
}

func (p *Pipeline) apply(ctx context.Context, b *Batch) {
	now := time.Now()
	var err error
	switch b.Kind {
	case KindMetrics:
		_, err = p.metrics.AppendOTLP(ctx, b.Project, b.Metrics)
		p.agents.ObserveMetrics(b.Project, b.Metrics, now)
	case KindRemoteWrite:
		_, err = p.metrics.AppendRemoteWrite(ctx, b.Project, b.RemoteWrite)
	case KindTraces:
		rss := b.Traces.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			p.agents.ObserveResource(b.Project, rss.At(i).Resource().Attributes(), now)
		}
		rows := eventrow.Spans(b.Traces)
		var tx *txn.Batch
		if p.opts.APM != nil {
			tx = p.opts.APM.Spans(b.Project, b.Traces, rows)
		}
		var stored bool
		stored, err = p.addEvents(ctx, b, "span", rows)
		if stored && tx != nil {
			p.opts.APM.Commit(tx)
		}
	case KindLogs:
		rls := b.Logs.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			p.agents.ObserveResource(b.Project, rls.At(i).Resource().Attributes(), now)
		}
		_, err = p.addEvents(ctx, b, "log", eventrow.Logs(b.Logs))
	case KindAgentPush:
		p.agents.ObservePush(b.Project, b.Push, now)
		rows := eventrow.Snapshots(b.Push)
		if p.opts.APM != nil {
			rows = append(rows, txn.PushRows(b.Push)...)
		}
		_, err = p.addEvents(ctx, b, "snapshot", rows)
	}
	if err != nil {
		p.applyErrors.WithLabelValues(b.Kind.String()).Inc()
		p.log.Error("apply ingest batch", "kind", b.Kind, "project", b.Project, "seq", b.seq, "err", err)
	}
}

// addEvents stores a batch's rows; stored is false when there was nothing
// to store or a replayed batch had reached the store before a crash.
func (p *Pipeline) addEvents(ctx context.Context, b *Batch, typ string, rows []event.Row) (stored bool, err error) {
	if len(rows) == 0 {
		return false, nil
	}
	seq := strconv.FormatUint(b.seq, 10)
	for i := range rows {
		rows[i].Fields = append(rows[i].Fields, event.Field{Name: BatchField, Value: seq})
	}
	if b.replay {
		n, err := p.events.Count(ctx, b.Project, event.Query{
			Start:   time.Unix(0, 0),
			End:     time.Now().Add(24 * time.Hour),
			Filters: []event.Filter{{Field: BatchField, Op: "=", Value: seq}},
		})
		if err != nil {
			return false, fmt.Errorf("check replayed batch %s: %w", seq, err)
		}
		if n > 0 {
			return false, nil // reached the event store before the crash
		}
	}
	if _, _, err := p.events.Add(ctx, b.Project, rows); err != nil {
		return false, fmt.Errorf("add %d %s rows: %w", len(rows), typ, err)
	}
	if p.bus != nil && p.bus.Active() {
		p.publish(b.Project, typ, rows)
	}
	return true, nil
}

// publish sends rows to live subscribers grouped by their own type field
// (an agent push carries snapshot rows and the event rows made from them),
// falling back to the batch's type.
func (p *Pipeline) publish(project int64, typ string, rows []event.Row) {
	byType := map[string][]map[string]string{}
	var order []string
	for _, r := range rows {
		m := make(map[string]string, len(r.Fields)+1)
		m["_time"] = r.Time.UTC().Format(time.RFC3339Nano)
		t := typ
		for _, f := range r.Fields {
			m[f.Name] = f.Value
			if f.Name == "type" {
				t = f.Value
			}
		}
		if _, ok := byType[t]; !ok {
			order = append(order, t)
		}
		byType[t] = append(byType[t], m)
	}
	now := time.Now()
	for _, t := range order {
		p.bus.Publish(live.Message{Project: project, Type: t, Time: now, Records: byType[t]})
	}
}

func (p *Pipeline) checkpointer() {
	t := time.NewTicker(p.opts.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-p.stopCP:
			return
		case <-t.C:
			if err := p.checkpoint(); err != nil {
				p.log.Error("ingest checkpoint", "err", err)
			}
		}
	}
}

// checkpoint makes everything applied so far durable in the stores, then
// lets the log forget it. Metric appends are durable on commit (the TSDB's
// own WAL), event rows only after a flush.
func (p *Pipeline) checkpoint() error {
	seq := p.applied.Load()
	if err := p.events.FlushErr(); err != nil {
		// Keep the log: what it holds is not yet safe in the event store.
		return fmt.Errorf("flush event store: %w", err)
	}
	return p.wal.Checkpoint(seq)
}

// QueueDepth is the number of accepted batches not yet applied.
func (p *Pipeline) QueueDepth() int { return len(p.queue) }

// Applied is the highest applied log sequence number.
func (p *Pipeline) Applied() uint64 { return p.applied.Load() }

// Drain waits until every batch accepted before the call is applied, or ctx
// ends. Tests and benchmarks use it to know data reached the stores.
func (p *Pipeline) Drain(ctx context.Context) error {
	target := p.wal.LastSeq()
	for p.applied.Load() < target {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return p.events.FlushErr()
}

// Close stops accepting, applies what is queued, checkpoints and closes the
// log. The stores are closed by their owner afterwards.
func (p *Pipeline) Close(ctx context.Context) error {
	p.closeMu.Lock()
	if p.closed {
		p.closeMu.Unlock()
		return nil
	}
	p.closed = true
	p.closeMu.Unlock()
	close(p.stopCP)
	close(p.queue)
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		// What is left is in the log and will be replayed on the next start.
		return errors.Join(fmt.Errorf("ingest drain: %w", ctx.Err()), p.wal.Close(ctx))
	}
	err := p.checkpoint()
	return errors.Join(err, p.wal.Close(ctx))
}
