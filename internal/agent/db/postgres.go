package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// pgMinVersion is PostgreSQL 10: backend_type, pg_blocking_pids and the
// pg_last_wal_* functions the queries rely on.
const pgMinVersion = 100000

// pgConnector parses a postgres:// URL or key=value DSN and sets the
// session guards as startup parameters, so every connection (also one
// made after a server restart) has them before its first query.
func pgConnector(s settings, _ *slog.Logger) (prepared, error) {
	cfg, err := pgx.ParseConfig(s.dsn)
	if err != nil {
		return prepared{}, fmt.Errorf("parse postgresql dsn: %w", err)
	}
	if s.password != "" {
		cfg.Password = s.password
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > s.queryTimeout {
		cfg.ConnectTimeout = s.queryTimeout
	}
	rp := cfg.RuntimeParams
	rp["statement_timeout"] = strconv.FormatInt(s.queryTimeout.Milliseconds(), 10)
	rp["lock_timeout"] = "1000"
	rp["default_transaction_read_only"] = "on"
	rp["application_name"] = "osprey-agent"
	return prepared{conn: stdlib.GetConnector(*cfg), ep: endpoint{host: cfg.Host, port: int(cfg.Port)}, password: cfg.Password}, nil
}

// pgCollector serves PostgreSQL 10 and later. Views whose columns change
// between versions are read with SELECT * and turned into metrics column
// by column, so a new version's counters appear without a code change.
type pgCollector struct {
	r          *runner
	versionNum int
	start      time.Time
	lockSQL    string
	// activity is the per-state count stats read this cycle; sessions
	// reuses it instead of scanning pg_stat_activity twice.
	activity pgActivity
}

func newPGCollector(r *runner) collector { return &pgCollector{r: r} }

func isPGCode(err error, codes ...string) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	for _, c := range codes {
		if pe.Code == c {
			return true
		}
	}
	return false
}

func (c *pgCollector) probe(ctx context.Context) (serverInfo, error) {
	var version string
	err := c.r.row(ctx, `SELECT current_setting('server_version'), current_setting('server_version_num')::int,
pg_postmaster_start_time()`, []any{&version, &c.versionNum, &c.start})
	if err != nil {
		return serverInfo{}, fmt.Errorf("version: %w", err)
	}
	if c.versionNum < pgMinVersion {
		return serverInfo{version: version}, fmt.Errorf("PostgreSQL %s is not supported (10 or later)", version)
	}
	c.lockSQL = pgLockQuery(c.versionNum)
	return serverInfo{version: version}, nil
}

func (c *pgCollector) stats(ctx context.Context, ms *metricSet) error {
	ms.setStart(c.start)
	if err := c.statDatabase(ctx, ms); err != nil {
		return err
	}
	if err := c.activityCounts(ctx, ms); err != nil {
		return err
	}
	c.viewCounters(ctx, ms, "pg_stat_bgwriter", "pg.stat_bgwriter.")
	if c.versionNum >= 170000 {
		c.viewCounters(ctx, ms, "pg_stat_checkpointer", "pg.stat_checkpointer.")
	}
	c.lockCounts(ctx, ms)
	c.replication(ctx, ms)
	return nil
}

// statDatabase reads pg_stat_database with each database's transaction-id
// age (how close it is to wraparound).
func (c *pgCollector) statDatabase(ctx context.Context, ms *metricSet) error {
	byCol := map[string]*metric{}
	err := c.r.query(ctx, `SELECT s.*, age(d.datfrozenxid) AS osprey_xid_age
FROM pg_stat_database s JOIN pg_database d ON d.oid = s.datid ORDER BY s.datname`, eachAny(func(cols []string, vals []any) {
		datname := ""
		for i, col := range cols {
			if col == "datname" {
				datname, _ = vals[i].(string)
			}
		}
		for i, col := range cols {
			name, unit, gauge, scale, ok := pgStatDatabaseColumn(col)
			if !ok {
				continue
			}
			v, ok := toNumber(vals[i], scale)
			if !ok {
				continue
			}
			m := byCol[col]
			if m == nil {
				if gauge {
					m = ms.gauge(name, unit)
				} else {
					m = ms.counter(name, unit)
				}
				byCol[col] = m
			}
			m.number(v, "datname", datname)
		}
	}))
	if err != nil {
		return fmt.Errorf("pg_stat_database: %w", err)
	}
	return nil
}

