// Package dbtest starts private MariaDB and PostgreSQL servers from the
// installed binaries for tests, and sets up throw-away databases and
// monitoring users on the machine's own servers. It is imported by tests
// only: the db module's, and the end-to-end tests that need a database
// with settings the system servers do not have (performance_schema,
// pg_stat_statements) or one they may stop and start.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// SkipOrFail skips the test, except in CI (CI=true) where a missing
// database or binary is a broken set-up and fails it.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// Server is a private database server in a temporary directory, removed
// when the test ends.
type Server struct {
	// Engine is "mysql" (MariaDB) or "postgresql".
	Engine string
	// DSN is the superuser DSN: go-sql-driver form for MariaDB, a
	// postgres:// URL for PostgreSQL.
	DSN  string
	Host string
	Port int
	Dir  string

	t     testing.TB
	bin   string
	args  []string
	cred  *syscall.Credential
	log   string
	stopS syscall.Signal

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// MariaDBOptions configures StartMariaDB.
type MariaDBOptions struct {
	// PerformanceSchema turns performance_schema on, with the
	// events_statements_current consumer (the holder's last statement in
	// lock waits).
	PerformanceSchema bool
	// ExtraArgs are added to the mariadbd command line.
	ExtraArgs []string
}

// PostgresOptions configures StartPostgres.
type PostgresOptions struct {
	// PgStatStatements preloads pg_stat_statements (the extension still
	// has to be created in a database).
	PgStatStatements bool
	// Settings are extra -c name=value settings.
	Settings []string
}

// StartMariaDB installs a fresh data directory and starts mariadbd on a
// free port of 127.0.0.1 with root and no password.
func StartMariaDB(t testing.TB, opts MariaDBOptions) *Server {
	t.Helper()
	server := findBinary("mariadbd", "/usr/sbin/mariadbd", "mysqld", "/usr/sbin/mysqld")
	install := findBinary("mariadb-install-db", "mysql_install_db")
	if server == "" || install == "" {
		SkipOrFail(t, "dbtest: mariadbd or mariadb-install-db not installed")
	}
	dir := tempDir(t, "osprey-dbtest-mariadb-", nil)
	data := filepath.Join(dir, "data")
	small := []string{"--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M"}
	asRoot := os.Geteuid() == 0
	iargs := append([]string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal",
		"--skip-test-db", "--skip-name-resolve"}, small...)
	if asRoot {
		iargs = append(iargs, "--user=root")
	}
	run(t, exec.Command(install, iargs...), nil, filepath.Join(dir, "install.log"))

	port := freePort(t)
	args := append([]string{"--no-defaults", "--datadir=" + data, "--socket=" + filepath.Join(dir, "sock"),
		"--port=" + strconv.Itoa(port), "--bind-address=127.0.0.1", "--pid-file=" + filepath.Join(dir, "pid"),
		"--log-error=" + filepath.Join(dir, "error.log"), "--tmpdir=" + dir, "--skip-log-bin",
		"--skip-name-resolve", "--max-connections=60"}, small...)
	if opts.PerformanceSchema {
		args = append(args, "--performance-schema=ON", "--performance-schema-consumer-events-statements-current=ON")
	} else {
		args = append(args, "--performance-schema=OFF")
	}
	if asRoot {
		args = append(args, "--user=root")
	}
	args = append(args, opts.ExtraArgs...)
	s := &Server{
		Engine: "mysql", DSN: fmt.Sprintf("root@tcp(127.0.0.1:%d)/", port), Host: "127.0.0.1", Port: port,
		Dir: dir, t: t, bin: server, args: args, log: filepath.Join(dir, "error.log"), stopS: syscall.SIGTERM,
	}
	t.Cleanup(s.Stop)
	s.Start()
	return s
}

