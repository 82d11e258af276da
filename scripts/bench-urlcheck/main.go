// Command bench-urlcheck measures the agent's URL-check module at 10,000
// checks a minute from one agent (its CPU and memory), beside Debian's
// prometheus-blackbox-exporter doing the same probes.
//
//	go run ./scripts/bench-urlcheck [-window 2m] [-checks 10000] [-interval 60s]
//
// The target web server runs as a child process (this binary re-executed
// with -serve), so during the module's window this process's rusage is the
// module's own: scheduling, probing, building and encoding the results as
// the agent would spool them. blackbox_exporter then runs as its own process
// on a free port with a config written here, and a scraper in this process
// drives the same probes per minute through /probe; its CPU and memory come
// from /proc/<pid>. The blackbox side also pays for serving the HTTP scrape
// and formatting the probe's metrics, which is how it is used in practice;
// the module side pays for encoding its results to protobuf instead.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/protobuf/proto"

	"github.com/osprey-monitoring/osprey/internal/agent/urlcheck"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times; it is 100 on
// every Linux architecture Go supports.
const clockTicks = 100

type options struct {
	checks      int
	interval    time.Duration
	window      time.Duration
	warmup      time.Duration
	concurrency int
	bodySize    int
	blackbox    string
	cpuProfile  string
}

// measurement is one side's figures over the window.
type measurement struct {
	name     string
	cpu      time.Duration // user+system over the window
	peakRSS  int64         // bytes, highest VmRSS sampled in the window
	hwm      int64         // bytes, VmHWM (peak over the process lifetime)
	done     uint64
	failures uint64
	skipped  uint64
	note     string
}