// pgStatDatabaseColumn names a pg_stat_database column's metric: times are
// milliseconds turned into seconds, numbackends is a level, the rest are
// counters since the last stats reset.
func pgStatDatabaseColumn(col string) (name, unit string, gauge bool, scale float64, ok bool) {
	switch col {
	case "datid", "datname", "stats_reset", "checksum_last_failure":
		return "", "", false, 0, false
	case "osprey_xid_age":
		return "pg.database.xid_age", "", true, 1, true
	case "numbackends":
		return "pg.stat_database.numbackends", "", true, 1, true
	case "temp_bytes":
		return "pg.stat_database.temp_bytes", "By", false, 1, true
	}
	if strings.HasSuffix(col, "_time") {
		return "pg.stat_database." + col, "s", false, 1e-3, true
	}
	return "pg.stat_database." + col, "", false, 1, true
}

// viewCounters turns every numeric column of a one-row statistics view
// into a counter; *_time columns are milliseconds.
func (c *pgCollector) viewCounters(ctx context.Context, ms *metricSet, view, prefix string) {
	err := c.r.query(ctx, "SELECT * FROM "+view, eachAny(func(cols []string, vals []any) {
		for i, col := range cols {
			if col == "stats_reset" {
				continue
			}
			unit, scale := "", 1.0
			if strings.HasSuffix(col, "_time") {
				unit, scale = "s", 1e-3
			}
			if v, ok := toNumber(vals[i], scale); ok {
				ms.counter(prefix+col, unit).number(v)
			}
		}
	}))
	if err != nil {
		c.r.warn(view, err)
	}
}

// pgActivity is pg_stat_activity summed up for client backends.
type pgActivity struct {
	byState map[string]int64 // all client connections, the module's own included
	total   int64
	// The rest leave out the module's own connection, which is always
	// active while it asks.
	active, idleInTx, waiting int64
}

// pgStates are emitted even at zero, so a chart of idle-in-transaction
// connections drops to 0 instead of ending.
var pgStates = []string{"active", "idle", "idle in transaction", "idle in transaction (aborted)"}

func (c *pgCollector) activityCounts(ctx context.Context, ms *metricSet) error {
	a := pgActivity{byState: map[string]int64{}}
	var oldest float64
	err := c.r.query(ctx, `SELECT coalesce(state, ''), count(*), count(*) FILTER (WHERE pid <> pg_backend_pid()),
  count(*) FILTER (WHERE wait_event_type = 'Lock'),
  coalesce(max(extract(epoch FROM now() - xact_start)::float8) FILTER (WHERE pid <> pg_backend_pid()), 0)
FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 1`, func(rows *sql.Rows) error {
		var state string
		var all, others, waiting int64
		var xactAge float64
		if err := rows.Scan(&state, &all, &others, &waiting, &xactAge); err != nil {
			return err
		}
		a.byState[state] += all
		a.total += all
		switch state {
		case "active":
			a.active += others
		case "idle in transaction", "idle in transaction (aborted)":
			a.idleInTx += others
		}
		a.waiting += waiting
		oldest = max(oldest, xactAge)
		return nil
	})
	if err != nil {
		return fmt.Errorf("pg_stat_activity counts: %w", err)
	}
	c.activity = a
	conns := ms.gauge("pg.connections", "")
	for _, s := range pgStates {
		conns.int(a.byState[s], "state", s)
	}
	for _, s := range slices.Sorted(maps.Keys(a.byState)) {
		if !slices.Contains(pgStates, s) {
			n := a.byState[s]
			if s == "" {
				s = "unknown"
			}
			conns.int(n, "state", s)
		}
	}
	ms.gauge("pg.oldest_transaction.age", "s").double(oldest)
	return nil
}

