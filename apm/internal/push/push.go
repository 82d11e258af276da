// Package push sends the APM library's snapshots to the server through
// AgentService: it registers first, batches what is queued, and retries
// with back-off. The queue is bounded and drops its oldest snapshot when
// full, so a server that is down costs the application a fixed amount of
// memory and never blocks it.
package push

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
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/osprey-monitoring/osprey/apm/internal/ratelog"
	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

const (
	callTimeout = 10 * time.Second
	retryMin    = 500 * time.Millisecond
	retryMax    = 30 * time.Second
	// A refused key will not fix itself soon; asking often only adds
	// load on the server.
	refusedMin = 30 * time.Second
	refusedMax = 5 * time.Minute
	// maxBatch bounds one PushRequest; rollups with statistics can be
	// large, and one huge message would hit the server's size limit.
	maxBatch = 16
	// DefaultMaxQueue is enough for a few minutes of snapshots at the
	// default 5-s interval (two snapshots per interval).
	DefaultMaxQueue = 120
)

// Config says where and as whom to push.
type Config struct {
	Conn      grpc.ClientConnInterface
	Identity  *agentpb.AgentIdentity
	Inventory *agentpb.Inventory
	Key       string
	// MaxQueue bounds the snapshots waiting to be sent; DefaultMaxQueue
	// when 0.
	MaxQueue int
	Logs     *ratelog.Limiter
	Logger   *slog.Logger
	// OnDrop is called (without locks held) with each snapshot that is
	// dropped unsent, e.g. to forget which stack texts were sent.
	OnDrop func(*agentpb.Snapshot)
}

type item struct {
	seq  uint64
	snap *agentpb.Snapshot
}

// Pusher is safe for concurrent use; Run and Drain must not overlap.
type Pusher struct {
	cfg    Config
	client agentpb.AgentServiceClient
	auth   string

	mu      sync.Mutex
	q       []item
	nextSeq uint64
	notify  chan struct{}

	registered bool
	dropped    atomic.Uint64
	sent       atomic.Uint64
	failing    bool
	delay      time.Duration
}

// New returns a Pusher; nothing is sent before Run or Drain.
func New(cfg Config) *Pusher {
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = DefaultMaxQueue
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Logs == nil {
		cfg.Logs = ratelog.New(cfg.Logger, time.Minute)
	}
	return &Pusher{
		cfg:    cfg,
		client: agentpb.NewAgentServiceClient(cfg.Conn),
		auth:   "Bearer " + cfg.Key,
		notify: make(chan struct{}, 1),
	}
}

// Enqueue queues s for sending. It never blocks: when the queue is full
// the oldest snapshot is dropped.
func (p *Pusher) Enqueue(s *agentpb.Snapshot) {
	var drop *agentpb.Snapshot
	p.mu.Lock()
	if len(p.q) >= p.cfg.MaxQueue {
		drop = p.q[0].snap
		p.q[0] = item{}
		p.q = p.q[1:]
	}
	p.nextSeq++
	p.q = append(p.q, item{seq: p.nextSeq, snap: s})
	p.mu.Unlock()
	if drop != nil {
		p.dropped.Add(1)
		p.cfg.Logs.Log(slog.LevelWarn, "push-drop", "osprey apm: snapshot queue full, dropping the oldest (server slow or unreachable)",
			"dropped_total", p.dropped.Load())
		if p.cfg.OnDrop != nil {
			p.cfg.OnDrop(drop)
		}
	}
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

// Dropped is the number of snapshots dropped unsent so far.
func (p *Pusher) Dropped() uint64 { return p.dropped.Load() }

// Sent is the number of snapshots the server acknowledged so far.
func (p *Pusher) Sent() uint64 { return p.sent.Load() }

// Queued is the number of snapshots waiting.
func (p *Pusher) Queued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.q)
}

// Run sends queued snapshots until ctx ends.
func (p *Pusher) Run(ctx context.Context) {
	for ctx.Err() == nil {
		err := p.sendBatch(ctx)
		switch {
		case errors.Is(err, errEmpty):
			select {
			case <-ctx.Done():
				return
			case <-p.notify:
			}
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			p.backOff(ctx, err)
		default:
			p.recovered()
		}
	}
}

