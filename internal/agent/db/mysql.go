package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// MySQL and MariaDB server error numbers the collector reacts to.
const (
	mysqlErrParse           = 1064 // syntax error: an older server without the statement
	mysqlErrUnknownVariable = 1193
	mysqlErrAccessDenied    = 1227 // missing privilege (PROCESS, REPLICATION CLIENT, SLAVE MONITOR)
	mysqlErrUnknownTable    = 1109
	mysqlErrNoSuchTable     = 1146
)

func isMySQLErr(err error, numbers ...uint16) bool {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	for _, n := range numbers {
		if me.Number == n {
			return true
		}
	}
	return false
}

// mysqlConnector parses a go-sql-driver DSN and puts the session guards on
// every connection: statements cut off at the query timeout by the server
// itself (so a cancelled client does not leave a query running), a
// read-only session, and lock waits of one second at most.
func mysqlConnector(s settings, logger *slog.Logger) (prepared, error) {
	cfg, err := mysql.ParseDSN(s.dsn)
	if err != nil {
		return prepared{}, fmt.Errorf("parse mysql dsn: %w", err)
	}
	if s.password != "" {
		cfg.Passwd = s.password
	}
	cfg.Timeout = s.queryTimeout
	// Backstops only: every query runs under a context that ends sooner.
	cfg.ReadTimeout = 2*s.queryTimeout + time.Second
	cfg.WriteTimeout = 2*s.queryTimeout + time.Second
	cfg.Logger = mysqlLogger{logger}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return prepared{}, fmt.Errorf("mysql connector: %w", err)
	}
	ep := endpoint{host: cfg.Addr}
	if cfg.Net != "unix" {
		if h, p, err := net.SplitHostPort(cfg.Addr); err == nil {
			ep.host = h
			ep.port, _ = strconv.Atoi(p)
		}
	}
	return prepared{conn: guardConnector{Connector: conn, steps: mysqlGuards(s.queryTimeout)}, ep: ep, password: cfg.Passwd}, nil
}

func mysqlGuards(timeout time.Duration) []guardStep {
	unknown := func(err error) bool { return isMySQLErr(err, mysqlErrUnknownVariable, mysqlErrParse) }
	return []guardStep{
		{alternatives: []string{
			// MariaDB: seconds, every statement.
			fmt.Sprintf("SET SESSION max_statement_time = %.3f", timeout.Seconds()),
			// MySQL 5.7.8+: milliseconds, SELECTs.
			fmt.Sprintf("SET SESSION max_execution_time = %d", timeout.Milliseconds()),
		}, skip: unknown},
		{alternatives: []string{"SET SESSION TRANSACTION READ ONLY"}, skip: unknown},
		{alternatives: []string{"SET SESSION lock_wait_timeout = 1"}, skip: unknown},
		{alternatives: []string{"SET SESSION innodb_lock_wait_timeout = 1"}, skip: unknown},
	}
}

// mysqlLogger sends the driver's own complaints (broken packets on a
// restarting server) to slog at debug level instead of stderr.
type mysqlLogger struct{ l *slog.Logger }

func (m mysqlLogger) Print(v ...any) { m.l.Debug("mysql driver", "msg", fmt.Sprint(v...)) }

// mysqlCollector serves MySQL 5.7+, MySQL 8 and MariaDB 10.x+. What differs
// between them is found out by probe from the server itself, not from the
// version string.
type mysqlCollector struct {
	r          *runner
	mariadb    bool
	perfSchema bool
	tables     map[string]bool // lower-case schema.table of the optional views
	plCols     map[string]bool // upper-case columns of information_schema.PROCESSLIST
	sessionSQL string
	lockSQL    string // empty when no lock view is usable
	replicaSQL string // empty when not allowed
	start      time.Time
	names      map[string]*statusName
}

func newMySQLCollector(r *runner) collector { return &mysqlCollector{r: r} }

