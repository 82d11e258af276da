// Package agent is osprey-agent: it collects with its modules every
// interval, writes each batch to a disk spool, and a sender drains the
// spool to the Osprey server over gRPC (OTLP metrics plus the Osprey agent
// protocol for snapshots). It is a library so `osprey up` can run an agent
// inside the server process; cmd/osprey-agent is a thin wrapper.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/protobuf/proto"

	"github.com/osprey-monitoring/osprey/internal/agent/host"
	"github.com/osprey-monitoring/osprey/internal/agent/spool"
	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

const scopeName = "github.com/osprey-monitoring/osprey/internal/agent"

// Run runs the agent until ctx is cancelled. Everything collected is in the
// spool before Run returns, so a stop loses nothing that the next start
// will not send.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.normalize(); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return fmt.Errorf("create state dir %s: %w", cfg.StateDir, err)
	}
	id, err := loadOrCreateID(cfg.StateDir)
	if err != nil {
		return err
	}
	ident := identity(&cfg, id)
	logger = logger.With("agent_id", id)

	sp, err := openSpool(cfg, logger)
	if err != nil {
		return err
	}
	defer func() {
		if err := sp.Close(); err != nil {
			logger.Error("close spool", "err", err)
		}
	}()
	if st := sp.Stats(); st.Records > 0 {
		logger.Info("spool has batches from before; they are sent first", "batches", st.Records, "bytes", st.Bytes)
	}
	a, err := newAgent(ctx, cfg, ident, sp, logger)
	if err != nil {
		return err
	}

	conn, err := dial(&cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	a.send = newSender(conn, sp, ident, cfg.Server, a.currentInventory, logger)

	logger.Info("osprey-agent started", "server", cfg.Server, "name", cfg.Name, "group", cfg.Group,
		"interval", cfg.Interval, "state_dir", cfg.StateDir, "version", cfg.Version)

	sctx, stopSender := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go a.send.run(sctx, &wg)

	waitModules, err := a.startModules(ctx, conn)
	if err != nil {
		stopSender()
		wg.Wait()
		return err
	}
	a.loop(ctx)
	waitModules()

	// Everything collected is already spooled; stop the sender. A call in
	// flight may finish (up to stopGrace) so that its batch is not sent
	// twice; one cut off stays in the spool for next time.
	stopSender()
	wg.Wait()
	st := sp.Stats()
	logger.Info("osprey-agent stopped", "spooled_batches", st.Records, "spooled_bytes", st.Bytes)
	return nil
}

func openSpool(cfg Config, logger *slog.Logger) (*spool.Spool, error) {
	sp, err := spool.Open(filepath.Join(cfg.StateDir, "spool"), spool.Options{
		MaxBytes: int64(cfg.Spool.MaxBytes),
		Logger:   logger,
	})
	if err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	return sp, nil
}

func newAgent(ctx context.Context, cfg Config, ident *agentpb.AgentIdentity, sp *spool.Spool, logger *slog.Logger) (*agent, error) {
	a := &agent{cfg: cfg, ident: ident, sp: sp, logger: logger, start: time.Now()}
	if cfg.Modules.Host.Enabled {
		var err error
		a.host, err = host.New(ctx, cfg.Modules.Host, logger.With("module", "host"))
		if err != nil {
			return nil, fmt.Errorf("start host module: %w", err)
		}
	}
	a.inv = a.inventory(ctx)
	return a, nil
}

type agent struct {
	cfg    Config
	ident  *agentpb.AgentIdentity
	sp     *spool.Spool
	logger *slog.Logger
	start  time.Time
	host   *host.Module
	send   *sender

	invMu   sync.Mutex
	inv     *agentpb.Inventory
	invSent time.Time

	pushBuf []byte
}

func (a *agent) inventory(ctx context.Context) *agentpb.Inventory {
	if a.host != nil {
		return a.host.Inventory(ctx, a.cfg.Version)
	}
	return &agentpb.Inventory{Hostname: a.cfg.Name, AgentVersion: a.cfg.Version}
}

