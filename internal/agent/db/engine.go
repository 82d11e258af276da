package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/osprey-monitoring/osprey/internal/sqlmask"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// collector is one engine's view of one instance. A new engine (Oracle,
// SQL Server, Redis, MongoDB) is a new file with a type implementing it and
// a case in engineFor and canonicalEngine; the module around it (scheduling, back-off,
// identity, snapshots, statement deltas) stays as it is.
type collector interface {
	// probe learns the server's version and what it offers. It runs on
	// the first cycle and after every failed one, so a restarted or
	// upgraded server is seen afresh.
	probe(ctx context.Context) (serverInfo, error)
	// stats appends the engine's own metrics. An error means the instance
	// is not usable this cycle (osprey.db.up 0).
	stats(ctx context.Context, ms *metricSet) error
	// sessions returns the non-idle sessions, longest-running first and at
	// most limit of them, with counts over all sessions. It runs after a
	// successful stats in the same cycle, so an engine may reuse what
	// stats read.
	sessions(ctx context.Context, limit int) (sessionSample, error)
	// locks returns the holder→waiter edges; it runs only when sessions
	// saw a waiting session, as the lock views are the costly ones.
	locks(ctx context.Context) ([]*agentpb.DBLockWait, error)
	// statements returns cumulative per-statement counters, or why the
	// engine cannot give them.
	statements(ctx context.Context) (stmtSample, error)
}

// engine is what the module needs to know about a product before it has a
// connection.
type engine struct {
	system  string // db.system
	dialect sqlmask.Dialect
	// connector parses the DSN and lays the session guards on every new
	// connection; it does not dial.
	connector func(s settings, logger *slog.Logger) (prepared, error)
	collector func(r *runner) collector
}

func engineFor(name string) (engine, bool) {
	switch name {
	case EngineMySQL:
		return engine{system: "mysql", dialect: sqlmask.MySQL, connector: mysqlConnector, collector: newMySQLCollector}, true
	case EnginePostgreSQL:
		return engine{system: "postgresql", dialect: sqlmask.Postgres, connector: pgConnector, collector: newPGCollector}, true
	}
	return engine{}, false
}

// prepared is a parsed DSN ready to be opened.
type prepared struct {
	conn     driver.Connector
	ep       endpoint
	password string // the effective password, to keep out of logs
}

// endpoint is where the instance listens, for labels and logs.
type endpoint struct {
	host string
	port int // 0 for a unix socket
}

func (e endpoint) String() string {
	if e.port == 0 {
		return e.host
	}
	return net.JoinHostPort(e.host, strconv.Itoa(e.port))
}

// serverInfo is what probe learned that the module itself uses. (Engine
// details such as capabilities stay inside the collector; cumulative sums
// get their start from the collector's stats.)
type serverInfo struct {
	version string
}

// sessionSample is the db_sessions body plus what the neutral metrics need.
type sessionSample struct {
	body    *agentpb.DBSessions
	blocked int // sessions waiting for a lock
}

// stmtSample is one reading of an engine's cumulative statement counters.
type stmtSample struct {
	available bool
	hint      string
	rows      map[stmtKey]stmtCounters
}

// runner runs an instance's queries: each under its own timeout, counted,
// with query text masked as the instance says.
type runner struct {
	db      *sql.DB
	timeout time.Duration
	mask    bool
	dialect sqlmask.Dialect
	// queries counts the statements sent, for the per-cycle load figure.
	queries int
	// timedOut is set when a query ran into its timeout: the server is
	// slow and the module backs off.
	timedOut bool
	// warn reports a failure that does not make the instance unusable
	// (a missing privilege, one optional view).
	warn func(step string, err error)
}

// query runs q and calls each for every row. The timeout covers the whole
// read, not only the first packet.
func (r *runner) query(ctx context.Context, q string, each func(*sql.Rows) error, args ...any) error {
	qctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	r.queries++
	err := r.read(qctx, q, each, args)
	if err != nil && errors.Is(qctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		r.timedOut = true
	}
	return err
}

func (r *runner) read(ctx context.Context, q string, each func(*sql.Rows) error, args []any) error {
	rows, err := r.db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}

// row runs q expecting one row and scans it into dest; no row is
// sql.ErrNoRows.
func (r *runner) row(ctx context.Context, q string, dest []any, args ...any) error {
	found := false
	err := r.query(ctx, q, func(rows *sql.Rows) error {
		if found {
			return nil
		}
		found = true
		return rows.Scan(dest...)
	}, args...)
	if err == nil && !found {
		return sql.ErrNoRows
	}
	return err
}

// text prepares a query text for a snapshot: cut to size and, when the
// instance says so, with literals masked.
func (r *runner) text(q string) string {
	q = sqlmask.Truncate(q)
	if r.mask {
		q = sqlmask.Mask(q, r.dialect)
	}
	return q
}
