package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// The APM test's fixtures: a server with a short statistics window, the
// real databases, NATS, and the two traced apps of test/e2e/apmapps run
// as real processes.

const natsAddr = "127.0.0.1:4222"

// skipOrFail skips locally and fails in CI (CI=true), like the other
// tests' prerequisites.
func skipOrFail(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// natsOrSkip checks that the machine's NATS server answers.
func natsOrSkip(t *testing.T) {
	t.Helper()
	c, err := net.DialTimeout("tcp", natsAddr, 3*time.Second)
	if err != nil {
		skipOrFail(t, fmt.Sprintf("NATS at %s is not reachable: %v (scripts/test-deps.sh installs and starts nats-server)", natsAddr, err))
	}
	c.Close()
}

// nodeAppOrSkip finds node and the Node.js app's installed packages.
func nodeAppOrSkip(t *testing.T) (node, dir string) {
	t.Helper()
	dir, err := filepath.Abs("apmapps/nodeinv")
	if err != nil {
		t.Fatal(err)
	}
	node, err = exec.LookPath("node")
	if err != nil {
		skipOrFail(t, "the Node.js APM app needs node (apt-get install -y nodejs npm)")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@opentelemetry", "auto-instrumentations-node")); err != nil {
		skipOrFail(t, "the Node.js APM app needs its packages: npm ci --prefix test/e2e/apmapps/nodeinv (scripts/test-deps.sh runs it)")
	}
	return node, dir
}

// buildGoShop builds the Go app (with -race when the test runs with it, so
// the apm library's goroutines are checked too).
func buildGoShop(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "goshop")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, "./apmapps/goshop")...).CombinedOutput()
	if err != nil {
		t.Fatalf("build goshop: %v\n%s", err, out)
	}
	return bin
}

// newAPMServer is newServer with statistics windows of 10 s instead of
// 5 min, so the statistics and the service map can be checked.
func newAPMServer(t *testing.T) *server {
	t.Helper()
	s := &server{t: t, dir: t.TempDir(), httpAddr: freePort(t), grpcAddr: freePort(t), otlp: freePort(t)}
	s.proc = start(t, filepath.Join(s.dir, "server.log"),
		[]string{"OSPREY_ADMIN_PASSWORD=" + adminPassword, "OSPREY_PROJECT_KEY=" + projectKey},
		"osprey", "server", "--data-dir", filepath.Join(s.dir, "data"),
		"--http-addr", s.httpAddr, "--otlp-grpc-addr", s.grpcAddr, "--otlp-http-addr", s.otlp,
		"--apm-stat-window", "10s")
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
			t.Logf("server log (tail):\n%s", tail(string(b), 4000))
		}
	})
	s.waitHealthy()
	return s
}

// startIn is start with a working directory (node resolves --require
// from it).
func startIn(t *testing.T, dir, logPath string, env []string, bin string, args ...string) *proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	p := &proc{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	return p
}

// waitListening waits until addr accepts connections (without a request,
// which would be a transaction of its own).
func waitListening(t *testing.T, p *proc, addr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		select {
		case <-p.done:
			b, _ := os.ReadFile(p.log)
			t.Fatalf("%s exited during start:\n%s", filepath.Base(p.cmd.Path), tail(string(b), 4000))
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("%s does not listen on %s within 60s", filepath.Base(p.cmd.Path), addr)
}

// logOnFailure prints the tail of a process log when the test failed.
func logOnFailure(t *testing.T, what, path string) {
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(path)
			t.Logf("%s log (tail):\n%s", what, tail(string(b), 3000))
		}
	})
}

// apmEnv is a server with both apps running against it.
type apmEnv struct {
	s                  *server
	db                 string // MariaDB and PostgreSQL database (and the stock table's) name
	shopAddr, invAddr  string
	shopApp, invApp    string
	shopInst, invInst  string
	shopProc, nodeProc *proc
}

