// Package db is the agent's database-monitoring module. It watches MySQL,
// MariaDB and PostgreSQL instances over an ordinary client connection
// (nothing is installed on the database host): every cycle it sends the
// server's status counters as OTLP metrics and the running sessions and lock
// waits as agent-protocol snapshots, and every few minutes the per-statement
// work since the last look. An engine is one file implementing collector;
// adding Oracle or Redis does not change the module.
//
// Each instance uses at most two connections, every query runs under the
// query timeout with server-side guards (statement timeout, read-only
// session, one-second lock waits), and a slow or unreachable server is
// asked less often (back-off up to a minute) while osprey.db.up=0 is still
// sent.
//
// The monitoring user needs, on MySQL/MariaDB: PROCESS, REPLICATION CLIENT
// (SLAVE MONITOR on MariaDB 10.5+) and SELECT on performance_schema; on
// PostgreSQL: membership of pg_monitor. Configuration:
//
//	modules:
//	  db:
//	    enabled: true
//	    instances:
//	      - name: orders-primary
//	        group: orders
//	        engine: mysql          # MySQL and MariaDB
//	        dsn_env: ORDERS_DSN    # monitor:secret@tcp(10.0.0.5:3306)/
//	      - name: billing
//	        engine: postgresql
//	        dsn: postgres://osprey@10.0.0.6:5432/postgres?sslmode=require
//	        password_env: BILLING_PW
//	        statements_interval: 5m
//	        mask_literals: true
package db

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Defaults of InstanceConfig.
const (
	DefaultGroup              = "default"
	DefaultInterval           = 5 * time.Second
	DefaultQueryTimeout       = 2 * time.Second
	DefaultStatementsInterval = 5 * time.Minute
	DefaultMaxSessions        = 500
	DefaultTopStatements      = 200
)

// Engine names accepted in InstanceConfig.Engine.
const (
	EngineMySQL      = "mysql"
	EnginePostgreSQL = "postgresql"
)

// Config is the db module's section of the agent configuration.
type Config struct {
	Enabled   bool             `yaml:"enabled"`
	Instances []InstanceConfig `yaml:"instances"`
}

// InstanceConfig is one monitored database server.
type InstanceConfig struct {
	Name   string `yaml:"name"`   // required, unique
	Group  string `yaml:"group"`  // default "default"
	Engine string `yaml:"engine"` // "mysql" (MySQL and MariaDB) or "postgresql"
	// DSN is a go-sql-driver DSN (user:pass@tcp(host:3306)/) or a
	// postgres:// URL / key=value DSN.
	DSN string `yaml:"dsn"`
	// DSNEnv names an environment variable holding the DSN, so the secret
	// need not sit in the file.
	DSNEnv string `yaml:"dsn_env"`
	// PasswordEnv names an environment variable holding the password, laid
	// into a DSN written without one.
	PasswordEnv        string        `yaml:"password_env"`
	Interval           time.Duration `yaml:"interval"`            // default 5s
	QueryTimeout       time.Duration `yaml:"query_timeout"`       // default 2s
	StatementsInterval time.Duration `yaml:"statements_interval"` // default 5m
	MaskLiterals       *bool         `yaml:"mask_literals"`       // default true
	MaxSessions        int           `yaml:"max_sessions"`        // default 500
	TopStatements      int           `yaml:"top_statements"`      // default 200
}

// settings is an InstanceConfig with defaults applied and secrets resolved.
type settings struct {
	name, group, engine string
	dsn, password       string
	interval            time.Duration
	queryTimeout        time.Duration
	statementsInterval  time.Duration
	mask                bool
	maxSessions         int
	topStatements       int
}

// lookupEnv is os.LookupEnv, replaceable in tests.
type lookupEnv func(string) (string, bool)

// validate checks the whole configuration and returns one settings per
// instance. Errors name the instance by position and name and never
// contain a DSN or password.
func (c Config) validate(env lookupEnv) ([]settings, error) {
	if env == nil {
		env = os.LookupEnv
	}
	seen := make(map[string]bool, len(c.Instances))
	out := make([]settings, 0, len(c.Instances))
	var errs []error
	for i, ic := range c.Instances {
		s, err := ic.settings(env)
		if err != nil {
			errs = append(errs, fmt.Errorf("db: instances[%d] %q: %w", i, ic.Name, err))
			continue
		}
		if seen[s.name] {
			errs = append(errs, fmt.Errorf("db: instances[%d]: duplicate name %q", i, s.name))
			continue
		}
		seen[s.name] = true
		out = append(out, s)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func (ic InstanceConfig) settings(env lookupEnv) (settings, error) {
	s := settings{
		name:               strings.TrimSpace(ic.Name),
		group:              strings.TrimSpace(ic.Group),
		interval:           ic.Interval,
		queryTimeout:       ic.QueryTimeout,
		statementsInterval: ic.StatementsInterval,
		mask:               ic.MaskLiterals == nil || *ic.MaskLiterals,
		maxSessions:        ic.MaxSessions,
		topStatements:      ic.TopStatements,
	}
	if s.name == "" {
		return s, errors.New("name is required")
	}
	if s.group == "" {
		s.group = DefaultGroup
	}
	engine, ok := canonicalEngine(ic.Engine)
	if !ok {
		return s, fmt.Errorf("unknown engine %q (want %s or %s)", ic.Engine, EngineMySQL, EnginePostgreSQL)
	}
	s.engine = engine

	switch {
	case ic.DSN != "" && ic.DSNEnv != "":
		return s, errors.New("set dsn or dsn_env, not both")
	case ic.DSN != "":
		s.dsn = ic.DSN
	case ic.DSNEnv != "":
		v, _ := env(ic.DSNEnv)
		if strings.TrimSpace(v) == "" {
			return s, fmt.Errorf("dsn_env %s is unset or empty", ic.DSNEnv)
		}
		s.dsn = v
	default:
		return s, errors.New("no dsn: set dsn or dsn_env")
	}
	if ic.PasswordEnv != "" {
		v, ok := env(ic.PasswordEnv)
		if !ok || v == "" {
			return s, fmt.Errorf("password_env %s is unset or empty", ic.PasswordEnv)
		}
		s.password = v
	}

	if s.interval == 0 {
		s.interval = DefaultInterval
	}
	if s.queryTimeout == 0 {
		s.queryTimeout = DefaultQueryTimeout
	}
	if s.statementsInterval == 0 {
		s.statementsInterval = DefaultStatementsInterval
	}
	if s.maxSessions == 0 {
		s.maxSessions = DefaultMaxSessions
	}
	if s.topStatements == 0 {
		s.topStatements = DefaultTopStatements
	}
	switch {
	case s.interval < time.Second:
		return s, fmt.Errorf("interval %s is below 1s", s.interval)
	case s.queryTimeout < 0:
		return s, fmt.Errorf("query_timeout %s is negative", s.queryTimeout)
	case s.statementsInterval < s.interval:
		return s, fmt.Errorf("statements_interval %s is shorter than interval %s", s.statementsInterval, s.interval)
	case s.maxSessions < 0:
		return s, fmt.Errorf("max_sessions %d is negative", s.maxSessions)
	case s.topStatements < 0:
		return s, fmt.Errorf("top_statements %d is negative", s.topStatements)
	}
	return s, nil
}

// canonicalEngine accepts the product names people write as well.
func canonicalEngine(e string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(e)) {
	case "mysql", "mariadb":
		return EngineMySQL, true
	case "postgresql", "postgres", "pg":
		return EnginePostgreSQL, true
	}
	return "", false
}
