package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// send performs an authenticated JSON call (POST, PUT, DELETE) and decodes
// the "data" member.
func (s *server) send(method, path string, body, out any) (int, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, "http://"+s.httpAddr+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth("admin", adminPassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var env struct {
		Data  json.RawMessage `json:"data"`
		Error string          `json:"error"`
	}
	_ = json.Unmarshal(raw, &env)
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, env.Error)
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(env.Data, out)
	}
	return resp.StatusCode, nil
}

// dbOrSkip opens a system database server; CI must have it.
func dbOrSkip(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
	}
	if err != nil {
		msg := fmt.Sprintf("%s server at %s is not reachable: %v (scripts/test-deps.sh starts it)", driver, dsn, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec1(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// hook is a real webhook receiver.
type hook struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []map[string]any
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/received") {
			h.mu.Lock()
			defer h.mu.Unlock()
			json.NewEncoder(w).Encode(h.got)
			return
		}
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		h.mu.Lock()
		h.got = append(h.got, m)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// states lists "state ruleName" of what arrived.
func (h *hook) states() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, m := range h.got {
		out = append(out, fmt.Sprint(m["state"], " ", m["ruleName"]))
	}
	return out
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

type dbInstance struct {
	ID             string
	Name           string
	Engine         string
	Up             *bool
	Health         string
	ActiveSessions *float64
}

// TestDatabaseMonitoring watches the machine's real MariaDB and PostgreSQL
// through the agent's db module with a least-privilege user each: stat
// counters move, a long query shows among the sessions, a lock wait made
// by two sessions shows as holder → waiter with both queries, statement
// statistics say what to enable, and a threshold rule on a DB stat fires
// to a real webhook and resolves when the lock is released.
func TestDatabaseMonitoring(t *testing.T) {
	my := dbOrSkip(t, "mysql", "root@tcp(127.0.0.1:3306)/?multiStatements=true")
	pg := dbOrSkip(t, "pgx", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	suffix := make([]byte, 4)
	rand.Read(suffix)
	name := "osp_e2e_" + hex.EncodeToString(suffix)

	// Our own databases and monitoring users, dropped afterwards.
	exec1(t, my, "CREATE DATABASE "+name)
	exec1(t, my, "CREATE USER '"+name+"'@'%' IDENTIFIED BY 'mon-pass-1'")
	exec1(t, my, "GRANT PROCESS, REPLICATION CLIENT ON *.* TO '"+name+"'@'%'")
	exec1(t, my, "CREATE TABLE "+name+".stock (id INT PRIMARY KEY, n INT) ENGINE=InnoDB")
	exec1(t, my, "INSERT INTO "+name+".stock VALUES (1, 10), (2, 20)")
	t.Cleanup(func() {
		my.Exec("DROP DATABASE IF EXISTS " + name)
		my.Exec("DROP USER IF EXISTS '" + name + "'@'%'")
	})
	exec1(t, pg, "CREATE DATABASE "+name)
	exec1(t, pg, "CREATE ROLE "+name+" LOGIN PASSWORD 'mon-pass-1' IN ROLE pg_monitor")
	t.Cleanup(func() {
		pg.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + name + "'")
		pg.Exec("DROP DATABASE IF EXISTS " + name)
		pg.Exec("DROP ROLE IF EXISTS " + name)
	})
	pgApp := dbOrSkip(t, "pgx", "postgres://postgres@127.0.0.1:5432/"+name+"?sslmode=disable")
	exec1(t, pgApp, "CREATE TABLE accounts (id INT PRIMARY KEY, balance INT)")
	exec1(t, pgApp, "INSERT INTO accounts VALUES (1, 100)")

	s := newServer(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte(`modules:
  host: {enabled: false}
  url: {enabled: false}
  db:
    enabled: true
    instances:
      - name: e2e-mariadb
        engine: mysql
        dsn: "`+name+`@tcp(127.0.0.1:3306)/"
        password_env: E2E_MY_PASSWORD
        interval: 1s
      - name: e2e-postgres
        engine: postgresql
        dsn: "postgres://`+name+`@127.0.0.1:5432/`+name+`?sslmode=disable"
        password_env: E2E_PG_PASSWORD
        interval: 1s
`), 0o644); err != nil {
		t.Fatal(err)
	}
	agentLog := filepath.Join(dir, "agent.log")
	start(t, agentLog, []string{"E2E_MY_PASSWORD=mon-pass-1", "E2E_PG_PASSWORD=mon-pass-1"}, "osprey-agent", "--config", cfg,
		"--server", s.grpcAddr, "--key", projectKey, "--name", "db-agent", "--state-dir", filepath.Join(dir, "state"), "--interval", "1s")

	ids := map[string]string{}
	eventually(t, 60*time.Second, "both instances listed and up", func() error {
		var list []dbInstance
		if _, err := s.api("admin", adminPassword, "", "/api/v1/databases", nil, &list); err != nil {
			return err
		}
		for _, in := range list {
			// "warning" too: other sessions on these shared servers may
			// be waiting for locks.
			if in.Up != nil && *in.Up && (in.Health == "ok" || in.Health == "warning") {
				ids[in.Name] = in.ID
			}
		}
		if ids["e2e-mariadb"] == "" || ids["e2e-postgres"] == "" {
			return fmt.Errorf("instances %+v", list)
		}
		return nil
	})

	// Stat counters move when we run queries.
	questions := func() float64 {
		res, err := s.query("", `sum(mysql_global_status_questions_total{osprey_agent_id="`+ids["e2e-mariadb"]+`"})`, time.Now())
		if err != nil || len(res) == 0 {
			return -1
		}
		var v float64
		fmt.Sscan(res[0].Value[1].(string), &v)
		return v
	}
	commits := func() float64 {
		res, err := s.query("", `sum(pg_stat_database_xact_commit_total{osprey_agent_id="`+ids["e2e-postgres"]+`",datname="`+name+`"})`, time.Now())
		if err != nil || len(res) == 0 {
			return -1
		}
		var v float64
		fmt.Sscan(res[0].Value[1].(string), &v)
		return v
	}
	var q0, c0 float64
	eventually(t, 30*time.Second, "first stat values", func() error {
		if q0, c0 = questions(), commits(); q0 < 0 || c0 < 0 {
			return fmt.Errorf("questions %v, commits %v", q0, c0)
		}
		return nil
	})
	for i := 0; i < 200; i++ {
		my.Exec("SELECT n FROM " + name + ".stock WHERE id = 1")
		pgApp.Exec("SELECT balance FROM accounts WHERE id = 1")
	}
	eventually(t, 30*time.Second, "counters moved by our 200 queries", func() error {
		if q, c := questions(), commits(); q < q0+200 || c < c0+200 {
			return fmt.Errorf("questions %v→%v, commits %v→%v", q0, q, c0, c)
		}
		return nil
	})

	// A threshold rule on a DB stat, notifying a real webhook.
	h := newHook(t)
	var ch struct{ ID int64 }
	if _, err := s.send("POST", "/api/v1/alerts/channels", map[string]any{"name": "ops", "type": "webhook",
		"webhook": map[string]any{"url": h.srv.URL + "/hook"}}, &ch); err != nil {
		t.Fatal(err)
	}
	if _, err := s.send("POST", "/api/v1/alerts/rules", map[string]any{"name": "lock waits", "kind": "metric", "enabled": true,
		"severity": "critical", "expr": `osprey_db_lock_waits{osprey_agent_name="e2e-postgres"}`, "op": ">", "threshold": 0,
		"for": "2s", "repeat": "0s", "channels": []int64{ch.ID}}, nil); err != nil {
		t.Fatal(err)
	}

	// A long query, and a lock wait: session 1 holds a row, session 2 wants it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go my.ExecContext(ctx, "SELECT SLEEP(600) /* e2e-long-query */")
	defer func() {
		var id int64
		if my.QueryRow("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(600) /* e2e-long-query%' LIMIT 1").Scan(&id) == nil {
			my.Exec(fmt.Sprintf("KILL QUERY %d", id))
		}
	}()
	holder, err := my.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	mustConn := func(c *sql.Conn, q string) {
		if _, err := c.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	mustConn(holder, "BEGIN")
	mustConn(holder, "UPDATE "+name+".stock SET n = n + 1 WHERE id = 1")
	waiterDone := make(chan error, 1)
	go func() {
		_, err := my.ExecContext(ctx, "UPDATE "+name+".stock SET n = n - 1 WHERE id = 1 /* e2e-waiter */")
		waiterDone <- err
	}()
	// The same on PostgreSQL.
	pgHolder, err := pgApp.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer pgHolder.Close()
	mustConn(pgHolder, "BEGIN")
	mustConn(pgHolder, "UPDATE accounts SET balance = balance + 1 WHERE id = 1")
	go pgApp.ExecContext(ctx, "UPDATE accounts SET balance = balance - 5 WHERE id = 1")

	eventually(t, 30*time.Second, "the long query among MariaDB's sessions", func() error {
		var ss struct {
			Sessions []struct{ Query, State string }
		}
		if _, err := s.api("admin", adminPassword, "", "/api/v1/databases/"+ids["e2e-mariadb"]+"/sessions", nil, &ss); err != nil {
			return err
		}
		for _, x := range ss.Sessions {
			if strings.Contains(x.Query, "SLEEP(") {
				return nil
			}
		}
		return fmt.Errorf("sessions %+v", ss.Sessions)
	})

	type node struct {
		ID, Query, State, Table, WaitMode string
		Blocking                          int
		Children                          []node
	}
	lockTree := func(id, table string) error {
		var l struct{ Tree []node }
		if _, err := s.api("admin", adminPassword, "", "/api/v1/databases/"+id+"/locks", nil, &l); err != nil {
			return err
		}
		// Other sessions on these shared servers may wait for locks too:
		// find our table's waiter.
		for _, root := range l.Tree {
			for _, w := range root.Children {
				if !strings.Contains(w.Table, table) {
					continue
				}
				if !strings.Contains(w.Query, "UPDATE") || root.Blocking < 1 {
					return fmt.Errorf("tree %+v", root)
				}
				if root.Query == "" && root.State == "" {
					return fmt.Errorf("holder shows neither its query nor its state: %+v", root)
				}
				return nil
			}
		}
		return fmt.Errorf("no waiter on %s in %+v", table, l.Tree)
	}
	eventually(t, 30*time.Second, "MariaDB lock tree: holder → waiter on stock", func() error { return lockTree(ids["e2e-mariadb"], "stock") })
	eventually(t, 30*time.Second, "PostgreSQL lock tree: holder → waiter on accounts", func() error {
		return lockTree(ids["e2e-postgres"], "accounts")
	})
	eventually(t, 30*time.Second, "the lock-wait rule fired to the webhook", func() error {
		if count(h.states(), "firing lock waits") != 1 {
			return fmt.Errorf("webhook got %v", h.states())
		}
		return nil
	})
	var hist struct {
		History []struct {
			Waits int
			Table string
		}
	}
	if _, err := s.api("admin", adminPassword, "", "/api/v1/databases/"+ids["e2e-mariadb"]+"/locks/history", url.Values{"start": {"-5m"}}, &hist); err != nil || len(hist.History) == 0 {
		t.Fatalf("lock history %+v %v", hist, err)
	}

	// The DB screens in a real browser, while the lock and the long query
	// are there to see.
	if node, webDir, ok := browserOrSkip(t); ok {
		runBrowserTests(t, node, webDir, []string{"db.test.mjs"}, "OSPREY_URL=http://"+s.httpAddr,
			"OSPREY_DB_MYSQL=e2e-mariadb", "OSPREY_DB_PG=e2e-postgres", "OSPREY_DB_LOCK_TABLE=stock", "OSPREY_DB_LONG_QUERY=SLEEP(")
	}

	// Release: the waiter finishes and the alert resolves, once.
	mustConn(holder, "COMMIT")
	mustConn(pgHolder, "COMMIT")
	if err := <-waiterDone; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	eventually(t, 30*time.Second, "the lock-wait alert resolved", func() error {
		if count(h.states(), "resolved lock waits") != 1 {
			res, _ := s.query("", `osprey_db_lock_waits`, time.Now())
			b, _ := os.ReadFile(agentLog)
			return fmt.Errorf("webhook got %v; lock waits now %v; agent log %s", h.states(), res, tail(string(b), 1500))
		}
		return nil
	})

	// Statement statistics: these servers run without performance_schema
	// and pg_stat_statements, so the API says what to enable (the agent's
	// own tests cover the statistics on private instances that have them).
	for _, id := range []string{ids["e2e-mariadb"], ids["e2e-postgres"]} {
		var st struct {
			Available bool
			Hint      string
		}
		if _, err := s.api("admin", adminPassword, "", "/api/v1/databases/"+id+"/statements", nil, &st); err != nil {
			t.Fatal(err)
		}
		if st.Available || st.Hint == "" {
			t.Errorf("statements of %s: %+v, want a hint", id, st)
		}
	}
	var cat struct {
		Metrics []struct{ Name, Category, Query string }
	}
	if _, err := s.api("admin", adminPassword, "", "/api/v1/databases/"+ids["e2e-mariadb"]+"/catalog", nil, &cat); err != nil || len(cat.Metrics) < 100 {
		t.Fatalf("catalog: %d metrics, %v", len(cat.Metrics), err)
	}
	log, _ := os.ReadFile(agentLog)
	if strings.Contains(string(log), "mon-pass-1") {
		t.Error("the agent log contains the database password")
	}
}
