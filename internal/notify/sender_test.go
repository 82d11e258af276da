package notify

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

type result struct {
	ch       *Channel
	n        Notification
	attempts int
	err      error
}

// startSender runs a sender until the test ends and collects Result calls.
func startSender(t *testing.T, opts Options) (*Sender, <-chan result) {
	t.Helper()
	results := make(chan result, 100)
	opts.Result = func(ch *Channel, n Notification, attempts int, err error) {
		results <- result{ch, n, attempts, err}
	}
	s := NewSender(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, results
}

func waitResult(t *testing.T, results <-chan result, timeout time.Duration) result {
	t.Helper()
	select {
	case r := <-results:
		return r
	case <-time.After(timeout):
		t.Fatalf("no delivery result within %v", timeout)
		return result{}
	}
}

type request struct {
	header http.Header
	body   []byte
	at     time.Time
}

// receiver is a real HTTP endpoint that records requests and answers with respond(i), i being
// the 0-based request number.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []request
	respond func(i int, w http.ResponseWriter)
}

func newReceiver(t *testing.T, respond func(i int, w http.ResponseWriter)) *receiver {
	t.Helper()
	r := &receiver{respond: respond}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		i := len(r.reqs)
		r.reqs = append(r.reqs, request{req.Header.Clone(), body, time.Now()})
		r.mu.Unlock()
		if req.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		if r.respond != nil {
			r.respond(i, w)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.reqs...)
}

// statuses answers the i-th request with codes[i] (the last one repeats).
func statuses(codes ...int) func(int, http.ResponseWriter) {
	return func(i int, w http.ResponseWriter) {
		w.WriteHeader(codes[min(i, len(codes)-1)])
	}
}

func webhookChannel(url string) *Channel {
	return &Channel{ID: 1, Name: "ops-hook", Type: TypeWebhook, Webhook: &WebhookConfig{URL: url}}
}

// TestRetryPolicy proves which answers are retried, how many attempts are made and that the
// waits between them follow the back-off and Retry-After.
func TestRetryPolicy(t *testing.T) {
	const base = 20 * time.Millisecond
	tests := []struct {
		name         string
		respond      func(int, http.ResponseWriter)
		maxBackoff   time.Duration
		wantAttempts int
		wantErr      string          // "" = delivered
		minGaps      []time.Duration // lower bounds between consecutive attempts
		maxTotal     time.Duration   // upper bound for all gaps together (0 = no check)
	}{
		{
			name: "500 twice then 200", respond: statuses(500, 500, 200),
			wantAttempts: 3, minGaps: []time.Duration{base, 2 * base},
		},
		{name: "400 is final", respond: statuses(400), wantAttempts: 1, wantErr: "400 Bad Request"},
		{name: "404 is final", respond: statuses(404), wantAttempts: 1, wantErr: "404 Not Found"},
		{name: "redirect is final", respond: func(_ int, w http.ResponseWriter) {
			w.Header().Set("Location", "https://elsewhere.example/")
			w.WriteHeader(http.StatusFound)
		}, wantAttempts: 1, wantErr: "302 Found"},
		{name: "408 is retried", respond: statuses(408, 204), wantAttempts: 2},
		{name: "500 until attempts run out", respond: statuses(503), wantAttempts: 4, wantErr: "503 Service Unavailable"},
		{
			name: "429 honours Retry-After seconds",
			respond: func(i int, w http.ResponseWriter) {
				if i == 0 {
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(http.StatusTooManyRequests)
				}
			},
			wantAttempts: 2, minGaps: []time.Duration{time.Second},
		},
		{
			name: "503 Retry-After capped at max backoff",
			respond: func(i int, w http.ResponseWriter) {
				if i == 0 {
					w.Header().Set("Retry-After", "3600")
					w.WriteHeader(http.StatusServiceUnavailable)
				}
			},
			maxBackoff: 300 * time.Millisecond, wantAttempts: 2,
			minGaps: []time.Duration{300 * time.Millisecond}, maxTotal: 3 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rcv := newReceiver(t, tt.respond)
			s, results := startSender(t, Options{MaxAttempts: 4, BaseBackoff: base, MaxBackoff: tt.maxBackoff})
			if err := s.Enqueue(webhookChannel(rcv.URL+"/hook"), testNotification()); err != nil {
				t.Fatal(err)
			}
			r := waitResult(t, results, 10*time.Second)
			if r.attempts != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", r.attempts, tt.wantAttempts)
			}
			if got := len(rcv.requests()); got != tt.wantAttempts {
				t.Errorf("receiver saw %d requests, want %d", got, tt.wantAttempts)
			}
			switch {
			case tt.wantErr == "" && r.err != nil:
				t.Errorf("err = %v, want delivered", r.err)
			case tt.wantErr != "" && (r.err == nil || !strings.Contains(r.err.Error(), tt.wantErr)):
				t.Errorf("err = %v, want %q", r.err, tt.wantErr)
			}
			if r.err != nil && !strings.HasPrefix(r.err.Error(), "webhook ops-hook: ") {
				t.Errorf("err = %q, want it to name the channel", r.err)
			}
			reqs := rcv.requests()
			var total time.Duration
			for i, min := range tt.minGaps {
				if i+1 >= len(reqs) {
					break
				}
				gap := reqs[i+1].at.Sub(reqs[i].at)
				total += gap
				if gap < min {
					t.Errorf("gap %d = %v, want >= %v", i+1, gap, min)
				}
			}
			if tt.maxTotal > 0 && total > tt.maxTotal {
				t.Errorf("waited %v in total, want <= %v", total, tt.maxTotal)
			}
			// Retries repeat the delivery id so the receiver can de-duplicate.
			if len(reqs) > 1 && reqs[0].header.Get(HeaderDelivery) != reqs[len(reqs)-1].header.Get(HeaderDelivery) {
				t.Error("delivery id changed between attempts")
			}
			st := s.Stats()
			wantSent, wantFailed := uint64(1), uint64(0)
			if tt.wantErr != "" {
				wantSent, wantFailed = 0, 1
			}
			if st.Sent != wantSent || st.Failed != wantFailed || st.Retried != uint64(tt.wantAttempts-1) || st.Pending != 0 {
				t.Errorf("stats = %+v, want sent %d failed %d retried %d pending 0", st, wantSent, wantFailed, tt.wantAttempts-1)
			}
		})
	}
}

