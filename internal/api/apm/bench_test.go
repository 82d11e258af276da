package apm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osprey-monitoring/osprey/internal/authn"
	"github.com/osprey-monitoring/osprey/internal/meta"
	"github.com/osprey-monitoring/osprey/internal/store/event"
	"github.com/osprey-monitoring/osprey/internal/wire"
)

// The hitmap target (docs/DESIGN: the last 10 minutes at 100,000
// transactions/s in < 100 ms): 10 instances of 10,000 tx/s each, every
// 5-s window flushed twice, is 120 windows × 10 instances × 2 = 2,400
// apmroll rows summarising 60M transactions, whose buckets are drawn one
// transaction at a time from a log-normal response time (median 150 ms,
// a long tail), 1% errors. Beside them the store holds the other rows an
// APM project has over those minutes: statistics rows and, by default,
// 1M raw tx span rows (OSPREY_APM_BENCH_RAW=60000000 stores all 60M;
// that takes several minutes and ~3 GB).
const (
	benchInstances = 10
	benchTPS       = 100_000
	benchMinutes   = 10
	benchFlushes   = 2
)

var bench struct {
	once    sync.Once
	dir     string
	es      *event.Store
	h       http.Handler
	now     time.Time
	rollTx  uint64 // transactions the rollups count
	rawRows int
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bench.es != nil {
		_ = bench.es.Close()
		_ = os.RemoveAll(bench.dir)
	}
	os.Exit(code)
}

func benchStore(b *testing.B) {
	b.Helper()
	bench.once.Do(func() { bench.err = fillBenchStore() })
	if bench.err != nil {
		b.Fatal(bench.err)
	}
}

func fillBenchStore() error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "apm-bench-")
	if err != nil {
		return err
	}
	bench.dir = dir
	es, err := event.Open(ctx, event.Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	bench.es = es
	now := time.Now()
	bench.now = now
	first := now.Add(-benchMinutes * time.Minute).Truncate(window)
	windows := int(now.Sub(first) / window)
	rng := rand.New(rand.NewPCG(1, 2))
	perFlush := benchTPS / benchInstances * int(window/time.Second) / benchFlushes

	start := time.Now()
	var rows []event.Row
	ok, bad := make([]uint32, wire.HitmapBuckets), make([]uint32, wire.HitmapBuckets)
	for w := range windows {
		t := first.Add(time.Duration(w) * window)
		for i := range benchInstances {
			for range benchFlushes {
				clear(ok)
				clear(bad)
				var sum, maxMs float64
				var errs, apS, apT int
				for range perFlush {
					d := math.Exp(math.Log(150) + 0.9*rng.NormFloat64())
					sum += d
					maxMs = max(maxMs, d)
					switch {
					case d <= wire.ApdexT:
						apS++
					case d <= 4*wire.ApdexT:
						apT++
					}
					if rng.IntN(100) == 0 {
						bad[wire.HitmapBucket(d)]++
						errs++
					} else {
						ok[wire.HitmapBucket(d)]++
					}
				}
				app := fmt.Sprintf("app-%d", i%3)
				inst := fmt.Sprintf("%s-%d", app, i)
				rows = append(rows, event.Row{Time: t, Fields: []event.Field{
					{Name: "type", Value: typeRoll}, {Name: "app", Value: app}, {Name: "instance", Value: inst},
					{Name: fNamespace, Value: "prod"}, {Name: fDeployment, Value: app}, {Name: fPod, Value: inst + "-7d9f8c6b5-x2x4z"},
					{Name: "count", Value: strconv.Itoa(perFlush)}, {Name: "errors", Value: strconv.Itoa(errs)},
					{Name: "sum_ms", Value: strconv.FormatFloat(sum, 'f', 3, 64)}, {Name: "max_ms", Value: strconv.FormatFloat(maxMs, 'f', 3, 64)},
					{Name: "apdex_s", Value: strconv.Itoa(apS)}, {Name: "apdex_t", Value: strconv.Itoa(apT)},
					{Name: "sql_ms", Value: strconv.FormatFloat(sum/3, 'f', 3, 64)}, {Name: "httpc_ms", Value: strconv.FormatFloat(sum/5, 'f', 3, 64)},
					{Name: "hitmap", Value: sparse(ok)}, {Name: "hitmap_err", Value: sparse(bad)},
					{Name: "users", Value: strconv.Itoa(900 + i)}, {Name: "active", Value: strconv.Itoa(rng.IntN(200))},
					{Name: "cpu_percent", Value: strconv.FormatFloat(40+rng.Float64()*20, 'f', 2, 64)},
					{Name: "heap_bytes", Value: strconv.Itoa(200<<20 + rng.IntN(50<<20))},
				}})
				bench.rollTx += uint64(perFlush)
			}
		}
		// Statistics every 5 minutes: 200 keys per instance and kind.
		if t.Truncate(5*time.Minute).Equal(t) || w == 0 {
			for i := range benchInstances {
				for _, kind := range []string{"tx", "sql", "httpc"} {
					for k := range 200 {
						rows = append(rows, row(t, typeStat, "app", fmt.Sprintf("app-%d", i%3), "instance", fmt.Sprintf("app-%d-%d", i%3, i),
							"stat.kind", kind, "stat.key", fmt.Sprintf("%s key %d", kind, k), "count", strconv.Itoa(1000+k), "sum_ms", strconv.Itoa(150000+k)))
					}
				}
			}
		}
	}
	if _, rej, err := es.Add(ctx, 1, rows); err != nil || rej != 0 {
		return fmt.Errorf("add rollups: %d rejected, %w", rej, err)
	}
	rollups := time.Since(start)

	raw := 1_000_000
	if s := os.Getenv("OSPREY_APM_BENCH_RAW"); s != "" {
		if raw, err = strconv.Atoi(s); err != nil {
			return fmt.Errorf("OSPREY_APM_BENCH_RAW: %w", err)
		}
	}
	start = time.Now()
	if err := addRawTx(ctx, es, rng, first, now, raw); err != nil {
		return err
	}
	bench.rawRows = raw
	es.Flush()
	fmt.Fprintf(os.Stderr, "apm bench store: %d rollup rows (%d tx) in %s, %d raw tx rows in %s, %d MB on disk\n",
		len(rows), bench.rollTx, rollups.Round(time.Millisecond), raw, time.Since(start).Round(time.Millisecond), es.DiskBytes()>>20)

	h := &handler{es: es, log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: func() time.Time { return now }}
	mux := h.routes()
	bench.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(authn.NewContext(r.Context(), authn.Identity{User: meta.User{ID: 1}, Project: meta.Project{ID: 1}, Role: meta.RoleViewer}))
		mux.ServeHTTP(w, r)
	})
	return nil
}