// startAPM creates the databases, starts the server, the Go shop and the
// Node.js inventory service.
func startAPM(t *testing.T) *apmEnv {
	t.Helper()
	my := dbOrSkip(t, "mysql", "root@tcp(127.0.0.1:3306)/?multiStatements=true")
	pg := dbOrSkip(t, "pgx", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	natsOrSkip(t)
	node, nodeDir := nodeAppOrSkip(t)
	shopBin := buildGoShop(t)

	suffix := make([]byte, 4)
	rand.Read(suffix)
	e := &apmEnv{db: "osp_apm_" + hex.EncodeToString(suffix), shopApp: "goshop", invApp: "nodeinv",
		shopInst: "goshop-1", invInst: "nodeinv-1"}

	exec1(t, my, "CREATE DATABASE "+e.db)
	t.Cleanup(func() { my.Exec("DROP DATABASE IF EXISTS " + e.db) })
	exec1(t, my, "CREATE TABLE "+e.db+".products (id INT PRIMARY KEY, sku VARCHAR(16) UNIQUE, name VARCHAR(64), price DECIMAL(10,2), active TINYINT)")
	exec1(t, my, "INSERT INTO "+e.db+".products VALUES (1, 'A1', 'anchor', 12.50, 1), (2, 'B2', 'buoy', 40.00, 1), (3, 'C3', 'cleat', 7.25, 1), (4, 'D4', 'davit', 1500.00, 1)")
	exec1(t, my, "CREATE TABLE "+e.db+".orders (id INT PRIMARY KEY, sku VARCHAR(16), qty INT, checked INT NOT NULL DEFAULT 0)")
	exec1(t, my, "INSERT INTO "+e.db+".orders (id, sku, qty) VALUES (1, 'A1', 2), (2, 'C3', 5)")
	exec1(t, my, "CREATE TABLE "+e.db+".order_log (id INT AUTO_INCREMENT PRIMARY KEY, order_id INT, note VARCHAR(32), at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)")
	exec1(t, pg, "CREATE DATABASE "+e.db)
	t.Cleanup(func() {
		pg.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + e.db + "'")
		pg.Exec("DROP DATABASE IF EXISTS " + e.db)
	})
	pgApp := dbOrSkip(t, "pgx", "postgres://postgres@127.0.0.1:5432/"+e.db+"?sslmode=disable")
	exec1(t, pgApp, "CREATE TABLE "+e.db+" (sku TEXT PRIMARY KEY, qty INT)")
	exec1(t, pgApp, "INSERT INTO "+e.db+" VALUES ('A1', 5), ('B2', 0), ('C3', 7), ('D4', 1)")

	e.s = newAPMServer(t)
	e.shopAddr, e.invAddr = freePort(t), freePort(t)
	dir := t.TempDir()

	nodeLog := filepath.Join(dir, "nodeinv.log")
	logOnFailure(t, "nodeinv", nodeLog)
	_, invPort, _ := net.SplitHostPort(e.invAddr)
	e.nodeProc = startIn(t, nodeDir, nodeLog, []string{
		"PORT=" + invPort, "SHOP_URL=http://" + e.shopAddr,
		"PGHOST=127.0.0.1", "PGPORT=5432", "PGUSER=postgres", "PGDATABASE=" + e.db, "PGTABLE=" + e.db,
		"OTEL_SERVICE_NAME=" + e.invApp,
		"OTEL_RESOURCE_ATTRIBUTES=service.instance.id=" + e.invInst + ",deployment.environment.name=e2e",
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + e.s.otlp,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_EXPORTER_OTLP_HEADERS=x-osprey-key=" + projectKey,
		"OTEL_TRACES_EXPORTER=otlp", "OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none",
		"OTEL_BSP_SCHEDULE_DELAY=200",
		// What the app uses; and no cloud detectors probing metadata
		// addresses off this machine.
		"OTEL_NODE_ENABLED_INSTRUMENTATIONS=http,express,pg",
		"OTEL_NODE_RESOURCE_DETECTORS=env,host,os,process",
	}, node, "--require", "@opentelemetry/auto-instrumentations-node/register", "server.js")

	shopLog := filepath.Join(dir, "goshop.log")
	logOnFailure(t, "goshop", shopLog)
	e.shopProc = start(t, shopLog, nil, shopBin, "--addr", e.shopAddr, "--server", e.s.grpcAddr, "--key", projectKey,
		"--app", e.shopApp, "--instance", e.shopInst, "--mysql", "root@tcp(127.0.0.1:3306)/"+e.db,
		"--inventory", "http://"+e.invAddr, "--nats", "nats://"+natsAddr, "--subject", "orders.created."+e.db,
		"--base-time", "100ms", "--interval", "1s")

	waitListening(t, e.nodeProc, e.invAddr)
	waitListening(t, e.shopProc, e.shopAddr)
	return e
}
