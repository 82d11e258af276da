package db

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// scopeName is the instrumentation scope of the module's metrics.
const scopeName = "github.com/osprey-monitoring/osprey/internal/agent/db"

// maxBackoff caps the pause after failed or slow cycles.
const maxBackoff = time.Minute

// Output is what one instance produced in one cycle.
type Output struct {
	Metrics pmetric.Metrics      // always at least osprey.db.up
	Push    *agentpb.PushRequest // nil when there are no snapshots this cycle
}

// Module monitors the configured database instances.
type Module struct {
	instances []*instance
	logger    *slog.Logger
}

// New validates the config (missing name, duplicate name, unknown engine,
// no dsn, a DSN that does not parse) and prepares the instances; it does
// not connect. A disabled config gives a module with nothing to do.
func New(cfg Config, agentID, agentVersion string, logger *slog.Logger) (*Module, error) {
	return newModule(cfg, agentID, agentVersion, logger, os.LookupEnv)
}

func newModule(cfg Config, agentID, agentVersion string, logger *slog.Logger, env lookupEnv) (*Module, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Module{logger: logger}
	if !cfg.Enabled {
		return m, nil
	}
	if agentID == "" {
		return nil, errors.New("db: agent id is required")
	}
	all, err := cfg.validate(env)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, s := range all {
		in, err := newInstance(s, agentID, agentVersion, logger)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m.instances = append(m.instances, in)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

// Run collects every instance on its own interval, one goroutine each,
// with cycles on interval boundaries, and calls emit for each Output until
// ctx is done; it closes the connections before returning. emit may be
// called concurrently from several instances. Run is called once.
func (m *Module) Run(ctx context.Context, emit func(Output)) {
	var wg sync.WaitGroup
	for _, in := range m.instances {
		wg.Go(func() { in.run(ctx, emit) })
	}
	wg.Wait()
}

func newInstance(s settings, agentID, agentVersion string, logger *slog.Logger) (*instance, error) {
	eng, ok := engineFor(s.engine)
	if !ok {
		return nil, fmt.Errorf("db: instance %q: unknown engine %q", s.name, s.engine)
	}
	red := newRedactor(s.dsn, s.password)
	log := logger.With("db_instance", s.name, "engine", s.engine)
	p, err := eng.connector(s, log)
	if err != nil {
		// Parse errors may quote the DSN.
		return nil, fmt.Errorf("db: instance %q: %s", s.name, red.err(err))
	}
	red = newRedactor(s.dsn, s.password, p.password)
	return &instance{
		s:            s,
		eng:          eng,
		prep:         p,
		ep:           p.ep,
		id:           InstanceID(agentID, s.name),
		agentVersion: agentVersion,
		log:          log.With("addr", p.ep.String()),
		red:          red,
		stmts:        stmtTracker{every: s.statementsInterval, top: s.topStatements},
		warned:       map[string]string{},
	}, nil
}

// nextTick is the next cycle time: the next interval boundary, or after
// fails failed cycles in a row, the boundary after interval×2^fails
// (capped at maxBackoff), so a slow or dead server is asked less often.
func nextTick(now time.Time, iv time.Duration, fails int) time.Time {
	delay := iv
	limit := max(maxBackoff, iv)
	for range fails {
		if delay >= limit/2 {
			delay = limit
			break
		}
		delay *= 2
	}
	return now.Add(delay - iv).Truncate(iv).Add(iv)
}
