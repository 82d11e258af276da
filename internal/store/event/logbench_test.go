package event

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Realistic log rows for the log-analysis benchmarks: 10 services on 5
// hosts, levels skewed to info, HTTP access lines with status codes and
// durations, and messages with variable ids, so tokens are as varied as in
// real logs. Every 100,000th line carries the rare token "kaboom-7731".

var (
	benchServices = []string{"api", "web", "checkout", "payments", "auth", "search", "inventory", "mailer", "worker", "gateway"}
	benchLevels   = []string{"info", "info", "info", "info", "info", "info", "debug", "warn", "warn", "error"}
	benchStatus   = []string{"200", "200", "200", "200", "200", "200", "201", "204", "301", "304", "400", "401", "404", "500", "503"}
	benchMethods  = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	benchPaths    = []string{"/api/v1/orders", "/api/v1/users", "/api/v1/cart", "/login", "/healthz", "/api/v1/search", "/static/app.js"}
)

const benchRareToken = "kaboom-7731"

// genLogRow fills r with the k-th benchmark row at ts, reusing r's slices.
func genLogRow(rng *rand.Rand, k int, ts time.Time, r *Row, msg []byte) []byte {
	svc := benchServices[k%len(benchServices)]
	host := k % 5
	lvl := benchLevels[rng.IntN(len(benchLevels))]
	msg = msg[:0]
	f := r.Fields[:0]
	f = append(f, Field{FieldType, "log"}, Field{"level", lvl}, Field{"service.name", svc}, Field{"category", svc},
		Field{"agent.id", "agent-" + strconv.Itoa(host)}, Field{"agent.name", "host-" + strconv.Itoa(host)},
		Field{"host.name", "host-" + strconv.Itoa(host)}, Field{"log.file.path", "/var/log/" + svc + ".log"})
	switch kind := rng.IntN(8); kind {
	case 0, 1, 2:
		method, path, status := benchMethods[rng.IntN(len(benchMethods))], benchPaths[rng.IntN(len(benchPaths))], benchStatus[rng.IntN(len(benchStatus))]
		ms := rng.IntN(900) + 1
		msg = append(msg, method...)
		msg = append(msg, ' ')
		msg = append(msg, path...)
		msg = append(msg, '/')
		msg = strconv.AppendInt(msg, int64(rng.IntN(100000)), 10)
		msg = append(msg, " completed in "...)
		msg = strconv.AppendInt(msg, int64(ms), 10)
		msg = append(msg, "ms status="...)
		msg = append(msg, status...)
		f = append(f, Field{"http.request.method", method}, Field{"url.path", path}, Field{"http.response.status_code", status},
			Field{"http.server.request.duration", strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64)})
	case 3:
		msg = append(msg, "user "...)
		msg = strconv.AppendInt(msg, int64(rng.IntN(50000)), 10)
		msg = append(msg, " logged in from 10.0."...)
		msg = strconv.AppendInt(msg, int64(rng.IntN(256)), 10)
		msg = append(msg, '.')
		msg = strconv.AppendInt(msg, int64(rng.IntN(256)), 10)
	case 4:
		msg = append(msg, "payment "...)
		msg = strconv.AppendUint(msg, rng.Uint64(), 16)
		msg = append(msg, " declined: insufficient funds"...)
	case 5:
		msg = append(msg, "connection to db-"...)
		msg = strconv.AppendInt(msg, int64(rng.IntN(4)), 10)
		msg = append(msg, ".internal:5432 refused, retrying in "...)
		msg = strconv.AppendInt(msg, int64(rng.IntN(30)), 10)
		msg = append(msg, 's')
	case 6:
		msg = append(msg, "worker "...)
		msg = strconv.AppendInt(msg, int64(rng.IntN(16)), 10)
		msg = append(msg, " processed job "...)
		msg = strconv.AppendInt(msg, int64(k), 10)
		msg = append(msg, " in "...)
		msg = strconv.AppendInt(msg, int64(rng.IntN(5000)), 10)
		msg = append(msg, "ms"...)
	default:
		msg = append(msg, "cache miss for key session:"...)
		msg = strconv.AppendUint(msg, rng.Uint64(), 16)
	}
	if k%100_000 == 0 {
		msg = append(msg, " "+benchRareToken...)
	}
	f = append(f, Field{FieldMsg, string(msg)})
	r.Time, r.Fields = ts, f
	return msg
}