// sparse renders counts as the rollups' "bucket:count,…".
func sparse(counts []uint32) string {
	var b strings.Builder
	for i, n := range counts {
		if n == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(i))
		b.WriteByte(':')
		b.WriteString(strconv.FormatUint(uint64(n), 10))
	}
	return b.String()
}

// addRawTx stores n tx span rows spread over [first, now), shaped as
// ingest writes them, in batches.
func addRawTx(ctx context.Context, es *event.Store, rng *rand.Rand, first, now time.Time, n int) error {
	const batch = 20_000
	span := now.Sub(first)
	rows := make([]event.Row, 0, batch)
	names := []string{"GET /orders/{id}", "POST /orders", "GET /catalog", "GET /users/{id}", "POST /pay"}
	for done := 0; done < n; {
		rows = rows[:0]
		for k := 0; k < batch && done < n; k++ {
			// In float: done × span overflows int64 past 15M rows.
			end := first.Add(time.Duration(float64(span) * float64(done) / float64(n)))
			d := math.Exp(math.Log(150) + 0.9*rng.NormFloat64())
			i := done % benchInstances
			app := fmt.Sprintf("app-%d", i%3)
			tid := fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())
			rows = append(rows, row(end, typeSpan, "_msg", names[done%len(names)], "trace_id", tid, "span_id", tid[:16],
				"apm.role", "tx", "app", app, "instance", fmt.Sprintf("%s-%d", app, i), "service.name", app,
				"span.name", names[done%len(names)], "span.kind", "server", "status", "unset",
				"start", strconv.FormatInt(end.Add(-msd(d)).UnixNano(), 10), "end", strconv.FormatInt(end.UnixNano(), 10),
				"duration_ms", strconv.FormatFloat(d, 'f', -1, 64), "tx.name", names[done%len(names)], "tx.error", "0",
				"tx.status", "200", "tx.method", "GET", "tx.client_ip", fmt.Sprintf("10.0.%d.%d", rng.IntN(4), rng.IntN(250)),
				"tx.sql_count", "2", "tx.sql_ms", "3.5", "k8s.namespace.name", "prod", "telemetry.sdk.language", "go"))
			done++
		}
		if _, rej, err := es.Add(ctx, 1, rows); err != nil || rej != 0 {
			return fmt.Errorf("add raw tx: %d rejected, %w", rej, err)
		}
	}
	return nil
}

func benchGet(b *testing.B, path string) []byte {
	b.Helper()
	var body []byte
	for b.Loop() {
		rec := httptest.NewRecorder()
		bench.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
		body = rec.Body.Bytes()
	}
	return body
}

// BenchmarkHitmap10Min is the target: the default hitmap (the last 10
// minutes) over all instances.
func BenchmarkHitmap10Min(b *testing.B) {
	benchStore(b)
	b.ReportAllocs()
	body := benchGet(b, "/api/v1/apm/hitmap")
	var env struct {
		Data hitmapJSON `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		b.Fatal(err)
	}
	// Every transaction the rollups count is in a cell.
	if env.Data.Total != bench.rollTx {
		b.Fatalf("hitmap total %d, rollups count %d", env.Data.Total, bench.rollTx)
	}
	b.ReportMetric(float64(len(env.Data.Cells)), "cells")
	b.ReportMetric(float64(env.Data.Total)/1e6, "Mtx")
}

// BenchmarkHitmap10MinOneApp narrows to one app's instances.
func BenchmarkHitmap10MinOneApp(b *testing.B) {
	benchStore(b)
	b.ReportAllocs()
	benchGet(b, "/api/v1/apm/hitmap?app=app-1")
}

func BenchmarkOverview10Min(b *testing.B) {
	benchStore(b)
	b.ReportAllocs()
	benchGet(b, "/api/v1/apm/overview")
}

func BenchmarkApps(b *testing.B) {
	benchStore(b)
	b.ReportAllocs()
	benchGet(b, "/api/v1/apm/apps")
}

func BenchmarkStatsSQL10Min(b *testing.B) {
	benchStore(b)
	b.ReportAllocs()
	benchGet(b, "/api/v1/apm/stats?kind=sql")
}

// BenchmarkTransactionsBox lists a slow box of the last minute among the
// raw tx rows.
func BenchmarkTransactionsBox(b *testing.B) {
	benchStore(b)
	b.ReportAllocs()
	end := bench.now.Truncate(window)
	benchGet(b, fmt.Sprintf("/api/v1/apm/transactions?start=%d&end=%d&min_ms=1000&max_ms=5000", end.Add(-time.Minute).Unix(), end.Unix()))
}