// Drain sends what is queued, once, until the queue is empty, a call
// fails or ctx ends. Shutdown uses it after Run stopped.
func (p *Pusher) Drain(ctx context.Context) error {
	for {
		err := p.sendBatch(ctx)
		if errors.Is(err, errEmpty) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

var errEmpty = errors.New("queue empty")

// sendBatch registers when needed and sends the oldest queued snapshots;
// they leave the queue only once the server has them (or refused them for
// good).
func (p *Pusher) sendBatch(ctx context.Context) error {
	p.mu.Lock()
	n := min(len(p.q), maxBatch)
	batch := make([]*agentpb.Snapshot, n)
	var last uint64
	for i := range n {
		batch[i] = p.q[i].snap
		last = p.q[i].seq
	}
	p.mu.Unlock()
	if n == 0 {
		return errEmpty
	}
	if !p.registered {
		if err := p.register(ctx); err != nil {
			return fmt.Errorf("register: %w", err)
		}
	}
	cctx, cancel := context.WithTimeout(p.outgoing(ctx), callTimeout)
	resp, err := p.client.Push(cctx, &agentpb.PushRequest{Agent: p.cfg.Identity, Snapshots: batch})
	cancel()
	if err != nil && !permanent(err) {
		// The server may have restarted or be another node: register
		// again before the next push.
		p.registered = false
		return fmt.Errorf("push: %w", err)
	}
	if err != nil {
		p.cfg.Logs.Log(slog.LevelError, "push-rejected", "osprey apm: server rejected snapshots; dropping them", "err", err, "snapshots", n)
	} else if resp.GetRejected() > 0 {
		p.cfg.Logs.Log(slog.LevelWarn, "push-partial", "osprey apm: server rejected some snapshots",
			"rejected", resp.GetRejected(), "message", resp.GetErrorMessage())
	}
	p.mu.Lock()
	i := 0
	for i < len(p.q) && p.q[i].seq <= last {
		p.q[i] = item{}
		i++
	}
	p.q = p.q[i:]
	if len(p.q) == 0 {
		p.q = nil // let a grown backing array go
	}
	p.mu.Unlock()
	if err != nil {
		p.dropped.Add(uint64(n))
		if p.cfg.OnDrop != nil {
			for _, s := range batch {
				p.cfg.OnDrop(s)
			}
		}
	} else {
		p.sent.Add(uint64(n))
	}
	return nil
}

func (p *Pusher) register(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(p.outgoing(ctx), callTimeout)
	defer cancel()
	resp, err := p.client.Register(cctx, &agentpb.RegisterRequest{Agent: p.cfg.Identity, Inventory: p.cfg.Inventory})
	if status.Code(err) == codes.Unimplemented {
		// A server without the agent protocol still takes OTLP; pushes
		// will fail permanently and be dropped.
		p.registered = true
		return nil
	}
	if err != nil {
		return err
	}
	p.registered = true
	p.cfg.Logger.Debug("osprey apm: registered", "project", resp.GetProject())
	return nil
}

func (p *Pusher) outgoing(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, wire.HeaderAuthorization, p.auth)
}

// permanent reports errors a retry will not fix; the batch is dropped so
// it does not block everything queued behind it.
func permanent(err error) bool {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.OutOfRange, codes.DataLoss, codes.FailedPrecondition,
		codes.AlreadyExists, codes.Unimplemented:
		return true
	}
	return false
}

func refused(err error) bool {
	// status.Code sees through the %w wrapping.
	c := status.Code(err)
	return c == codes.Unauthenticated || c == codes.PermissionDenied
}

func (p *Pusher) backOff(ctx context.Context, err error) {
	lo, hi := retryMin, retryMax
	if refused(err) {
		lo, hi = refusedMin, refusedMax
	}
	if !p.failing {
		p.failing, p.delay = true, lo
	} else {
		p.delay = min(max(p.delay*2, lo), hi)
	}
	if refused(err) {
		p.cfg.Logs.Log(slog.LevelError, "push-fail", "osprey apm: server refused the key (check Config.Key / OSPREY_KEY)",
			"err", err, "retry_in", p.delay)
	} else {
		p.cfg.Logs.Log(slog.LevelWarn, "push-fail", "osprey apm: server unreachable; queueing snapshots",
			"err", err, "retry_in", p.delay, "queued", p.Queued(), "dropped_total", p.dropped.Load())
	}
	// Jitter spreads many instances that lost the same server.
	t := time.NewTimer(p.delay/2 + rand.N(p.delay/2+1))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (p *Pusher) recovered() {
	if !p.failing {
		return
	}
	p.failing, p.delay = false, 0
	p.cfg.Logs.Log(slog.LevelInfo, "push-ok", "osprey apm: server reachable again")
}