// Optional tables probe looks for.
const (
	tblInnoDBTrx       = "information_schema.innodb_trx"
	tblInnoDBLocks     = "information_schema.innodb_locks"
	tblInnoDBLockWaits = "information_schema.innodb_lock_waits"
	tblDataLocks       = "performance_schema.data_locks"
	tblDataLockWaits   = "performance_schema.data_lock_waits"
	tblThreads         = "performance_schema.threads"
	tblStmtCurrent     = "performance_schema.events_statements_current"
	tblStmtDigest      = "performance_schema.events_statements_summary_by_digest"
)

const mysqlTablesSQL = `SELECT LOWER(CONCAT(TABLE_SCHEMA, '.', TABLE_NAME)) FROM information_schema.TABLES
WHERE (TABLE_SCHEMA = 'information_schema' AND TABLE_NAME IN ('INNODB_TRX', 'INNODB_LOCKS', 'INNODB_LOCK_WAITS'))
   OR (TABLE_SCHEMA = 'performance_schema' AND TABLE_NAME IN ('data_locks', 'data_lock_waits', 'threads',
       'events_statements_current', 'events_statements_summary_by_digest'))`

const mysqlProcesslistColsSQL = `SELECT UPPER(COLUMN_NAME) FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = 'information_schema' AND TABLE_NAME = 'PROCESSLIST'`

func (c *mysqlCollector) probe(ctx context.Context) (serverInfo, error) {
	var version string
	var ps sql.NullInt64
	err := c.r.row(ctx, "SELECT VERSION(), @@performance_schema", []any{&version, &ps})
	if isMySQLErr(err, mysqlErrUnknownVariable) {
		// Built without the performance schema.
		ps = sql.NullInt64{}
		err = c.r.row(ctx, "SELECT VERSION()", []any{&version})
	}
	if err != nil {
		return serverInfo{}, fmt.Errorf("version: %w", err)
	}
	c.mariadb = strings.Contains(strings.ToLower(version), "mariadb")
	c.perfSchema = ps.Valid && ps.Int64 == 1

	c.tables = map[string]bool{}
	if err := c.r.query(ctx, mysqlTablesSQL, func(rows *sql.Rows) error {
		var t string
		if err := rows.Scan(&t); err != nil {
			return err
		}
		c.tables[t] = true
		return nil
	}); err != nil {
		return serverInfo{}, fmt.Errorf("optional tables: %w", err)
	}
	c.plCols = map[string]bool{}
	if err := c.r.query(ctx, mysqlProcesslistColsSQL, func(rows *sql.Rows) error {
		var col string
		if err := rows.Scan(&col); err != nil {
			return err
		}
		c.plCols[col] = true
		return nil
	}); err != nil {
		return serverInfo{}, fmt.Errorf("processlist columns: %w", err)
	}

	c.sessionSQL = mysqlSessionsQuery(c.tables[tblInnoDBTrx], c.plCols)
	src := pickMySQLLockSource(c.tables, c.perfSchema)
	lastStmt := c.perfSchema && c.tables[tblStmtCurrent] && c.tables[tblThreads]
	c.lockSQL = mysqlLockQuery(src, lastStmt)
	c.replicaSQL = "SHOW REPLICA STATUS"
	return serverInfo{version: version}, nil
}

func (c *mysqlCollector) stats(ctx context.Context, ms *metricSet) error {
	type status struct {
		name *statusName
		v    numberValue
	}
	vals := make([]status, 0, len(c.names))
	uptime := int64(-1)
	var raw []byte
	var value sql.NullString
	err := c.r.query(ctx, "SHOW GLOBAL STATUS", func(rows *sql.Rows) error {
		if err := rows.Scan(&raw, &value); err != nil {
			return err
		}
		n := c.statusName(raw)
		v, ok := parseStatusValue(n.lower, value.String)
		if !ok {
			return nil
		}
		if n.lower == "uptime" && v.isInt {
			uptime = v.i
		}
		vals = append(vals, status{n, v})
		return nil
	})
	if err != nil {
		return fmt.Errorf("global status: %w", err)
	}
	if uptime >= 0 {
		c.noteStart(ms.ts.AsTime().Add(-time.Duration(uptime) * time.Second))
	}
	ms.setStart(c.start)
	for _, s := range vals {
		if s.name.gauge {
			ms.gauge(s.name.metric, "").number(s.v)
		} else {
			ms.counter(s.name.metric, "").number(s.v)
		}
	}

	var maxConn int64
	if err := c.r.row(ctx, "SELECT @@GLOBAL.max_connections", []any{&maxConn}); err != nil {
		c.r.warn("max_connections", err)
	} else {
		ms.gauge("mysql.global.variables.max_connections", "").int(maxConn)
	}
	c.replica(ctx, ms)
	return nil
}

