package apm

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/XSAM/otelsql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// OpenDB opens a database/sql handle whose calls are spans (otelsql): each
// statement becomes an sql step of the calling transaction, with
// db.system / db.system.name, db.query.text and the server address, and
// new connections dbc steps. Calls without a span in their context (pool
// maintenance, startup queries) make no spans: they would otherwise each
// count as a transaction of their own. The spans go to the global
// TracerProvider, which Start sets; OpenDB may be called before Start.
func OpenDB(driverName, dsn string) (*sql.DB, error) {
	system := dbSystemName(driverName)
	attrs := []attribute.KeyValue{keyDBSystem.String(system), keyDBSysName.String(system)}
	if host, port := dsnAddress(system, dsn); host != "" {
		attrs = append(attrs, keyServerAddr.String(host))
		if port > 0 {
			attrs = append(attrs, keyServerPort.Int(port))
		}
	}
	db, err := otelsql.Open(driverName, dsn,
		otelsql.WithAttributes(attrs...),
		otelsql.WithSpanOptions(otelsql.SpanOptions{
			// Rows iteration, session resets and prepares would double
			// the spans per statement and count as SQL calls of their
			// own; the statement's span covers what matters.
			OmitRows:             true,
			OmitConnResetSession: true,
			OmitConnPrepare:      true,
			DisableErrSkip:       true,
			SpanFilter: func(ctx context.Context, _ otelsql.Method, _ string, _ []driver.NamedValue) bool {
				return trace.SpanContextFromContext(ctx).IsValid()
			},
		}),
		// A call the driver declines with ErrSkip (go-sql-driver/mysql
		// does for arguments without interpolateParams) is retried by
		// database/sql as prepare + execute under a span of its own; the
		// declined one is marked so the processor ignores it.
		otelsql.WithSpanErrorAttributesGetter(func(err error) []attribute.KeyValue {
			if errors.Is(err, driver.ErrSkip) {
				return []attribute.KeyValue{keySQLSkip.Bool(true)}
			}
			return nil
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("apm: open %s database: %w", driverName, err)
	}
	return db, nil
}

// dbSystemName maps a database/sql driver name to the semantic
// conventions' db.system.name.
func dbSystemName(driverName string) string {
	switch strings.ToLower(driverName) {
	case "mysql":
		return "mysql"
	case "postgres", "postgresql", "pgx", "pgx/v5", "pgx/v4", "cloudsqlpostgres":
		return "postgresql"
	case "sqlite", "sqlite3":
		return "sqlite"
	case "sqlserver", "mssql":
		return "microsoft.sql_server"
	case "oracle", "godror", "oci8":
		return "oracle.db"
	case "clickhouse":
		return "clickhouse"
	}
	return strings.ToLower(driverName)
}

// dsnAddress finds the server host and port in a DSN: MySQL's
// user:pass@tcp(host:port)/db, URLs (postgres://user@host:port/db) and
// PostgreSQL's key=value form. Missing ports are the engine's default, so
// every caller of one server uses the same out target.
func dsnAddress(system, dsn string) (string, int) {
	defPort := 0
	switch system {
	case "mysql":
		defPort = 3306
	case "postgresql":
		defPort = 5432
	}
	var host, port string
	switch {
	case strings.Contains(dsn, "://"):
		u, err := url.Parse(dsn)
		if err != nil {
			return "", 0
		}
		host, port = u.Hostname(), u.Port()
		if strings.Contains(host, ",") { // multi-host URL: the first
			host = strings.Split(host, ",")[0]
		}
	case system == "postgresql" && strings.Contains(dsn, "="):
		for _, f := range strings.Fields(dsn) {
			k, v, _ := strings.Cut(f, "=")
			v = strings.Trim(v, "'")
			switch k {
			case "host":
				host = strings.Split(v, ",")[0]
			case "port":
				port = strings.Split(v, ",")[0]
			}
		}
		if host == "" {
			host = "localhost"
		}
	case system == "mysql":
		addr := "127.0.0.1:3306" // the driver's default
		if at := strings.LastIndexByte(dsn, '@'); at >= 0 {
			rest := dsn[at+1:]
			if o, c := strings.IndexByte(rest, '('), strings.IndexByte(rest, ')'); o >= 0 && c > o {
				if strings.HasPrefix(rest, "unix") {
					return "localhost", 0
				}
				addr = rest[o+1 : c]
			}
		}
		h, p, err := net.SplitHostPort(addr)
		if err != nil {
			h, p = addr, ""
		}
		host, port = h, p
	default:
		return "", 0
	}
	if strings.HasPrefix(host, "/") {
		// A unix socket: no network address to join callers with.
		return "localhost", 0
	}
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 {
		n = defPort
	}
	return host, n
}