// StartPostgres runs initdb and starts postgres on a free port of
// 127.0.0.1 with trust authentication for user postgres. Run as root (as
// tests here are), the server runs as the postgres OS user, since
// PostgreSQL refuses root.
func StartPostgres(t testing.TB, opts PostgresOptions) *Server {
	t.Helper()
	bindir := pgBinDir()
	if bindir == "" {
		SkipOrFail(t, "dbtest: PostgreSQL server binaries not installed")
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			SkipOrFail(t, "dbtest: running as root and there is no postgres user to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir := tempDir(t, "osprey-dbtest-pg-", cred)
	data := filepath.Join(dir, "data")
	run(t, exec.Command(filepath.Join(bindir, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"--no-sync", "-E", "UTF8", "--locale=C"), cred, filepath.Join(dir, "initdb.log"))

	port := freePort(t)
	args := []string{"-D", data, "-p", strconv.Itoa(port), "-k", dir, "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "shared_buffers=16MB", "-c", "max_connections=40"}
	if opts.PgStatStatements {
		args = append(args, "-c", "shared_preload_libraries=pg_stat_statements")
	}
	for _, kv := range opts.Settings {
		args = append(args, "-c", kv)
	}
	s := &Server{
		Engine: "postgresql", Host: "127.0.0.1", Port: port, Dir: dir, t: t,
		DSN: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
		bin: filepath.Join(bindir, "postgres"), args: args, cred: cred, log: filepath.Join(dir, "server.log"),
		stopS: syscall.SIGINT, // fast shutdown: SIGTERM would wait for clients to leave
	}
	t.Cleanup(s.Stop)
	s.Start()
	return s
}

// Start starts the server (again) on its port and waits until it accepts
// connections.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	// PostgreSQL logs to stderr; mariadbd to its --log-error file.
	outPath := s.log + ".out"
	if s.Engine == "postgresql" {
		outPath = s.log
	}
	out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatalf("dbtest: %v", err)
	}
	defer out.Close()
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.cred}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("dbtest: start %s: %v", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	if err := s.waitReady(done); err != nil {
		s.stopLocked()
		s.t.Fatalf("dbtest: %s did not become ready: %v\n%s", s.Engine, err, tail(s.log, 30))
	}
}

// Stop shuts the server down (cleanly, killed after 30 s) and waits for
// it to exit. The data directory stays until the test ends.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

// Restart stops and starts the server on the same port.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.Start()
}

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(s.stopS)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
}

func (s *Server) waitReady(exited <-chan struct{}) error {
	db, err := s.open()
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("server exited: %w", err)
		default:
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Open returns a database/sql handle on the superuser DSN.
func (s *Server) Open() *sql.DB {
	s.t.Helper()
	db, err := s.open()
	if err != nil {
		s.t.Fatalf("dbtest: %v", err)
	}
	s.t.Cleanup(func() { db.Close() })
	return db
}

func (s *Server) open() (*sql.DB, error) { return openDSN(s.Engine, s.DSN) }

func openDSN(engine, dsn string) (*sql.DB, error) {
	switch engine {
	case "mysql":
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return nil, err
		}
		// Broken idle connections after a Stop are expected here.
		cfg.Logger = &mysql.NopLogger{}
		c, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, err
		}
		return sql.OpenDB(c), nil
	case "postgresql":
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, err
		}
		return stdlib.OpenDB(*cfg), nil
	}
	return nil, fmt.Errorf("unknown engine %q", engine)
}

// Fixture is a throw-away database and a monitoring user with the
// privileges the db module documents, dropped when the test ends.
type Fixture struct {
	Engine   string
	Database string
	User     string
	// MonitorDSN connects as the monitoring user.
	MonitorDSN string
	// AdminDSN connects as the superuser to Database.
	AdminDSN string
	// Admin is a pool on AdminDSN for setting up tables and load.
	Admin *sql.DB
}

// SystemMySQLDSN is the machine's MariaDB/MySQL superuser DSN
// (OSPREY_TEST_MYSQL_DSN, default root on 127.0.0.1:3306).
func SystemMySQLDSN() string {
	if v := os.Getenv("OSPREY_TEST_MYSQL_DSN"); v != "" {
		return v
	}
	return "root@tcp(127.0.0.1:3306)/"
}

