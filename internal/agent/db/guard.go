package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"
)

// Pool limits: the issue allows at most two connections per instance, so
// a monitored server never sees the agent as more than two sessions.
const (
	maxConns        = 2
	connMaxLifetime = 10 * time.Minute
)

func openPool(c driver.Connector) *sql.DB {
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxLifetime(connMaxLifetime)
	return db
}

// guardStep is one session setting applied on connect. The alternatives
// are tried in order until one works, because MySQL and MariaDB name the
// same guard differently; skip says whether an error only means "this
// server has no such setting" so the next alternative (or none) is fine.
type guardStep struct {
	alternatives []string
	skip         func(error) bool
}

// guardConnector runs the guard steps on every new connection before
// database/sql hands it out, so even a connection opened after a server
// restart runs read-only with short lock waits.
type guardConnector struct {
	driver.Connector
	steps []guardStep
}

func (g guardConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := g.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("driver connection %T cannot execute statements", conn)
	}
	for _, st := range g.steps {
		if err := st.apply(ctx, ex); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return conn, nil
}

func (st guardStep) apply(ctx context.Context, ex driver.ExecerContext) error {
	for _, q := range st.alternatives {
		_, err := ex.ExecContext(ctx, q, nil)
		if err == nil {
			return nil
		}
		if st.skip == nil || !st.skip(err) {
			return fmt.Errorf("session guard %q: %w", q, err)
		}
	}
	// No alternative exists on this server: it has no such guard, and the
	// others still hold.
	return nil
}