func (c *pgCollector) lockCounts(ctx context.Context, ms *metricSet) {
	var m *metric
	err := c.r.query(ctx, `SELECT mode, granted, count(*) FROM pg_locks
WHERE pid IS DISTINCT FROM pg_backend_pid() GROUP BY 1, 2 ORDER BY 1, 2`, func(rows *sql.Rows) error {
		var mode string
		var granted bool
		var n int64
		if err := rows.Scan(&mode, &granted, &n); err != nil {
			return err
		}
		if m == nil {
			m = ms.gauge("pg.locks", "")
		}
		m.int(n, "mode", mode, "granted", strconv.FormatBool(granted))
		return nil
	})
	if err != nil {
		c.r.warn("pg_locks", err)
	}
}

// replication reports a standby's replay delay, or a primary's per-standby
// replay lag, and max_connections. A standby that has replayed all it
// received is 0 behind, however long ago the primary last wrote.
func (c *pgCollector) replication(ctx context.Context, ms *metricSet) {
	var inRecovery bool
	var lag sql.NullFloat64
	var maxConn, senders int64
	err := c.r.row(ctx, `SELECT pg_is_in_recovery(),
  CASE WHEN NOT pg_is_in_recovery() THEN NULL
       WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
       ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END,
  current_setting('max_connections')::int,
  (SELECT count(*) FROM pg_stat_replication)`, []any{&inRecovery, &lag, &maxConn, &senders})
	if err != nil {
		c.r.warn("replication", err)
		return
	}
	ms.gauge("pg.settings.max_connections", "").int(maxConn)
	if inRecovery && lag.Valid {
		ms.gauge("pg.replication.lag", "s").double(lag.Float64)
	}
	if inRecovery || senders == 0 {
		return
	}
	var m *metric
	err = c.r.query(ctx, `SELECT coalesce(application_name, ''), coalesce(extract(epoch FROM replay_lag)::float8, 0)
FROM pg_stat_replication ORDER BY 1`, func(rows *sql.Rows) error {
		var app string
		var v float64
		if err := rows.Scan(&app, &v); err != nil {
			return err
		}
		if m == nil {
			m = ms.gauge("pg.replication.replay_lag", "s")
		}
		m.double(v, "application_name", app)
		return nil
	})
	if err != nil {
		c.r.warn("pg_stat_replication", err)
	}
}

const pgSessionsSQL = `SELECT pid, coalesce(usename, ''), coalesce(CASE WHEN family(client_addr) = 6 THEN '[' || host(client_addr) || ']' ELSE host(client_addr) END
    || ':' || client_port, 'local'),
  coalesce(datname, ''), coalesce(backend_type, ''), coalesce(state, ''),
  coalesce(wait_event_type || ':' || wait_event, ''),
  coalesce(extract(epoch FROM now() - state_change)::float8, 0), coalesce(query, ''),
  coalesce(extract(epoch FROM now() - xact_start)::float8, 0), coalesce(application_name, ''),
  coalesce(wait_event_type = 'Lock', false)
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND state <> 'idle' AND pid <> pg_backend_pid()
ORDER BY state_change NULLS LAST, pid
LIMIT $1`

func (c *pgCollector) sessions(ctx context.Context, limit int) (sessionSample, error) {
	body := &agentpb.DBSessions{
		Total:             uint32(c.activity.total),
		Active:            uint32(c.activity.active),
		IdleInTransaction: uint32(c.activity.idleInTx),
	}
	err := c.r.query(ctx, pgSessionsSQL, func(rows *sql.Rows) error {
		var s agentpb.DBSession
		var pid int64
		if err := rows.Scan(&pid, &s.User, &s.Host, &s.Database, &s.Command, &s.State, &s.WaitEvent,
			&s.TimeSeconds, &s.Query, &s.TransactionSeconds, &s.Application, &s.Blocked); err != nil {
			return err
		}
		s.Id = strconv.FormatInt(pid, 10)
		s.Query = c.r.text(s.Query)
		body.Sessions = append(body.Sessions, &s)
		return nil
	}, limit)
	if err != nil {
		return sessionSample{}, fmt.Errorf("pg_stat_activity: %w", err)
	}
	return sessionSample{body: body, blocked: int(c.activity.waiting)}, nil
}