// TestDeadEndpoint proves that connection failures are retried MaxAttempts times, end in a
// Result with the error, and that neither the error nor the log reveals the URL's token, the
// signing secret or the Authorization header.
func TestDeadEndpoint(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there any more

	var logBuf syncBuffer
	logger := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, results := startSender(t, Options{MaxAttempts: 3, BaseBackoff: 5 * time.Millisecond, Logger: logger})
	ch := webhookChannel("http://" + addr + "/hooks/URLTOKEN?key=QUERYTOKEN")
	ch.Webhook.Secret = "SIGNSECRET"
	ch.Webhook.Headers = map[string]string{"Authorization": "Bearer HEADERTOKEN"}
	if err := s.Enqueue(ch, testNotification()); err != nil {
		t.Fatal(err)
	}
	r := waitResult(t, results, 10*time.Second)
	if r.err == nil || r.attempts != 3 {
		t.Fatalf("result = %d attempts, err %v; want 3 attempts and an error", r.attempts, r.err)
	}
	if !strings.Contains(r.err.Error(), addr) {
		t.Errorf("err = %q, want it to name the host %s", r.err, addr)
	}
	if st := s.Stats(); st.Failed != 1 || st.Retried != 2 || st.Sent != 0 {
		t.Errorf("stats = %+v, want failed 1, retried 2", st)
	}
	logs := logBuf.String()
	if !strings.Contains(logs, "delivery failed") {
		t.Errorf("log has no failure line:\n%s", logs)
	}
	for _, secret := range []string{"URLTOKEN", "QUERYTOKEN", "SIGNSECRET", "HEADERTOKEN"} {
		if strings.Contains(r.err.Error(), secret) {
			t.Errorf("error reveals %s: %v", secret, r.err)
		}
		if strings.Contains(logs, secret) {
			t.Errorf("log reveals %s:\n%s", secret, logs)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestQueueFull proves Enqueue refuses without blocking once QueueSize deliveries are pending,
// counts the refusal, and that what was queued before Run starts is delivered.
func TestQueueFull(t *testing.T) {
	rcv := newReceiver(t, statuses(200))
	results := make(chan result, 10)
	s := NewSender(Options{QueueSize: 2, Result: func(ch *Channel, n Notification, a int, err error) {
		results <- result{ch, n, a, err}
	}})
	ch := webhookChannel(rcv.URL)
	for i := range 2 {
		if err := s.Enqueue(ch, testNotification()); err != nil {
			t.Fatalf("Enqueue %d: %v", i, err)
		}
	}
	start := time.Now()
	err := s.Enqueue(ch, testNotification())
	if !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third Enqueue = %v, want ErrQueueFull", err)
	}
	if time.Since(start) > time.Second {
		t.Error("Enqueue blocked on a full queue")
	}
	if st := s.Stats(); st.Dropped != 1 || st.Pending != 2 {
		t.Errorf("stats = %+v, want dropped 1, pending 2", st)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for range 2 {
		if r := waitResult(t, results, 5*time.Second); r.err != nil {
			t.Errorf("queued delivery failed: %v", r.err)
		}
	}
	if err := s.Enqueue(ch, testNotification()); err != nil {
		t.Errorf("Enqueue after the queue drained: %v", err)
	}
}

// TestShutdown proves that Run drains for a bounded time, then abandons in-flight, queued and
// waiting deliveries, reports each to Result with ErrShutdown and counts them as dropped.
func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	hang := newReceiver(t, func(int, http.ResponseWriter) { <-release })
	defer close(release) // before the server's Close, which waits for handlers
	fast := newReceiver(t, statuses(200))
	retry := newReceiver(t, statuses(500))

	results := make(chan result, 10)
	s := NewSender(Options{Workers: 1, BaseBackoff: time.Hour, MaxBackoff: time.Hour,
		Result: func(ch *Channel, n Notification, a int, err error) { results <- result{ch, n, a, err} }})
	s.drain = 200 * time.Millisecond

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()

	// One delivery that will wait an hour for its retry ...
	if err := s.Enqueue(webhookChannel(retry.URL), testNotification()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(retry.requests()) == 1 })
	// ... then the only worker gets stuck on a hanging receiver, so the next one stays queued.
	if err := s.Enqueue(webhookChannel(hang.URL), testNotification()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(hang.requests()) == 1 })
	if err := s.Enqueue(webhookChannel(fast.URL), testNotification()); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the drain")
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("Run returned after %v, before the drain time", took)
	}
	for range 3 {
		r := waitResult(t, results, time.Second)
		if !errors.Is(r.err, ErrShutdown) {
			t.Errorf("result err = %v, want ErrShutdown", r.err)
		}
	}
	if st := s.Stats(); st.Dropped != 3 || st.Pending != 0 || st.Sent != 0 {
		t.Errorf("stats = %+v, want dropped 3, pending 0", st)
	}
	if err := s.Enqueue(webhookChannel(fast.URL), testNotification()); !errors.Is(err, ErrShutdown) {
		t.Errorf("Enqueue after shutdown = %v, want ErrShutdown", err)
	}
}

