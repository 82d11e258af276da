package apm

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

func TestStatKeysBoundedPerWindow(t *testing.T) {
	s := newStatSet()
	v := statAdd{dur: time.Millisecond}
	for i := range maxStatKeys + 10 {
		if !s.add(statSQL, fmt.Sprint("q", i), v) && i < maxStatKeys {
			t.Fatalf("key %d not new", i)
		}
	}
	if !s.add(statTx, "GET /a", v) || s.add(statTx, "GET /a", v) {
		t.Fatal("first of a name in the window must be new, the second not")
	}
	s.rotate()
	if !s.add(statTx, "GET /a", v) {
		t.Fatal("a name must be new in the next window")
	}
	lines := s.collect()
	var sql, other int
	for _, l := range lines {
		if l.GetKind() == "sql" {
			sql++
			if l.GetKey() == otherKey {
				other = int(l.GetCount())
			}
		}
	}
	if sql != maxStatKeys+1 || other != 10 {
		t.Fatalf("%d sql lines, %d under %q", sql, other, otherKey)
	}
	for _, l := range lines {
		if l.GetKind() == "tx" && (l.GetCount() != 2 || l.GetSumMs() != 2 || l.GetMaxMs() != 1) {
			t.Fatalf("tx line %v", l)
		}
	}
	if s.collect() != nil {
		t.Fatal("a window collected twice")
	}
}

func TestCounters(t *testing.T) {
	var c counterSet
	c.apdexT = 1200
	c.add(1, 10, false, 2, 3)
	c.add(2, 2000, false, 0, 0)
	c.add(3, 6000, false, 0, 0)
	c.add(4, 10, true, 0, 0)
	var r agentpb.ApmRollup
	c.take(&r)
	if r.Count != 4 || r.Errors != 1 || r.ApdexSatisfied != 1 || r.ApdexTolerating != 1 || r.MaxMs != 6000 ||
		r.SumMs != 8020 || r.SqlMs != 2 || r.HttpcMs != 3 {
		t.Fatalf("%+v", &r)
	}
	if r.Hitmap[0] != 1 || r.Hitmap[wire.HitmapBucket(2000)] != 1 || r.Hitmap[wire.HitmapBucket(6000)] != 1 || r.HitmapErrors[0] != 1 {
		t.Fatalf("hitmap %v / %v", r.Hitmap, r.HitmapErrors)
	}
	var again agentpb.ApmRollup
	c.take(&again)
	if again.Count != 0 {
		t.Fatal("take did not reset")
	}
}

func TestUsers(t *testing.T) {
	var u userSet
	now := time.Now().Unix()
	u.see("a", now-400)
	u.see("b", now)
	u.see("b", now)
	u.see("10.0.0.1", now-10)
	if n := u.count(now); n != 2 {
		t.Fatalf("users %d, want 2 (a is older than 5 minutes)", n)
	}
}

func TestDSNAddress(t *testing.T) {
	for _, c := range []struct {
		system, dsn string
		host        string
		port        int
	}{
		{"mysql", "root@tcp(127.0.0.1:3306)/test", "127.0.0.1", 3306},
		{"mysql", "u:p@tcp(db.local)/x?parseTime=true", "db.local", 3306},
		{"mysql", "root@/test", "127.0.0.1", 3306},
		{"mysql", "u@unix(/tmp/mysql.sock)/x", "localhost", 0},
		{"postgresql", "postgres://u:p@pg:6432/db?sslmode=disable", "pg", 6432},
		{"postgresql", "postgresql://u@pg/db", "pg", 5432},
		{"postgresql", "host=pg.local port=5433 user=x dbname=y", "pg.local", 5433},
		{"postgresql", "user=x dbname=y", "localhost", 5432},
		{"sqlite", "file:x.db", "", 0},
	} {
		h, p := dsnAddress(c.system, c.dsn)
		if h != c.host || p != c.port {
			t.Errorf("%s %q: %s %d, want %s %d", c.system, c.dsn, h, p, c.host, c.port)
		}
	}
}

func TestIsConnect(t *testing.T) {
	if !isConnect("sql.connector.connect") || !isConnect("pgxpool.Acquire pool.acquire") || isConnect("sql.stmt.query") ||
		!containsFold("SQL.CONN.query", "conn.") {
		t.Fatal("isConnect")
	}
}

func TestStrCache(t *testing.T) {
	var c strCache
	builds := 0
	build := func(k strKey) string { builds++; return k.a + "+" + k.b }
	k := strKey{kind: ckJoin, a: "h", b: "1"}
	for range 3 {
		if v := c.get(k, build); v != "h+1" {
			t.Fatal(v)
		}
	}
	if builds != 1 {
		t.Fatalf("built %d times", builds)
	}
	// Known keys are read without the lock once published.
	if _, ok := c.m.load(k); !ok {
		t.Fatal("key not published after a miss")
	}
	for i := range maxCached + 5 {
		c.get(strKey{a: fmt.Sprint(i)}, build)
	}
	if n := c.m.sweep(func(strKey, string) bool { return true }); n != maxCached {
		t.Fatalf("cache holds %d, want %d", n, maxCached)
	}
}

func TestStatLineConcurrent(t *testing.T) {
	s := newStatSet()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				s.add(statTx, "hot", statAdd{dur: time.Duration(g*1000+i) * time.Microsecond, failed: i%10 == 0, sqlCount: 2})
			}
		}()
	}
	wg.Wait()
	s.rotate()
	l := s.collect()
	if len(l) != 1 || l[0].GetCount() != 8000 || l[0].GetErrors() != 800 || l[0].GetSqlCount() != 16000 || l[0].GetMaxMs() != 7.999 {
		t.Fatalf("%v", l)
	}
}