// SystemPostgresDSN is the machine's PostgreSQL superuser DSN
// (OSPREY_TEST_POSTGRES_DSN, default user postgres on 127.0.0.1:5432).
func SystemPostgresDSN() string {
	if v := os.Getenv("OSPREY_TEST_POSTGRES_DSN"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// NewMySQLFixture creates a database and a monitoring user (PROCESS,
// REPLICATION CLIENT / SLAVE MONITOR, SELECT on performance_schema) on
// the server at adminDSN; an unreachable server skips the test (fails it
// in CI).
func NewMySQLFixture(t testing.TB, adminDSN string) *Fixture {
	t.Helper()
	root := reach(t, "mysql", adminDSN)
	name := "osprey_dbmon_test_" + randHex(4)
	pw := randHex(12)
	ctx := context.Background()
	do := func(q string, optional bool) {
		if _, err := root.ExecContext(ctx, q); err != nil && !optional {
			t.Fatalf("dbtest: %s: %v", q, err)
		}
	}
	do("CREATE DATABASE "+name, false)
	do(fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", name, pw), false)
	t.Cleanup(func() {
		_, _ = root.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name)
		_, _ = root.ExecContext(ctx, fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", name))
		root.Close()
	})
	do(fmt.Sprintf("GRANT PROCESS, REPLICATION CLIENT ON *.* TO '%s'@'%%'", name), false)
	do(fmt.Sprintf("GRANT SLAVE MONITOR ON *.* TO '%s'@'%%'", name), true) // MariaDB 10.5+
	do(fmt.Sprintf("GRANT SELECT ON performance_schema.* TO '%s'@'%%'", name), false)

	cfg, _ := mysql.ParseDSN(adminDSN)
	mon := cfg.Clone()
	mon.User, mon.Passwd, mon.DBName = name, pw, ""
	adm := cfg.Clone()
	adm.DBName = name
	f := &Fixture{Engine: "mysql", Database: name, User: name, MonitorDSN: mon.FormatDSN(), AdminDSN: adm.FormatDSN()}
	f.Admin = mustOpen(t, "mysql", f.AdminDSN)
	return f
}

// NewPostgresFixture creates a database and a monitoring role (member of
// pg_monitor) on the server at adminDSN; an unreachable server skips the
// test (fails it in CI).
func NewPostgresFixture(t testing.TB, adminDSN string) *Fixture {
	t.Helper()
	root := reach(t, "postgresql", adminDSN)
	name := "osprey_dbmon_test_" + randHex(4)
	pw := randHex(12)
	ctx := context.Background()
	for _, q := range []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s' IN ROLE pg_monitor", name, pw),
		"CREATE DATABASE " + name,
	} {
		if _, err := root.ExecContext(ctx, q); err != nil {
			t.Fatalf("dbtest: %s: %v", strings.Replace(q, pw, "…", 1), err)
		}
	}
	t.Cleanup(func() {
		_, _ = root.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		_, _ = root.ExecContext(ctx, "DROP ROLE IF EXISTS "+name)
		root.Close()
	})
	cfg, _ := pgx.ParseConfig(adminDSN)
	host, port := cfg.Host, cfg.Port
	f := &Fixture{
		Engine: "postgresql", Database: name, User: name,
		MonitorDSN: fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", name, pw,
			net.JoinHostPort(host, strconv.Itoa(int(port))), name),
		AdminDSN: fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", cfg.User,
			net.JoinHostPort(host, strconv.Itoa(int(port))), name),
	}
	f.Admin = mustOpen(t, "postgresql", f.AdminDSN)
	return f
}

// reach opens and pings a superuser DSN, skipping (in CI failing) the test
// when the server is not there.
func reach(t testing.TB, engine, dsn string) *sql.DB {
	t.Helper()
	db, err := openDSN(engine, dsn)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		SkipOrFail(t, "dbtest: %s server not reachable: %v", engine, err)
	}
	return db
}

func mustOpen(t testing.TB, engine, dsn string) *sql.DB {
	t.Helper()
	db, err := openDSN(engine, dsn)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func findBinary(names ...string) string {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// pgBinDir finds the server binaries: pg_config --bindir (which may be
// the client-only /usr/bin on Debian), else the newest
// /usr/lib/postgresql/*/bin.
func pgBinDir() string {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	best, bestV := "", -1
	for _, d := range dirs {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if _, serr := os.Stat(filepath.Join(d, "initdb")); err == nil && serr == nil && v > bestV {
			best, bestV = d, v
		}
	}
	return best
}

// tempDir is a directory under the system temp dir (not t.TempDir, whose
// parents are private to root), owned by cred's user when given.
func tempDir(t testing.TB, prefix string, cred *syscall.Credential) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatalf("dbtest: chown %s: %v", dir, err)
		}
	}
	return dir
}

func run(t testing.TB, cmd *exec.Cmd, cred *syscall.Credential, logPath string) {
	t.Helper()
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	cmd.Dir = os.TempDir() // readable by the user the command runs as
	out, err := cmd.CombinedOutput()
	_ = os.WriteFile(logPath, out, 0o644)
	if err != nil {
		t.Fatalf("dbtest: %s: %v\n%s", strings.Join(cmd.Args, " "), err, lastLines(string(out), 30))
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("dbtest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ""
		}
		return err.Error()
	}
	return lastLines(string(b), n)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
