// Package bench measures what the APM library costs a Go HTTP service:
// the same handler (a) without instrumentation, (b) with plain otelhttp and
// the OpenTelemetry SDK's batch exporter sending to a local OTLP receiver,
// and (c) with apm.Handler, sending to a local Osprey-like receiver.
//
// BenchmarkRate drives each over loopback at a fixed rate (default 10,000
// requests/s for 5 s; BENCH_RATE, BENCH_SECONDS and BENCH_WAIT_US, the
// handler's simulated wait, change them) and
// reports the latency percentiles and the process CPU time per request
// (getrusage of the process: server and load generator, which is the
// same for every variant; the receiver runs in a child process). BenchmarkServeHTTP measures the handler alone.
//
//	go test -run '^$' -bench . -benchtime 1x ./apm/bench
package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/osprey-monitoring/osprey/apm"
	"github.com/osprey-monitoring/osprey/apm/internal/collector"
)

// mux is the application: one route that writes a small body, after
// waiting BENCH_WAIT_US microseconds (0 by default) as a handler waits on
// its database or another service: a realistic request takes milliseconds,
// and added latency is judged against that.
func mux() http.Handler {
	wait := time.Duration(envInt("BENCH_WAIT_US", 0)) * time.Microsecond
	m := http.NewServeMux()
	m.HandleFunc("GET /work/{id}", func(w http.ResponseWriter, r *http.Request) {
		if wait > 0 {
			time.Sleep(wait)
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok "+r.PathValue("id"))
	})
	return m
}

// TestMain doubles as the receiver process: the benchmarks run the
// OTLP/agent receiver in a child process, so getrusage of this process
// counts the application (and the load generator), not the receiver.
func TestMain(m *testing.M) {
	if os.Getenv("APM_BENCH_RECEIVER") == "1" {
		col, err := collector.Start("", true)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(col.Addr)
		_, _ = io.Copy(io.Discard, os.Stdin) // until the parent is done
		col.Stop()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// receiver starts the receiver process and returns its address.
func receiver(b *testing.B) string {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "APM_BENCH_RECEIVER=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("receiver: %v", err)
	}
	return strings.TrimSpace(line)
}

type variant struct {
	name  string
	setup func(b *testing.B, addr string) (http.Handler, func())
}

var variants = []variant{
	{"plain", func(*testing.B, string) (http.Handler, func()) { return mux(), func() {} }},
	{"otelhttp", func(b *testing.B, addr string) (http.Handler, func()) {
		exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(addr), otlptracegrpc.WithInsecure())
		if err != nil {
			b.Fatal(err)
		}
		// The same batching as the apm variant, so both export every span.
		tp := sdktrace.NewTracerProvider(sdktrace.WithResource(resource.Default()),
			sdktrace.WithBatcher(exp, sdktrace.WithMaxQueueSize(16384), sdktrace.WithMaxExportBatchSize(1024),
				sdktrace.WithBatchTimeout(2*time.Second)))
		return otelhttp.NewHandler(mux(), "bench", otelhttp.WithTracerProvider(tp)), func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = tp.Shutdown(ctx)
		}
	}},
	{"apm", func(b *testing.B, addr string) (http.Handler, func()) {
		agent, err := apm.Start(context.Background(), apm.Config{Endpoint: addr, Key: "k", App: "bench", Insecure: true})
		if err != nil {
			b.Fatal(err)
		}
		return agent.Handler(mux(), "bench"), func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = agent.Shutdown(ctx)
		}
	}},
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRate is the open-loop load test: requests are due at a fixed
// rate whatever the server does, and latency is measured from when each
// was due, so a stalled server shows in the percentiles.
func BenchmarkRate(b *testing.B) {
	rate := envInt("BENCH_RATE", 10000)
	seconds := envInt("BENCH_SECONDS", 5)
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			h, stop := v.setup(b, receiver(b))
			// A plain http.Server: httptest's tracks connections under a
			// mutex that every request contends on.
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := &http.Server{Handler: h}
			go func() { _ = srv.Serve(lis) }()
			defer srv.Close()
			defer stop()
			addr := lis.Addr().String()

			// Warm up connections, pools and caches.
			drive(addr, rate, 500*time.Millisecond)
			var lat []time.Duration
			var done, failed int
			var cpu, wall time.Duration
			b.ResetTimer()
			for range b.N {
				c0, w0 := cpuTime(), time.Now()
				r := drive(addr, rate, time.Duration(seconds)*time.Second)
				cpu += cpuTime() - c0
				wall += time.Since(w0)
				lat = append(lat, r.lat...)
				done += len(r.lat)
				failed += r.failed
			}
			b.StopTimer()
			slices.Sort(lat)
			pct := func(p float64) float64 {
				if len(lat) == 0 {
					return 0
				}
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds())
			}
			b.ReportMetric(pct(0.50), "p50-µs")
			b.ReportMetric(pct(0.99), "p99-µs")
			b.ReportMetric(float64(cpu.Microseconds())/float64(max(done, 1)), "cpu-µs/req")
			b.ReportMetric(float64(done)/wall.Seconds(), "req/s")
			b.ReportMetric(float64(failed), "failed")
			b.ReportMetric(float64(cpu)/float64(wall)*100, "cpu-%")
		})
	}
}