// fillLogStore adds total rows spread evenly over [start, start+span) to
// project 1 and flushes.
func fillLogStore(s *Store, total int, start time.Time, span time.Duration) error {
	const batch = 10_000
	rng := rand.New(rand.NewPCG(7, 11))
	rows := make([]Row, batch)
	for i := range rows {
		rows[i].Fields = make([]Field, 0, 16)
	}
	var msg []byte
	stepNs := int64(span) / int64(total)
	for i := 0; i < total; i += batch {
		n := min(batch, total-i)
		for j := range n {
			k := i + j
			msg = genLogRow(rng, k, start.Add(time.Duration(int64(k)*stepNs)), &rows[j], msg)
		}
		if _, rej, err := s.Add(context.Background(), 1, rows[:n]); err != nil || rej != 0 {
			return fmt.Errorf("add rows %d..%d: %d rejected: %v", i, i+n, rej, err)
		}
	}
	return s.FlushErr()
}

// logBench1M is a store with 1,000,000 realistic log rows over the last
// hour, built once per process and removed by TestMain.
var logBench1M struct {
	once       sync.Once
	dir        string
	s          *Store
	start, end time.Time
	err        error
}

func closeLogBench() {
	if logBench1M.s != nil {
		_ = logBench1M.s.Close()
	}
	if logBench1M.dir != "" {
		_ = os.RemoveAll(logBench1M.dir)
	}
}

func logStore1M(b *testing.B) (*Store, Query) {
	logBench1M.once.Do(func() {
		dir, err := os.MkdirTemp("", "osprey-logbench-1m-")
		if err != nil {
			logBench1M.err = err
			return
		}
		logBench1M.dir = dir
		s, err := Open(context.Background(), Options{Dir: dir, Logger: quietLogger()})
		if err != nil {
			logBench1M.err = err
			return
		}
		logBench1M.s = s
		logBench1M.end = time.Now().Add(-time.Second)
		logBench1M.start = logBench1M.end.Add(-time.Hour)
		t0 := time.Now()
		logBench1M.err = fillLogStore(s, 1_000_000, logBench1M.start, time.Hour)
		b.Logf("built 1M log rows in %s (%d bytes on disk)", time.Since(t0).Round(time.Millisecond), s.DiskBytes())
	})
	if logBench1M.err != nil {
		b.Fatal(logBench1M.err)
	}
	return logBench1M.s, Query{Start: logBench1M.start, End: logBench1M.end, Type: "log"}
}

// BenchmarkHistogram1M: counts per bucket over 1M log rows in one hour.
func BenchmarkHistogram1M(b *testing.B) {
	s, base := logStore1M(b)
	cases := []struct {
		name string
		q    Query
		step time.Duration
		by   string
	}{
		{"all_120_buckets", base, 30 * time.Second, ""},
		{"text_filter", withText(base, "declined"), 30 * time.Second, ""},
		{"by_level", base, 30 * time.Second, "level"},
		{"by_status_code", base, 30 * time.Second, "http.response.status_code"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				var err error
				if c.by == "" {
					var h []Bucket
					h, err = s.Histogram(context.Background(), 1, c.q, c.step)
					if err == nil && sumBuckets(h) == 0 {
						err = errors.New("empty histogram")
					}
				} else {
					_, err = s.HistogramBy(context.Background(), 1, c.q, c.step, c.by, 5)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/query")
		})
	}
}