// statusName is a status variable's metric name and kind, worked out once
// per variable rather than every cycle.
type statusName struct {
	lower, metric string
	gauge         bool
}

func (c *mysqlCollector) statusName(raw []byte) *statusName {
	if n, ok := c.names[string(raw)]; ok {
		return n
	}
	lower := strings.ToLower(string(raw))
	n := &statusName{lower: lower, metric: mysqlStatusPrefix + lower, gauge: mysqlStatusIsGauge(lower)}
	if c.names == nil {
		c.names = map[string]*statusName{}
	}
	c.names[string(raw)] = n
	return n
}

// noteStart keeps the server start derived from Uptime steady: now-Uptime
// wobbles by a second between cycles, and a moving start timestamp would
// read as a counter reset. A jump of more than a few seconds is a restart.
func (c *mysqlCollector) noteStart(t time.Time) {
	t = t.Truncate(time.Second)
	if d := t.Sub(c.start); c.start.IsZero() || d > 2*time.Second || d < -2*time.Second {
		c.start = t
	}
}

// replica reports replication lag and thread state when this server is a
// replica (SHOW REPLICA STATUS returns a row); a primary gets nothing.
func (c *mysqlCollector) replica(ctx context.Context, ms *metricSet) {
	if c.replicaSQL == "" {
		return
	}
	var rows []map[string]sql.NullString
	read := func(r *sql.Rows) error {
		cols, err := r.Columns()
		if err != nil {
			return err
		}
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			return err
		}
		m := make(map[string]sql.NullString, len(cols))
		for i, col := range cols {
			m[col] = vals[i]
		}
		rows = append(rows, m)
		return nil
	}
	err := c.r.query(ctx, c.replicaSQL, read)
	if isMySQLErr(err, mysqlErrParse) && c.replicaSQL != "SHOW SLAVE STATUS" {
		// MySQL before 8.0.22, MariaDB before 10.5.1.
		c.replicaSQL = "SHOW SLAVE STATUS"
		err = c.r.query(ctx, c.replicaSQL, read)
	}
	if err != nil {
		if isMySQLErr(err, mysqlErrAccessDenied) {
			// Not granted: ask again only after a reconnect.
			c.replicaSQL = ""
		}
		c.r.warn("replica status", err)
		return
	}
	var lag, io, sqlRun *metric
	for _, row := range rows {
		attrs := []string{}
		if ch := firstOf(row, "Channel_Name", "Connection_name"); ch.String != "" {
			attrs = append(attrs, "channel", ch.String)
		}
		if s := firstOf(row, "Seconds_Behind_Source", "Seconds_Behind_Master"); s.Valid {
			if v, err := strconv.ParseFloat(s.String, 64); err == nil {
				if lag == nil {
					lag = ms.gauge("mysql.replica.lag", "s")
				}
				lag.double(v, attrs...)
			}
		}
		if io == nil {
			io = ms.gauge("mysql.replica.io_running", "")
			sqlRun = ms.gauge("mysql.replica.sql_running", "")
		}
		io.int(boolInt(strings.EqualFold(firstOf(row, "Replica_IO_Running", "Slave_IO_Running").String, "Yes")), attrs...)
		sqlRun.int(boolInt(strings.EqualFold(firstOf(row, "Replica_SQL_Running", "Slave_SQL_Running").String, "Yes")), attrs...)
	}
}