// pgLockQuery returns the edge query for a server version. pg_locks is
// read once (a CTE) because every read takes all lock-manager partition
// locks; MATERIALIZED keeps PostgreSQL 12+ from inlining it back into each
// use. Relation ids name a table only inside their own database: a wait
// in another database than the one the agent is connected to shows as
// "db: relation OID". The wait starts at pg_locks.waitstart from 14 on, before that at
// the waiter's last state change.
func pgLockQuery(versionNum int) string {
	mat := ""
	if versionNum >= 120000 {
		mat = "MATERIALIZED "
	}
	waitStart := "w.state_change"
	if versionNum >= 140000 {
		waitStart = "coalesce(wl.waitstart, w.state_change)"
	}
	return `WITH l AS ` + mat + `(SELECT * FROM pg_locks)
SELECT w.pid, h.pid, coalesce(wl.mode, ''), coalesce(wl.locktype, ''),
  coalesce(CASE WHEN w.datname = current_database() THEN coalesce(wl.relation, tl.relation)::regclass::text
    ELSE w.datname || ': relation ' || coalesce(wl.relation, tl.relation)::text END, ''),
  coalesce(extract(epoch FROM now() - ` + waitStart + `)::float8, 0),
  coalesce(w.query, ''), coalesce(h.query, ''),
  coalesce(extract(epoch FROM now() - h.xact_start)::float8, 0),
  coalesce(w.usename, ''), coalesce(h.usename, ''), coalesce(h.state, ''),
  coalesce(hl.modes, '')
FROM pg_stat_activity w
CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS b(pid)
JOIN pg_stat_activity h ON h.pid = b.pid
LEFT JOIN LATERAL (SELECT * FROM l WHERE l.pid = w.pid AND NOT l.granted LIMIT 1) wl ON true
LEFT JOIN LATERAL (SELECT l.relation FROM l WHERE l.pid = w.pid AND l.granted AND l.locktype = 'tuple' LIMIT 1) tl ON true
LEFT JOIN LATERAL (SELECT string_agg(DISTINCT l.mode, ',') AS modes FROM l
  WHERE l.pid = h.pid AND l.granted AND l.locktype = wl.locktype
    AND l.database IS NOT DISTINCT FROM wl.database AND l.relation IS NOT DISTINCT FROM wl.relation
    AND l.page IS NOT DISTINCT FROM wl.page AND l.tuple IS NOT DISTINCT FROM wl.tuple
    AND l.virtualxid IS NOT DISTINCT FROM wl.virtualxid AND l.transactionid IS NOT DISTINCT FROM wl.transactionid
    AND l.classid IS NOT DISTINCT FROM wl.classid AND l.objid IS NOT DISTINCT FROM wl.objid
    AND l.objsubid IS NOT DISTINCT FROM wl.objsubid) hl ON true
WHERE w.wait_event_type = 'Lock' AND w.pid <> pg_backend_pid()
ORDER BY w.pid, h.pid`
}

