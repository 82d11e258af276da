package servers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/osprey-monitoring/osprey/internal/agentstate"
	"github.com/osprey-monitoring/osprey/internal/store/metric"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

const benchServers = 2000

// benchFixture is 2,000 simulated hosts in a tracker (two reports each, so
// rates exist, and a 150-process list) and, with series, an hour of 5 s
// CPU samples in a real TSDB.
func benchFixture(b *testing.B, series bool) *fixture {
	b.Helper()
	ms, es := openStores(b)
	f := &fixture{tr: agentstate.NewTracker(0), ms: ms, es: es, now: time.Now()}
	f.h = NewHandler(f.tr, ms, es, func(*http.Request) (int64, bool) { return project, true })
	names := []string{"nginx", "java", "postgres", "sshd", "systemd", "node", "python3", "redis-server", "kworker/0:1", "cron"}
	for i := range benchServers {
		h := host{id: fmt.Sprintf("agent-%04d", i), name: fmt.Sprintf("srv-%04d", i), group: fmt.Sprintf("g%d", i%20),
			labels: map[string]string{"site": fmt.Sprintf("site-%d", i%5), "rack": fmt.Sprintf("r%d", i%40)},
			idle:   float64(i%100) / 100, memUsed: float64(i%90) / 100, swap: 0.1, load1: 1,
			fs: []float64{0.3, float64(i%97) / 100, 0.5}, netRx: 1e6, netTx: 5e5, diskRd: 1e5, diskWr: 2e5, cores: 8}
		for k := 1; k >= 0; k-- {
			ts := f.now.Add(-time.Duration(k) * 5 * time.Second)
			f.tr.ObserveMetrics(project, h.metrics(ts), ts)
		}
		procs := make([]*agentpb.Process, 150)
		for j := range procs {
			procs[j] = &agentpb.Process{Pid: int32(j), Name: fmt.Sprintf("%s-%d", names[j%len(names)], j%40),
				CpuPercent: float64((i + j) % 50), RssBytes: uint64(j+1) << 20}
		}
		f.tr.ObservePush(project, h.push(f.now, procs...), f.now)
	}
	if series {
		ctx := context.Background()
		end := f.now.Truncate(5 * time.Second)
		samples := make([]metric.Sample, 0, benchServers*3)
		lsets := make([][3]labels.Labels, benchServers)
		for i := range benchServers {
			id := fmt.Sprintf("agent-%04d", i)
			lsets[i] = [3]labels.Labels{
				labels.FromStrings("__name__", "system_cpu_utilization_ratio", "osprey_agent_id", id, "state", "idle"),
				labels.FromStrings("__name__", "system_cpu_utilization_ratio", "osprey_agent_id", id, "state", "user"),
				labels.FromStrings("__name__", "system_cpu_utilization_ratio", "osprey_agent_id", id, "state", "idle", "cpu", "cpu0"),
			}
		}
		for t := end.Add(-time.Hour); !t.After(end); t = t.Add(5 * time.Second) {
			samples = samples[:0]
			for i := range benchServers {
				idle := float64((i+int(t.Unix()/5))%100) / 100
				samples = append(samples,
					metric.Sample{Labels: lsets[i][0], T: t.UnixMilli(), V: idle},
					metric.Sample{Labels: lsets[i][1], T: t.UnixMilli(), V: 1 - idle},
					metric.Sample{Labels: lsets[i][2], T: t.UnixMilli(), V: idle})
			}
			if _, err := ms.AppendSamples(ctx, project, samples); err != nil {
				b.Fatal(err)
			}
		}
	}
	return f
}

func benchGet(b *testing.B, f *fixture, path string) {
	b.Helper()
	b.ReportAllocs()
	var size int
	for b.Loop() {
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", path, rec.Code, rec.Body.String())
		}
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size), "bytes/resp")
}

func BenchmarkServersList2000(b *testing.B) {
	benchGet(b, benchFixture(b, false), "/api/v1/servers")
}

func BenchmarkOverview2000(b *testing.B) {
	benchGet(b, benchFixture(b, false), "/api/v1/servers/overview")
}

func BenchmarkTopProcesses2000(b *testing.B) {
	benchGet(b, benchFixture(b, false), "/api/v1/servers/top-processes?by=cpu&limit=5")
}

func BenchmarkCPUMap2000(b *testing.B) {
	benchGet(b, benchFixture(b, true), "/api/v1/servers/cpu-map")
}