func (a *agent) currentInventory() *agentpb.Inventory {
	a.invMu.Lock()
	defer a.invMu.Unlock()
	return a.inv
}

// loop collects on interval boundaries (12:00:00, :05, ...) so points of
// different agents line up for the server's 5-second rollups.
func (a *agent) loop(ctx context.Context) {
	iv := a.cfg.Interval
	t := time.NewTimer(time.Until(time.Now().Truncate(iv).Add(iv)))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		if err := a.cycle(ctx, now); err != nil && ctx.Err() == nil {
			a.logger.Error("collection cycle", "err", err)
		}
		t.Reset(time.Until(time.Now().Truncate(iv).Add(iv)))
	}
}

// cycle collects once and spools the result: one OTLP metrics batch and one
// Push with this cycle's snapshots.
func (a *agent) cycle(ctx context.Context, now time.Time) error {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	putResource(rm.Resource().Attributes(), a.ident)

	var snaps []*agentpb.Snapshot
	var errs []error
	if a.host != nil {
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(scopeName + "/host")
		sm.Scope().SetVersion(a.cfg.Version)
		s, err := a.host.Collect(ctx, now, sm)
		if err != nil {
			errs = append(errs, fmt.Errorf("host module: %w", err))
		}
		snaps = append(snaps, s...)
	}
	if now.Sub(a.invSent) >= a.cfg.InventoryInterval {
		inv := a.inventory(ctx)
		a.invMu.Lock()
		a.inv = inv
		a.invMu.Unlock()
		a.invSent = now
		snaps = append(snaps, &agentpb.Snapshot{
			TimeUnixNano: now.UnixNano(),
			Type:         wire.SnapshotInventory,
			Body:         &agentpb.Snapshot_Inventory{Inventory: inv},
		})
	}
	a.selfMetrics(rm, now)

	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		return fmt.Errorf("encode metrics: %w", err)
	}
	if err := a.sp.Append(recMetrics, body); err != nil {
		errs = append(errs, fmt.Errorf("spool metrics: %w", err))
	}
	if len(snaps) > 0 {
		// Marshal now: the host module reuses the process structs next cycle.
		a.pushBuf, err = proto.MarshalOptions{}.MarshalAppend(a.pushBuf[:0], &agentpb.PushRequest{Agent: a.ident, Snapshots: snaps})
		if err != nil {
			return fmt.Errorf("encode push: %w", err)
		}
		if err := a.sp.Append(recPush, a.pushBuf); err != nil {
			errs = append(errs, fmt.Errorf("spool push: %w", err))
		}
	}
	return errors.Join(errs...)
}

// selfMetrics reports the agent's own health beside what it collects.
func (a *agent) selfMetrics(rm pmetric.ResourceMetrics, now time.Time) {
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(scopeName)
	sm.Scope().SetVersion(a.cfg.Version)
	ts := pcommon.NewTimestampFromTime(now)
	start := pcommon.NewTimestampFromTime(a.start)
	st := a.sp.Stats()

	m := sm.Metrics().AppendEmpty()
	m.SetName("osprey.agent.spool.bytes")
	m.SetUnit("By")
	m.SetDescription("Bytes waiting in the agent's disk spool.")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	dp.SetIntValue(st.Bytes)

	counter := func(name, unit, desc string, v uint64) {
		m := sm.Metrics().AppendEmpty()
		m.SetName(name)
		m.SetUnit(unit)
		m.SetDescription(desc)
		s := m.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := s.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(ts)
		dp.SetIntValue(int64(v))
	}
	counter("osprey.agent.spool.dropped", "{batch}", "Batches dropped because the spool was full.", st.Dropped)
	counter("osprey.agent.send.errors", "{error}", "Failed calls to the server.", a.send.errors.Load())
}