// TestShutdownDrainDelivers proves queued deliveries still go out during the drain.
func TestShutdownDrainDelivers(t *testing.T) {
	rcv := newReceiver(t, statuses(200))
	s := NewSender(Options{})
	ch := webhookChannel(rcv.URL)
	for range 5 {
		if err := s.Enqueue(ch, testNotification()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // shut down at once: only the drain delivers
	start := time.Now()
	s.Run(ctx)
	if st := s.Stats(); st.Sent != 5 || st.Dropped != 0 {
		t.Errorf("stats = %+v, want 5 sent", st)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Run took %v; an idle sender should stop as soon as it is drained", took)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBackoff proves the schedule: doubling from the base, at most 25% jitter, never below
// Retry-After, never above the cap.
func TestBackoff(t *testing.T) {
	s := NewSender(Options{BaseBackoff: time.Second})
	tests := []struct {
		attempt    int
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{1, 0, time.Second, 1250 * time.Millisecond},
		{2, 0, 2 * time.Second, 2500 * time.Millisecond},
		{3, 0, 4 * time.Second, 5 * time.Second},
		{6, 0, 32 * time.Second, 40 * time.Second},
		{7, 0, time.Minute, time.Minute},
		{100, 0, time.Minute, time.Minute},
		{1, 10 * time.Second, 10 * time.Second, 10 * time.Second},
		{1, time.Hour, time.Minute, time.Minute},
	}
	for _, tt := range tests {
		for range 50 {
			if d := s.backoff(tt.attempt, tt.retryAfter); d < tt.lo || d > tt.hi {
				t.Fatalf("backoff(%d, %v) = %v, want in [%v, %v]", tt.attempt, tt.retryAfter, d, tt.lo, tt.hi)
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"5", 5 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"-3", 0},
		{"soon", 0},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(-30 * time.Second).Format(http.TimeFormat), 0},
		{"99999999999999", 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestEnqueueCopies proves a queued delivery is not affected by the caller changing its
// channel or labels afterwards (the engine reuses them).
func TestEnqueueCopies(t *testing.T) {
	rcv := newReceiver(t, statuses(200))
	results := make(chan result, 1)
	s := NewSender(Options{Result: func(ch *Channel, n Notification, a int, err error) { results <- result{ch, n, a, err} }})
	ch := webhookChannel(rcv.URL)
	ch.Webhook.Headers = map[string]string{"X-Team": "a"}
	n := testNotification()
	if err := s.Enqueue(ch, n); err != nil {
		t.Fatal(err)
	}
	ch.Webhook.URL = "http://invalid.invalid/"
	ch.Webhook.Headers["X-Team"] = "b"
	n.Labels["agent"] = "changed"

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	if r := waitResult(t, results, 5*time.Second); r.err != nil {
		t.Fatal(r.err)
	}
	req := rcv.requests()[0]
	if req.header.Get("X-Team") != "a" || !strings.Contains(string(req.body), `"agent":"web-1"`) {
		t.Errorf("delivery saw the caller's later changes: %s %s", req.header, req.body)
	}
}

func TestEnqueueInvalidChannel(t *testing.T) {
	s := NewSender(Options{})
	err := s.Enqueue(&Channel{Name: "x", Type: "pager"}, testNotification())
	if err == nil || !strings.Contains(err.Error(), "unknown type") {
		t.Fatalf("Enqueue = %v, want a validation error", err)
	}
	if st := s.Stats(); st.Failed != 1 || st.Pending != 0 {
		t.Errorf("stats = %+v, want failed 1", st)
	}
}

// TestConcurrentEnqueue proves the accounting holds under concurrent producers, retries and
// a queue that overflows: every delivery is either refused by Enqueue or reported once.
func TestConcurrentEnqueue(t *testing.T) {
	rcv := newReceiver(t, func(i int, w http.ResponseWriter) {
		if i%3 == 0 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	var (
		mu       sync.Mutex
		reported int
	)
	s := NewSender(Options{QueueSize: 50, BaseBackoff: time.Millisecond, Workers: 3,
		Result: func(*Channel, Notification, int, error) { mu.Lock(); reported++; mu.Unlock() }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()

	const producers, each = 8, 50
	var wg sync.WaitGroup
	var refused sync.Map
	for p := range producers {
		wg.Go(func() {
			ch := webhookChannel(rcv.URL)
			for i := range each {
				if err := s.Enqueue(ch, testNotification()); err != nil {
					if !errors.Is(err, ErrQueueFull) {
						t.Errorf("Enqueue: %v", err)
					}
					refused.Store(p*each+i, true)
				}
			}
		})
	}
	wg.Wait()
	waitFor(t, func() bool { return s.Stats().Pending == 0 })
	cancel()
	<-done

	nRefused := 0
	refused.Range(func(any, any) bool { nRefused++; return true })
	st := s.Stats()
	mu.Lock()
	defer mu.Unlock()
	if reported+nRefused != producers*each {
		t.Errorf("reported %d + refused %d != %d", reported, nRefused, producers*each)
	}
	if int(st.Sent+st.Failed) != reported || int(st.Dropped) != nRefused {
		t.Errorf("stats = %+v, reported %d, refused %d", st, reported, nRefused)
	}
}