type result struct {
	lat    []time.Duration
	failed int
}

// drive sends rate requests per second for d through a pool of
// keep-alive connections, each request due at an exact time. The client
// side is a minimal HTTP/1.1 writer and reader, so the load generator's own
// CPU (which shares the process and the two cores) stays small next to the
// server's; net/http's client costs more than the server it measures.
func drive(addr string, rate int, d time.Duration) result {
	const workers = 128
	type job struct {
		due time.Time
		id  int
	}
	jobs := make(chan job, rate) // a second of backlog at most
	var mu sync.Mutex
	var res result
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, rate*int(d/time.Second+1)/workers+16)
			failed := 0
			var c *conn
			for j := range jobs {
				if c == nil {
					var err error
					if c, err = dial(addr); err != nil {
						failed++
						continue
					}
				}
				if err := c.get(j.id); err != nil {
					failed++
					c.close()
					c = nil
					continue
				}
				lat = append(lat, time.Since(j.due))
			}
			if c != nil {
				c.close()
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.failed += failed
			mu.Unlock()
		}()
	}
	start := time.Now()
	total := int(float64(rate) * d.Seconds())
	sent := 0
	for sent < total {
		// Everything due by now goes out; due times are exact, so the
		// scheduler's jitter counts as latency, not as a lower rate.
		due := min(int(float64(rate)*time.Since(start).Seconds()), total)
		for ; sent < due; sent++ {
			t := start.Add(time.Duration(float64(sent) / float64(rate) * float64(time.Second)))
			select {
			case jobs <- job{due: t, id: sent % 100}:
			default:
				res.failed++ // a second behind: the server cannot keep up
			}
		}
		time.Sleep(500 * time.Microsecond)
	}
	close(jobs)
	wg.Wait()
	return res
}

type conn struct {
	c   net.Conn
	r   *bufio.Reader
	req [][]byte
}

func dial(addr string) (*conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	cn := &conn{c: c, r: bufio.NewReaderSize(c, 4096), req: make([][]byte, 100)}
	for i := range cn.req {
		cn.req[i] = []byte("GET /work/" + strconv.Itoa(i) + " HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: bench/1\r\n\r\n")
	}
	return cn, nil
}

func (c *conn) close() { c.c.Close() }

// get sends one request and reads the response: status line, headers
// (Content-Length only), body.
func (c *conn) get(id int) error {
	if _, err := c.c.Write(c.req[id]); err != nil {
		return err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200")) {
		return fmt.Errorf("status %q", line)
	}
	length := -1
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(h) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(h, []byte("Content-Length: ")); ok {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if length < 0 {
		return fmt.Errorf("no Content-Length")
	}
	_, err = c.r.Discard(length)
	return err
}

// BenchmarkServeHTTP is the handler alone, no network: the CPU and
// allocations each variant adds per request.
func BenchmarkServeHTTP(b *testing.B) {
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			h, stop := v.setup(b, receiver(b))
			defer stop()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest(http.MethodGet, "/work/7", nil)
				req.RemoteAddr = "10.1.2.3:4567"
				for pb.Next() {
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
				}
			})
		})
	}
}
