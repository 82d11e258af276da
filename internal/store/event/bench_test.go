package event

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if bench1M.dir != "" {
		if bench1M.s != nil {
			_ = bench1M.s.Close()
		}
		_ = os.RemoveAll(bench1M.dir)
	}
	closeLogBench()
	os.Exit(code)
}

var bench1M struct {
	once sync.Once
	dir  string
	s    *Store
	err  error
	took time.Duration
}

var benchWords = []string{
	"request", "completed", "user", "session", "cache", "miss", "hit", "database", "query", "slow",
	"connection", "refused", "timeout", "retry", "payment", "accepted", "declined", "order", "created",
	"shipped", "login", "logout", "token", "expired", "upstream", "error", "warning", "started", "stopped",
	"worker", "queue", "job", "scheduled", "failed", "succeeded", "GET", "POST", "PUT", "DELETE", "api",
}

// store1M builds, once per process, a store with 1,000,000 log lines over
// the last 50 minutes: 8-word messages from a 40-word vocabulary plus a
// request id; every 10,000th line carries the rare token "kaboom-7731".
func store1M(b *testing.B) *Store {
	bench1M.once.Do(func() {
		dir, err := os.MkdirTemp("", "osprey-event-bench-")
		if err != nil {
			bench1M.err = err
			return
		}
		bench1M.dir = dir
		s, err := Open(context.Background(), Options{Dir: dir, Logger: quietLogger()})
		if err != nil {
			bench1M.err = err
			return
		}
		bench1M.s = s
		start := time.Now()
		rng := rand.New(rand.NewPCG(1, 2))
		now := time.Now()
		const total, batch = 1_000_000, 10_000
		rows := make([]Row, batch)
		for i := 0; i < total; i += batch {
			for j := range rows {
				k := i + j
				msg := make([]byte, 0, 96)
				for w := range 8 {
					if w > 0 {
						msg = append(msg, ' ')
					}
					msg = append(msg, benchWords[rng.IntN(len(benchWords))]...)
				}
				msg = fmt.Appendf(msg, " req=%08x", k)
				if k%10_000 == 0 {
					msg = append(msg, " kaboom-7731"...)
				}
				rows[j] = Row{
					Time: now.Add(-50 * time.Minute).Add(time.Duration(k) * 3 * time.Millisecond),
					Fields: []Field{
						{FieldType, "log"}, {FieldMsg, string(msg)}, {"service.name", []string{"api", "web", "worker"}[k%3]},
						{"level", []string{"info", "info", "info", "warn", "error"}[k%5]}, {"host.name", fmt.Sprintf("host-%d", k%10)},
					},
				}
			}
			if _, rej, err := s.Add(context.Background(), 1, rows); err != nil || rej != 0 {
				bench1M.err = fmt.Errorf("add: rejected %d: %v", rej, err)
				return
			}
		}
		s.Flush()
		bench1M.took = time.Since(start)
	})
	if bench1M.err != nil {
		b.Fatal(bench1M.err)
	}
	return bench1M.s
}

// BenchmarkSearchText1M: full-text searches over 1M stored log lines (the
// whole 1 h default range), limit 100, newest first.
func BenchmarkSearchText1M(b *testing.B) {
	s := store1M(b)
	b.Logf("1M rows loaded in %s; %d bytes on disk", bench1M.took, s.DiskBytes())
	cases := []struct {
		name string
		q    Query
		want int
	}{
		{"rare_token", Query{Text: "kaboom-7731"}, 100},
		{"rare_token_count", Query{Text: "kaboom-7731"}, -1},
		{"two_words", Query{Text: "refused timeout"}, 100},
		{"phrase", Query{Text: `"payment declined"`}, 100},
		{"word_and_filter", Query{Text: "expired", Filters: []Filter{{"level", "=", "error"}, {"host.name", "=", "host-4"}}}, 100},
		{"no_match", Query{Text: "zzzzqqq"}, 0},
		{"latest_no_text", Query{}, 100},
		{"latest_1000_type_filter", Query{Type: "log", Filters: []Filter{{"service.name", "=", "web"}}, Limit: 1000}, 1000},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var partial bool
			for b.Loop() {
				if c.want < 0 {
					n, err := s.Count(context.Background(), 1, c.q)
					if err != nil || n != 100 {
						b.Fatalf("count = %d, %v", n, err)
					}
					continue
				}
				res, err := s.Search(context.Background(), 1, c.q)
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Records) != c.want {
					b.Fatalf("%d records, want %d", len(res.Records), c.want)
				}
				partial = partial || res.Partial
			}
			if partial {
				b.Fatal("partial result")
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/query")
		})
	}
}

// BenchmarkFlush: cost of Flush (searchable + fsynced to disk) after each
// batch of 1,000 rows; bounds how often a WAL checkpoint can call it.
func BenchmarkFlush(b *testing.B) {
	s := openTest(b, "")
	rows := make([]Row, 1000)
	for b.Loop() {
		now := time.Now()
		for i := range rows {
			rows[i] = row(now, "log", "flush bench line")
		}
		mustAdd(b, s, 1, rows...)
		s.Flush()
	}
}