func main() {
	var o options
	serve := flag.Bool("serve", false, "run the target web server (used by the benchmark itself)")
	flag.IntVar(&o.checks, "checks", 10000, "number of URL checks")
	flag.DurationVar(&o.interval, "interval", 60*time.Second, "interval of every check")
	flag.DurationVar(&o.window, "window", 2*time.Minute, "measured window per side")
	flag.DurationVar(&o.warmup, "warmup", 10*time.Second, "time to run before measuring")
	flag.IntVar(&o.concurrency, "concurrency", urlcheck.DefaultConcurrency, "runs in flight at once (module and scraper)")
	flag.IntVar(&o.bodySize, "body", 1024, "size of the target's response body in bytes")
	flag.StringVar(&o.blackbox, "blackbox", "/usr/bin/prometheus-blackbox-exporter", "blackbox_exporter binary; empty to skip")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the module's window to this file")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if *serve {
		if err := serveTarget(o.bodySize); err != nil {
			fmt.Fprintln(os.Stderr, "target:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, logger); err != nil {
		fmt.Fprintln(os.Stderr, "bench-urlcheck:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, logger *slog.Logger) error {
	target, err := startTarget(ctx, o.bodySize)
	if err != nil {
		return err
	}
	defer target.stop()
	fmt.Printf("input: %d checks every %s (%.1f/s), warm-up %s, window %s per side, target body %d B (contains \"ok\"), concurrency %d, GOMAXPROCS %d, %d CPUs\n",
		o.checks, o.interval, float64(o.checks)/o.interval.Seconds(), o.warmup, o.window, o.bodySize, o.concurrency, runtime.GOMAXPROCS(0), runtime.NumCPU())

	urls := make([]string, o.checks)
	for i := range urls {
		urls[i] = fmt.Sprintf("http://%s/c/%d", target.addr, i)
	}

	results := []measurement{}
	tcpu0, _ := procCPU(target.pid)
	mod, err := benchModule(ctx, o, urls, logger)
	if err != nil {
		return err
	}
	results = append(results, mod)
	tcpu1, _ := procCPU(target.pid)
	fmt.Printf("target server during the module's run: %.2f CPU s/min\n", perMinute(tcpu1-tcpu0, o.window+o.warmup))

	if o.blackbox != "" {
		if _, err := os.Stat(o.blackbox); err != nil {
			fmt.Printf("blackbox_exporter not found (%v): apt-get install -y prometheus-blackbox-exporter\n", err)
		} else {
			bb, err := benchBlackbox(ctx, o, urls)
			if err != nil {
				return fmt.Errorf("blackbox_exporter: %w", err)
			}
			results = append(results, bb)
		}
	}
	printTable(o, results)
	return nil
}

func perMinute(d time.Duration, over time.Duration) float64 {
	return d.Seconds() / over.Minutes()
}

// benchModule runs the module in this process and measures its rusage.
func benchModule(ctx context.Context, o options, urls []string, logger *slog.Logger) (measurement, error) {
	checks := make([]*agentpb.URLCheck, len(urls))
	for i, u := range urls {
		checks[i] = &agentpb.URLCheck{
			Id: fmt.Sprintf("bench-%05d", i), Name: fmt.Sprintf("bench %d", i), Url: u,
			ExpectedBody: "ok", IntervalSeconds: int32(o.interval / time.Second), TimeoutMs: 10000,
		}
	}
	ident := &agentpb.AgentIdentity{Id: "bench", Name: "bench", Group: "bench", Kind: "url", Version: "bench"}
	m := urlcheck.New(urlcheck.Config{Enabled: true, Concurrency: o.concurrency}, ident, logger)
	m.SetChecks(checks)

	var encoded atomic.Int64
	var kindsMu sync.Mutex
	kinds := map[string]uint64{}
	emit := func(out urlcheck.Output) {
		// Encode as the agent does before spooling, so that cost counts.
		b, err := proto.Marshal(out.Push)
		if err != nil {
			logger.Error("encode push", "err", err)
		}
		mb, err := pmetricotlp.NewExportRequestFromMetrics(out.Metrics).MarshalProto()
		if err != nil {
			logger.Error("encode metrics", "err", err)
		}
		encoded.Add(int64(len(b) + len(mb)))
		kindsMu.Lock()
		for _, r := range out.Push.GetSnapshots()[0].GetUrlResults().GetResults() {
			if !r.Up {
				kinds[r.Failure+": "+r.Error]++
			}
		}
		kindsMu.Unlock()
	}

	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(rctx, emit)
	}()
	defer func() {
		cancel()
		<-done
	}()

	fmt.Printf("osprey urlcheck: warming up %s, then measuring %s\n", o.warmup, o.window)
	if err := sleep(ctx, o.warmup); err != nil {
		return measurement{}, err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return measurement{}, fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return measurement{}, fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	self := os.Getpid()
	r0 := rusage()
	s0 := m.Stats()
	enc0 := encoded.Load()
	peak, err := sampleRSS(ctx, self, o.window)
	if err != nil {
		return measurement{}, err
	}
	r1 := rusage()
	s1 := m.Stats()
	hwm, _ := procStatusBytes(self, "VmHWM")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)

	kindsMu.Lock()
	defer kindsMu.Unlock()
	type kind struct {
		what string
		n    uint64
	}
	var ks []kind
	for k, n := range kinds {
		ks = append(ks, kind{k, n})
	}
	slices.SortFunc(ks, func(a, b kind) int { return cmp.Compare(b.n, a.n) })
	worst := []string{"none"}
	if len(ks) > 0 {
		worst = worst[:0]
	}
	for _, k := range ks[:min(len(ks), 5)] {
		worst = append(worst, fmt.Sprintf("%d× %s", k.n, k.what))
	}
	return measurement{
		name: "osprey urlcheck", cpu: r1 - r0, peakRSS: peak, hwm: hwm,
		done: s1.Runs - s0.Runs, failures: s1.Failures - s0.Failures, skipped: s1.Skipped - s0.Skipped,
		note: fmt.Sprintf("Go heap in use %.1f MiB; encoded output %.1f KiB/s; failures seen: %s",
			float64(ms.HeapInuse)/(1<<20), float64(encoded.Load()-enc0)/1024/o.window.Seconds(), strings.Join(worst, "; ")),
	}, nil
}

// benchBlackbox runs blackbox_exporter as a child and drives the same
// probes through its /probe endpoint.
func benchBlackbox(ctx context.Context, o options, urls []string) (measurement, error) {
	dir, err := os.MkdirTemp("", "bench-urlcheck-")
	if err != nil {
		return measurement{}, fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	// The same work as the module's checks: fresh connection, status 2xx,
	// body containing "ok", 10 s timeout.
	cfg := `modules:
  http_2xx:
    prober: http
    timeout: 10s
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
      fail_if_body_not_matches_regexp: ["ok"]
`
	cfgPath := filepath.Join(dir, "blackbox.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return measurement{}, fmt.Errorf("write config: %w", err)
	}
	addr, err := freePort()
	if err != nil {
		return measurement{}, err
	}
	version, _ := exec.CommandContext(ctx, o.blackbox, "--version").CombinedOutput()
	name := "blackbox_exporter"
	if f := strings.Fields(string(version)); len(f) >= 3 {
		name += " " + f[2]
	}

	cmd := exec.CommandContext(ctx, o.blackbox, "--config.file="+cfgPath, "--web.listen-address="+addr, "--log.level=warn")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		return measurement{}, fmt.Errorf("start: %w", err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	if err := waitHTTP(ctx, "http://"+addr+"/-/healthy", 10*time.Second); err != nil {
		return measurement{}, fmt.Errorf("%w (stderr: %s)", err, stderr.String())
	}

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var done, failures, skipped atomic.Uint64
	var scrapers sync.WaitGroup
	scrapers.Add(1)
	go func() {
		defer scrapers.Done()
		scrape(sctx, o, "http://"+addr, urls, &done, &failures, &skipped)
	}()
	defer scrapers.Wait()
	defer cancel()

	fmt.Printf("%s: warming up %s, then measuring %s\n", name, o.warmup, o.window)
	if err := sleep(ctx, o.warmup); err != nil {
		return measurement{}, err
	}
	pid := cmd.Process.Pid
	c0, err := procCPU(pid)
	if err != nil {
		return measurement{}, err
	}
	d0, f0, s0 := done.Load(), failures.Load(), skipped.Load()
	peak, err := sampleRSS(ctx, pid, o.window)
	if err != nil {
		return measurement{}, err
	}
	c1, err := procCPU(pid)
	if err != nil {
		return measurement{}, err
	}
	hwm, _ := procStatusBytes(pid, "VmHWM")
	return measurement{
		name: name, cpu: c1 - c0, peakRSS: peak, hwm: hwm,
		done: done.Load() - d0, failures: failures.Load() - f0, skipped: skipped.Load() - s0,
		note: "includes serving the /probe scrapes",
	}, nil
}

// scrape asks blackbox_exporter for every target once per interval, spread
// evenly over the interval, with at most o.concurrency scrapes in flight; a
// scrape that finds no free worker is skipped, as the module skips.
func scrape(ctx context.Context, o options, base string, urls []string, done, failures, skipped *atomic.Uint64) {
	client := &http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        o.concurrency,
			MaxIdleConnsPerHost: o.concurrency,
		},
	}
	jobs := make(chan string)
	var workers sync.WaitGroup
	for range o.concurrency {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for u := range jobs {
				ok, err := probeVia(ctx, client, base, u)
				if ctx.Err() != nil {
					return
				}
				done.Add(1)
				if err != nil || !ok {
					failures.Add(1)
				}
			}
		}()
	}
	defer workers.Wait()
	defer close(jobs)

	start := time.Now()
	step := o.interval / time.Duration(len(urls))
	timer := time.NewTimer(0)
	defer timer.Stop()
	for k := 0; ; k++ {
		at := start.Add(time.Duration(k) * step)
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		select {
		case jobs <- urls[k%len(urls)]:
		default:
			skipped.Add(1)
		}
	}
}

func probeVia(ctx context.Context, client *http.Client, base, target string) (bool, error) {
	q := url.Values{"target": {target}, "module": {"http_2xx"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/probe?"+q.Encode(), nil)
	if err != nil {
		return false, fmt.Errorf("build request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, fmt.Errorf("read scrape: %w", err)
	}
	return bytes.Contains(b, []byte("\nprobe_success 1")), nil
}

// target is the child process serving the checked URLs.
type target struct {
	addr string
	pid  int
	stop func()
}

func startTarget(ctx context.Context, bodySize int) (*target, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own binary: %w", err)
	}
	cmd := exec.CommandContext(ctx, self, "-serve", "-body", strconv.Itoa(bodySize))
	// The child exits when this pipe closes, even if we die.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("target stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("target stdout: %w", err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start target: %w", err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("read target address: %w", err)
	}
	return &target{
		addr: strings.TrimSpace(line),
		pid:  cmd.Process.Pid,
		stop: func() {
			_ = stdin.Close()
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		},
	}, nil
}

// serveTarget is the child: a plain web server whose every page contains
// "ok". It prints its address and serves until stdin closes.
func serveTarget(bodySize int) error {
	body := []byte("status: ok\n")
	if bodySize > len(body) {
		body = append(body, bytes.Repeat([]byte("."), bodySize-len(body))...)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Println(ln.Addr().String())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write(body)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

func printTable(o options, ms []measurement) {
	fmt.Println()
	fmt.Printf("%d checks every %s (%.1f/s), measured over %s per side\n", o.checks, o.interval, float64(o.checks)/o.interval.Seconds(), o.window)
	fmt.Printf("%-26s %10s %12s %13s %13s %9s %9s %8s\n", "", "CPU s/min", "% of a core", "peak RSS MiB", "VmHWM MiB", "checks", "failures", "skipped")
	for _, m := range ms {
		cpm := perMinute(m.cpu, o.window)
		fmt.Printf("%-26s %10.2f %11.1f%% %13.1f %13.1f %9d %9d %8d\n",
			m.name, cpm, cpm/60*100, float64(m.peakRSS)/(1<<20), float64(m.hwm)/(1<<20), m.done, m.failures, m.skipped)
	}
	for _, m := range ms {
		if m.note != "" {
			fmt.Printf("  %s: %s\n", m.name, m.note)
		}
	}
}

// rusage is this process's user+system CPU time.
func rusage() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is a process's user+system CPU time from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read stat: %w", err)
	}
	// The command name may hold spaces; fields start after its ")".
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	// utime and stime are fields 14 and 15 of the line, 12 and 13 here.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// procStatusBytes reads a "kB" field of /proc/<pid>/status.
func procStatusBytes(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s: %w", field, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// sampleRSS waits for d and returns the highest VmRSS seen, sampled every
// 250 ms.
func sampleRSS(ctx context.Context, pid int, d time.Duration) (int64, error) {
	end := time.Now().Add(d)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var peak int64
	for time.Now().Before(end) {
		if rss, err := procStatusBytes(pid, "VmRSS"); err == nil {
			peak = max(peak, rss)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-tick.C:
		}
	}
	return peak, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

func waitHTTP(ctx context.Context, u string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return fmt.Errorf("build request: %w", err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %v", u, within, err)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}