func (c *pgCollector) locks(ctx context.Context) ([]*agentpb.DBLockWait, error) {
	var out []*agentpb.DBLockWait
	err := c.r.query(ctx, c.lockSQL, func(rows *sql.Rows) error {
		var e agentpb.DBLockWait
		var waiter, holder int64
		if err := rows.Scan(&waiter, &holder, &e.LockMode, &e.LockType, &e.Table, &e.WaitSeconds,
			&e.WaiterQuery, &e.HolderQuery, &e.HolderTransactionSeconds, &e.WaiterUser, &e.HolderUser,
			&e.HolderState, &e.HolderMode); err != nil {
			return err
		}
		e.WaiterId = strconv.FormatInt(waiter, 10)
		e.HolderId = strconv.FormatInt(holder, 10)
		e.WaiterQuery = c.r.text(e.WaiterQuery)
		e.HolderQuery = c.r.text(e.HolderQuery)
		out = append(out, &e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lock waits: %w", err)
	}
	return out, nil
}

// pgStatStatementsNotLoaded is the SQLSTATE pg_stat_statements raises when
// the extension exists but the library was not preloaded.
const pgStatStatementsNotLoaded = "55000"

func (c *pgCollector) statements(ctx context.Context) (stmtSample, error) {
	var schema, extVersion string
	err := c.r.row(ctx, `SELECT n.nspname, e.extversion FROM pg_extension e
JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'`, []any{&schema, &extVersion})
	if errors.Is(err, sql.ErrNoRows) {
		return stmtSample{hint: HintPGStatStatements}, nil
	}
	if err != nil {
		return stmtSample{}, fmt.Errorf("pg_stat_statements extension: %w", err)
	}
	rows := make(map[stmtKey]stmtCounters)
	err = c.r.query(ctx, pgStatementsQuery(schema, extVersion), func(r *sql.Rows) error {
		var k stmtKey
		var s stmtCounters
		var queryID int64
		var totalMs, maxMs float64
		if err := r.Scan(&k.database, &k.user, &queryID, &s.text, &s.calls, &totalMs, &s.rows, &maxMs); err != nil {
			return err
		}
		k.digest = strconv.FormatInt(queryID, 10)
		s.text = c.r.text(s.text)
		s.totalSeconds = totalMs / 1e3
		s.maxSeconds = maxMs / 1e3
		cur := rows[k]
		cur.add(s)
		rows[k] = cur
		return nil
	})
	if isPGCode(err, pgStatStatementsNotLoaded) {
		return stmtSample{hint: HintPGStatStatements}, nil
	}
	if err != nil {
		return stmtSample{}, fmt.Errorf("pg_stat_statements: %w", err)
	}
	return stmtSample{available: true, rows: rows}, nil
}

// pgStatementsQuery reads pg_stat_statements from the schema the extension
// lives in; version 1.8 (PostgreSQL 13) renamed total_time to
// total_exec_time when it began counting planning apart.
func pgStatementsQuery(schema, extVersion string) string {
	total, maxCol := "total_exec_time", "max_exec_time"
	if versionBefore(extVersion, 1, 8) {
		total, maxCol = "total_time", "max_time"
	}
	return `SELECT coalesce(d.datname, ''), coalesce(r.rolname, ''), s.queryid, coalesce(s.query, ''), s.calls,
  s.` + total + `, s.rows, s.` + maxCol + `
FROM ` + pgx.Identifier{schema, "pg_stat_statements"}.Sanitize() + ` s
LEFT JOIN pg_database d ON d.oid = s.dbid
LEFT JOIN pg_roles r ON r.oid = s.userid
WHERE s.queryid IS NOT NULL`
}

// versionBefore compares a "major.minor" extension version.
func versionBefore(v string, major, minor int) bool {
	maj, mi, _ := strings.Cut(v, ".")
	a, err := strconv.Atoi(maj)
	if err != nil {
		return false
	}
	b, _ := strconv.Atoi(mi)
	return a < major || (a == major && b < minor)
}

// eachAny adapts a callback over rows of unknown shape (SELECT *).
func eachAny(fn func(cols []string, vals []any)) func(*sql.Rows) error {
	var cols []string
	var vals []any
	var ptrs []any
	return func(rows *sql.Rows) error {
		if cols == nil {
			var err error
			if cols, err = rows.Columns(); err != nil {
				return err
			}
			vals = make([]any, len(cols))
			ptrs = make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		fn(cols, vals)
		return nil
	}
}

// toNumber reads a driver value as a number, scaled (ms to s); integers
// stay exact when not scaled. NULLs, text and timestamps are not numbers.
func toNumber(v any, scale float64) (numberValue, bool) {
	var f float64
	switch x := v.(type) {
	case int64:
		if scale == 1 {
			return intNumber(x), true
		}
		f = float64(x)
	case float64:
		f = x
	case string:
		p, err := strconv.ParseFloat(x, 64)
		if err != nil || !isDecimal(x) {
			return numberValue{}, false
		}
		f = p
	case []byte:
		return toNumber(string(x), scale)
	default:
		return numberValue{}, false
	}
	return floatNumber(f * scale), true
}