func firstOf(row map[string]sql.NullString, names ...string) sql.NullString {
	for _, n := range names {
		if v, ok := row[n]; ok {
			return v
		}
	}
	return sql.NullString{}
}

// mysqlSessionsQuery reads every connection in one pass (the counts need
// the idle ones too), with the open transaction's state and age when
// InnoDB is there, and MariaDB's millisecond time and row counters when
// the processlist has them.
func mysqlSessionsQuery(hasTrx bool, cols map[string]bool) string {
	timeExpr := "p.TIME"
	if cols["TIME_MS"] {
		timeExpr = "p.TIME_MS / 1000"
	}
	examined, sent := "0", "0"
	if cols["EXAMINED_ROWS"] {
		examined = "COALESCE(p.EXAMINED_ROWS, 0)"
	}
	if cols["SENT_ROWS"] {
		sent = "COALESCE(p.SENT_ROWS, 0)"
	}
	trxState, trxAge, join := "''", "0", ""
	if hasTrx {
		trxState = "COALESCE(t.trx_state, '')"
		trxAge = "COALESCE(TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), 0)"
		join = "\nLEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID"
	}
	return "SELECT p.ID, COALESCE(p.USER, ''), COALESCE(p.HOST, ''), COALESCE(p.DB, ''), COALESCE(p.COMMAND, ''), " +
		"COALESCE(" + timeExpr + ", 0), COALESCE(p.STATE, ''), COALESCE(p.INFO, ''), " +
		trxState + ", " + trxAge + ", " + examined + ", " + sent + ", p.ID = CONNECTION_ID()" +
		"\nFROM information_schema.PROCESSLIST p" + join
}

// mysqlSession is one PROCESSLIST row.
type mysqlSession struct {
	id                      int64
	user, host, db, command string
	state, info, trxState   string
	seconds, trxSeconds     float64
	rowsExamined, rowsSent  uint64
	self                    bool
}

func (c *mysqlCollector) sessions(ctx context.Context, limit int) (sessionSample, error) {
	var all []mysqlSession
	err := c.r.query(ctx, c.sessionSQL, func(rows *sql.Rows) error {
		var s mysqlSession
		if err := rows.Scan(&s.id, &s.user, &s.host, &s.db, &s.command, &s.seconds, &s.state, &s.info,
			&s.trxState, &s.trxSeconds, &s.rowsExamined, &s.rowsSent, &s.self); err != nil {
			return err
		}
		all = append(all, s)
		return nil
	})
	if err != nil {
		return sessionSample{}, fmt.Errorf("processlist: %w", err)
	}
	return mysqlSessionSample(all, limit, c.r.text), nil
}

// mysqlIdleCommands are the COMMAND values of connections not running
// anything worth listing: idle clients, server daemons, and replicas
// waiting on the binlog.
var mysqlIdleCommands = setOf("Sleep", "Daemon", "Binlog Dump", "Binlog Dump GTID")

// mysqlSessionSample counts over every connection and lists the non-idle
// ones other than the module's own, longest-running first.
func mysqlSessionSample(all []mysqlSession, limit int, text func(string) string) sessionSample {
	body := &agentpb.DBSessions{}
	var out sessionSample
	list := make([]mysqlSession, 0, len(all))
	for _, s := range all {
		if s.command == "Daemon" || s.user == "system user" {
			continue // server threads, not connections
		}
		body.Total++
		if s.self {
			continue
		}
		if s.command == "Sleep" {
			if s.trxState != "" {
				body.IdleInTransaction++
			}
			continue
		}
		if mysqlIdleCommands[s.command] {
			continue
		}
		body.Active++
		if mysqlBlocked(s) {
			out.blocked++
		}
		list = append(list, s)
	}
	sortSessions(list, func(s mysqlSession) float64 { return s.seconds })
	if len(list) > limit {
		list = list[:limit]
	}
	body.Sessions = make([]*agentpb.DBSession, 0, len(list))
	for _, s := range list {
		ds := &agentpb.DBSession{
			Id:                 strconv.FormatInt(s.id, 10),
			User:               s.user,
			Host:               s.host,
			Database:           s.db,
			Command:            s.command,
			State:              s.state,
			TimeSeconds:        s.seconds,
			Query:              text(s.info),
			TransactionSeconds: s.trxSeconds,
			RowsExamined:       s.rowsExamined,
			RowsSent:           s.rowsSent,
			Blocked:            mysqlBlocked(s),
		}
		if ds.Blocked {
			ds.WaitEvent = s.state
			if s.trxState == "LOCK WAIT" {
				ds.WaitEvent = "InnoDB row lock"
			}
		}
		body.Sessions = append(body.Sessions, ds)
	}
	out.body = body
	return out
}