// BenchmarkTopValues1M: most common values, field names and a numeric
// stat over 1M log rows in one hour.
func BenchmarkTopValues1M(b *testing.B) {
	s, base := logStore1M(b)
	cases := []struct {
		name string
		run  func() error
	}{
		{"category", func() error { _, _, err := s.TopValues(context.Background(), 1, base, "category", 1000); return err }},
		{"status_code", func() error {
			_, _, err := s.TopValues(context.Background(), 1, base, "http.response.status_code", 10)
			return err
		}},
		{"msg_high_cardinality", func() error { _, _, err := s.TopValues(context.Background(), 1, base, FieldMsg, 10); return err }},
		{"field_names", func() error { _, err := s.FieldNames(context.Background(), 1, base); return err }},
		{"stats_p95_by_path", func() error {
			_, err := s.Stats(context.Background(), 1, base, StatsQuery{Step: time.Minute, Func: "p95",
				Field: "http.server.request.duration", By: []string{"url.path"}})
			return err
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if err := c.run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/query")
		})
	}
}

func withText(q Query, text string) Query { q.Text = text; return q }

// bench10MMeta describes a cached 10M-row store.
type bench10MMeta struct {
	Version    int
	Rows       int
	Start, End time.Time
	Built      time.Time
	Took       string
}

const (
	bench10MVersion = 1
	bench10MRows    = 10_000_000
	bench10MSpan    = 24 * time.Hour
	// Rows older than the retention (7 days) vanish; rebuild before that.
	bench10MMaxAge = 6 * 24 * time.Hour
)

// store10M opens the 10M-row store cached under
// os.TempDir()/osprey-bench-10m, building it when absent, stale or from
// another generator version. The cache survives the process on purpose:
// building takes minutes, searching it milliseconds.
func store10M(b *testing.B) (*Store, bench10MMeta) {
	root := filepath.Join(os.TempDir(), "osprey-bench-10m")
	dir, metaPath := filepath.Join(root, "store"), filepath.Join(root, "meta.json")
	var meta bench10MMeta
	raw, err := os.ReadFile(metaPath)
	fresh := err == nil && json.Unmarshal(raw, &meta) == nil && meta.Version == bench10MVersion &&
		meta.Rows == bench10MRows && time.Since(meta.Built) < bench10MMaxAge
	if !fresh {
		b.Logf("building 10M-row cache in %s (takes minutes; reused by later runs)", root)
		if err := os.RemoveAll(root); err != nil {
			b.Fatal(err)
		}
		if err := os.MkdirAll(root, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	t0 := time.Now()
	s, err := Open(context.Background(), Options{Dir: dir, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	if fresh {
		b.Logf("reusing 10M-row cache in %s built %s (build took %s); opened in %s",
			root, meta.Built.Format(time.RFC3339), meta.Took, time.Since(t0).Round(time.Millisecond))
		return s, meta
	}
	end := time.Now().Add(-time.Minute)
	meta = bench10MMeta{Version: bench10MVersion, Rows: bench10MRows, Start: end.Add(-bench10MSpan), End: end}
	if err := fillLogStore(s, bench10MRows, meta.Start, bench10MSpan); err != nil {
		b.Fatal(err)
	}
	meta.Built, meta.Took = time.Now(), time.Since(t0).Round(time.Second).String()
	raw, _ = json.Marshal(meta)
	if err := os.WriteFile(metaPath, raw, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("built 10M log rows over %s in %s (%.0f rows/s), %d bytes on disk",
		bench10MSpan, meta.Took, bench10MRows/time.Since(t0).Seconds(), s.DiskBytes())
	return s, meta
}

// BenchmarkSearch10M: full-text search over 10M stored log lines (24 h),
// limit 100, newest first. The target is < 300 ms per search.
func BenchmarkSearch10M(b *testing.B) {
	s, meta := store10M(b)
	q := Query{Start: meta.Start, End: meta.End, Type: "log", Limit: 100}
	cases := []struct {
		name string
		text string
		want int
	}{
		// 100 lines in 10M: the whole 24 h must be searched.
		{"rare_term", benchRareToken, 100},
		// ~1 line in 8: the newest window answers.
		{"common_term", "completed", 100},
		{"common_phrase", `"insufficient funds"`, 100},
		{"no_match", "zzzqqqxx", 0},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			q := withText(q, c.text)
			for b.Loop() {
				res, err := s.Search(context.Background(), 1, q)
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Records) != c.want || res.Partial {
					b.Fatalf("%d records (partial %v), want %d", len(res.Records), res.Partial, c.want)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/query")
		})
	}
}