// mysqlBlocked: an InnoDB row-lock wait shows in INNODB_TRX; table and
// metadata lock waits only in the thread state.
func mysqlBlocked(s mysqlSession) bool {
	if s.trxState == "LOCK WAIT" {
		return true
	}
	st := strings.ToLower(s.state)
	return strings.HasPrefix(st, "waiting for") && strings.Contains(st, "lock")
}

func (c *mysqlCollector) locks(ctx context.Context) ([]*agentpb.DBLockWait, error) {
	if c.lockSQL == "" {
		return nil, nil
	}
	var rows []mysqlLockRow
	err := c.r.query(ctx, c.lockSQL, func(r *sql.Rows) error {
		var l mysqlLockRow
		if err := r.Scan(&l.waiterID, &l.holderID, &l.mode, &l.lockType, &l.table, &l.index, &l.holderMode,
			&l.waitSeconds, &l.waiterQuery, &l.holderQuery, &l.holderTrxSeconds,
			&l.waiterUser, &l.holderUser, &l.holderCommand, &l.holderState, &l.holderLast); err != nil {
			return err
		}
		rows = append(rows, l)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lock waits: %w", err)
	}
	return mysqlLockEdges(rows, c.r.text), nil
}

func (c *mysqlCollector) statements(ctx context.Context) (stmtSample, error) {
	if !c.perfSchema || !c.tables[tblStmtDigest] {
		return stmtSample{hint: HintMySQLPerformanceSchema}, nil
	}
	rows := make(map[stmtKey]stmtCounters)
	err := c.r.query(ctx, mysqlDigestSQL, func(r *sql.Rows) error {
		var k stmtKey
		var s stmtCounters
		var sumTimer, maxTimer uint64
		if err := r.Scan(&k.database, &k.digest, &s.text, &s.calls, &sumTimer, &s.rows, &s.rowsExamined,
			&s.errors, &maxTimer); err != nil {
			return err
		}
		s.text = c.r.text(s.text)
		s.totalSeconds = picoseconds(sumTimer)
		s.maxSeconds = picoseconds(maxTimer)
		cur := rows[k]
		cur.add(s)
		rows[k] = cur
		return nil
	})
	if isMySQLErr(err, mysqlErrNoSuchTable, mysqlErrUnknownTable) {
		return stmtSample{hint: HintMySQLPerformanceSchema}, nil
	}
	if err != nil {
		return stmtSample{}, fmt.Errorf("statement digests: %w", err)
	}
	return stmtSample{available: true, rows: rows}, nil
}

const mysqlDigestSQL = `SELECT COALESCE(SCHEMA_NAME, ''), COALESCE(DIGEST, ''), COALESCE(DIGEST_TEXT, ''),
COUNT_STAR, SUM_TIMER_WAIT, SUM_ROWS_SENT, SUM_ROWS_EXAMINED, SUM_ERRORS, MAX_TIMER_WAIT
FROM performance_schema.events_statements_summary_by_digest`

// picoseconds converts performance_schema timer values to seconds.
func picoseconds(ps uint64) float64 { return float64(ps) / 1e12 }
