package notify

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Options.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultMaxAttempts = 5
	DefaultBaseBackoff = time.Second
	DefaultMaxBackoff  = time.Minute
	DefaultQueueSize   = 10000
	DefaultWorkers     = 4
	DefaultDrain       = 5 * time.Second
)

var (
	// ErrQueueFull is returned by Enqueue when QueueSize deliveries are already pending.
	ErrQueueFull = errors.New("notify: delivery queue is full")
	// ErrShutdown is returned by Enqueue once Run is shutting down, and wraps the error passed
	// to Result for deliveries abandoned at shutdown.
	ErrShutdown = errors.New("notify: sender is shutting down")
)

// Options configures a Sender; zero values take the defaults.
type Options struct {
	Client      *http.Client  // default: 10 s timeout, redirects not followed
	MaxAttempts int           // default 5
	BaseBackoff time.Duration // default 1 s, doubling, with jitter, capped at MaxBackoff
	MaxBackoff  time.Duration // default 1 min; also caps Retry-After
	QueueSize   int           // default 10000; when full, Enqueue returns an error (counted), never blocks
	Workers     int           // default 4
	Logger      *slog.Logger
	// Result, when set, is called once per enqueued delivery when it succeeds (err nil), finally
	// fails, or is abandoned at shutdown (err wraps ErrShutdown). It runs on a worker
	// goroutine, so it should be quick. Send does not call it.
	Result func(ch *Channel, n Notification, attempts int, err error)
}

// Stats are the sender's counters for /metrics.
type Stats struct {
	Sent    uint64 // deliveries that succeeded
	Failed  uint64 // deliveries that finally failed (final answer or attempts exhausted)
	Retried uint64 // attempts after the first
	Dropped uint64 // refused by Enqueue (queue full, shutting down) or abandoned at shutdown
	Pending int    // deliveries queued, in flight or waiting for a retry now
}

// Sender delivers notifications with retries. Enqueue is safe for concurrent use; Run must be
// called once.
type Sender struct {
	client      *http.Client
	maxAttempts int
	baseBackoff time.Duration
	maxBackoff  time.Duration
	queueSize   int
	workers     int
	drain       time.Duration
	log         *slog.Logger
	result      func(*Channel, Notification, int, error)

	// SMTP settings; fields rather than constants so tests can shorten them.
	smtpDialTimeout time.Duration
	smtpTimeout     time.Duration
	helloName       string

	// queue holds jobs ready for a worker. Its capacity equals queueSize and pending never
	// exceeds it, so sends to it never block.
	queue chan *job
	// idle is signalled whenever pending drops, for the shutdown drain.
	idle chan struct{}

	mu            sync.Mutex
	pending       int
	waiting       map[*job]struct{} // jobs sleeping before a retry
	closing       bool
	stopped       bool
	drainDeadline time.Time

	sent, failed, retried, dropped atomic.Uint64
	lastDropLog                    atomic.Int64 // unix nanos, to keep a full queue from flooding the log
}

type job struct {
	ch         *Channel
	n          Notification
	deliveryID string // the same on every attempt so receivers can de-duplicate
	attempts   int
	lastErr    error
	due        time.Time
	timer      *time.Timer
}

// NewSender returns a sender; call Run to start its workers.
func NewSender(opts Options) *Sender {
	s := &Sender{
		client:          opts.Client,
		maxAttempts:     opts.MaxAttempts,
		baseBackoff:     opts.BaseBackoff,
		maxBackoff:      opts.MaxBackoff,
		queueSize:       opts.QueueSize,
		workers:         opts.Workers,
		drain:           DefaultDrain,
		log:             opts.Logger,
		result:          opts.Result,
		smtpDialTimeout: DefaultTimeout,
		smtpTimeout:     30 * time.Second,
		waiting:         make(map[*job]struct{}),
		idle:            make(chan struct{}, 1),
	}
	if s.client == nil {
		s.client = &http.Client{
			Timeout: DefaultTimeout,
			// A redirected POST turns into a GET and may carry headers to another host; a
			// webhook that moved should be reconfigured, so the 3xx is reported instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if s.maxAttempts <= 0 {
		s.maxAttempts = DefaultMaxAttempts
	}
	if s.baseBackoff <= 0 {
		s.baseBackoff = DefaultBaseBackoff
	}
	if s.maxBackoff <= 0 {
		s.maxBackoff = DefaultMaxBackoff
	}
	if s.baseBackoff > s.maxBackoff {
		s.baseBackoff = s.maxBackoff
	}
	if s.queueSize <= 0 {
		s.queueSize = DefaultQueueSize
	}
	if s.workers <= 0 {
		s.workers = DefaultWorkers
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.helloName = "localhost"
	if h, err := os.Hostname(); err == nil && validHelloName(h) {
		s.helloName = h
	}
	s.queue = make(chan *job, s.queueSize)
	return s
}

// Send delivers once, synchronously, without retry; the UI's test button shows its error text.
// It does not touch Stats or call Result.
func (s *Sender) Send(ctx context.Context, ch *Channel, n Notification) error {
	if err := ch.Validate(); err != nil {
		return err
	}
	if n.At.IsZero() {
		n.At = time.Now()
	}
	return s.deliver(ctx, ch, n, newID())
}

// Enqueue delivers in the background with retries and back-off. 4xx answers other than 408 and
// 429 are final, as are SMTP 5xx replies and TLS verification failures; 5xx, 408, 429, SMTP
// 4xx and network errors are retried up to MaxAttempts. Retry-After on 429/503 is honoured up
// to MaxBackoff. It never blocks: a full queue returns ErrQueueFull. The channel and
// notification are copied, so the caller may reuse them.
func (s *Sender) Enqueue(ch *Channel, n Notification) error {
	if err := ch.Validate(); err != nil {
		s.failed.Add(1)
		return err
	}
	if n.At.IsZero() {
		n.At = time.Now()
	}
	j := &job{ch: ch.clone(), n: cloneNotification(n), deliveryID: newID()}

	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		s.dropped.Add(1)
		return fmt.Errorf("%s %s: %w", ch.Type, ch.Name, ErrShutdown)
	}
	if s.pending >= s.queueSize {
		s.mu.Unlock()
		s.dropped.Add(1)
		s.logDrop(ch)
		return fmt.Errorf("%s %s: %w (%d pending)", ch.Type, ch.Name, ErrQueueFull, s.queueSize)
	}
	s.pending++
	s.queue <- j // cannot block: len(queue) <= pending <= queueSize == cap(queue)
	s.mu.Unlock()
	return nil
}

// Run runs the workers until ctx is done, then keeps delivering for a short drain (5 s) and
// abandons what is left, counting it as dropped and reporting it to Result.
func (s *Sender) Run(ctx context.Context) {
	// Workers get their own context so in-flight deliveries continue during the drain.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var wg sync.WaitGroup
	for range s.workers {
		wg.Go(func() { s.worker(workCtx) })
	}
	<-ctx.Done()

	deadline := time.Now().Add(s.drain)
	s.mu.Lock()
	s.closing = true
	s.drainDeadline = deadline
	// Retries that would only wake after the drain are given up now rather than waited for.
	var late []*job
	for j := range s.waiting {
		if j.due.After(deadline) {
			j.timer.Stop()
			delete(s.waiting, j)
			late = append(late, j)
		}
	}
	s.mu.Unlock()
	for _, j := range late {
		s.abandon(j)
	}

	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
drain:
	for s.pendingCount() > 0 {
		select {
		case <-s.idle:
		case <-t.C:
			break drain
		}
	}

	stopWork()
	wg.Wait()

	s.mu.Lock()
	s.stopped = true // timers that fire from now on find nothing to do
	var left []*job
	for j := range s.waiting {
		j.timer.Stop()
		delete(s.waiting, j)
		left = append(left, j)
	}
	for len(s.queue) > 0 {
		left = append(left, <-s.queue)
	}
	s.mu.Unlock()
	for _, j := range left {
		s.abandon(j)
	}
	if n := len(left) + len(late); n > 0 {
		s.log.Warn("notify: abandoned deliveries at shutdown", "count", n)
	}
}

// Stats returns the counters.
func (s *Sender) Stats() Stats {
	return Stats{
		Sent:    s.sent.Load(),
		Failed:  s.failed.Load(),
		Retried: s.retried.Load(),
		Dropped: s.dropped.Load(),
		Pending: s.pendingCount(),
	}
}

func (s *Sender) pendingCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

func (s *Sender) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-s.queue:
			s.attempt(ctx, j)
		}
	}
}

func (s *Sender) attempt(ctx context.Context, j *job) {
	j.attempts++
	if j.attempts > 1 {
		s.retried.Add(1)
	}
	err := s.deliver(ctx, j.ch, j.n, j.deliveryID)
	log := s.log.With(logAttrs(j)...)
	if err == nil {
		s.sent.Add(1)
		log.Debug("notify: delivered")
		s.finish(j, nil)
		return
	}
	j.lastErr = err
	if ctx.Err() != nil {
		// Cut off by the end of the shutdown drain, not by the receiver.
		s.abandon(j)
		return
	}
	final, retryAfter := classify(err)
	if final || j.attempts >= s.maxAttempts {
		s.failed.Add(1)
		log.Warn("notify: delivery failed", "final", final, "error", err)
		s.finish(j, err)
		return
	}
	delay := s.backoff(j.attempts, retryAfter)
	log.Debug("notify: delivery will be retried", "in", delay, "error", err)
	s.retryLater(j, delay)
}

// retryLater parks the job on a timer instead of a sleeping worker, so a dead endpoint does not
// hold up deliveries to the others.
func (s *Sender) retryLater(j *job, delay time.Duration) {
	s.mu.Lock()
	j.due = time.Now().Add(delay)
	if s.closing && j.due.After(s.drainDeadline) {
		s.mu.Unlock()
		s.abandon(j)
		return
	}
	s.waiting[j] = struct{}{}
	j.timer = time.AfterFunc(delay, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.waiting[j]; !ok || s.stopped {
			return // abandoned at shutdown
		}
		delete(s.waiting, j)
		s.queue <- j // cannot block, see Enqueue
	})
	s.mu.Unlock()
}

// backoff is BaseBackoff doubled per attempt, plus up to 25% jitter so that many alerts failing
// together do not retry in lockstep, never less than Retry-After, and capped at MaxBackoff.
func (s *Sender) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := s.baseBackoff
	for i := 1; i < attempt && d < s.maxBackoff; i++ {
		d *= 2
	}
	if d > 0 {
		d += mrand.N(d/4 + 1)
	}
	d = max(d, retryAfter)
	return min(d, s.maxBackoff)
}

func (s *Sender) abandon(j *job) {
	s.dropped.Add(1)
	err := fmt.Errorf("%s %s: %w after %d attempt(s)", j.ch.Type, j.ch.Name, ErrShutdown, j.attempts)
	if j.lastErr != nil {
		err = fmt.Errorf("%w; last error: %v", err, j.lastErr)
	}
	s.finish(j, err)
}

// finish releases the job's queue slot before reporting it, so that Stats read from Result
// are already final; Run still waits for the report because it waits for the workers.
func (s *Sender) finish(j *job, err error) {
	s.mu.Lock()
	s.pending--
	s.mu.Unlock()
	select {
	case s.idle <- struct{}{}:
	default:
	}
	if s.result != nil {
		s.result(j.ch, j.n, j.attempts, err)
	}
}

func (s *Sender) logDrop(ch *Channel) {
	now := time.Now().UnixNano()
	last := s.lastDropLog.Load()
	if now-last < int64(10*time.Second) || !s.lastDropLog.CompareAndSwap(last, now) {
		return
	}
	s.log.Warn("notify: delivery queue full, dropping notifications",
		"channel", ch.Name, "queue_size", s.queueSize, "dropped_total", s.dropped.Load())
}

// deliver makes one attempt. Errors name the channel and never contain secrets or full URLs.
func (s *Sender) deliver(ctx context.Context, ch *Channel, n Notification, deliveryID string) error {
	var err error
	switch ch.Type {
	case TypeWebhook:
		err = s.sendWebhook(ctx, ch.Webhook, n, deliveryID)
	case TypeSlack:
		err = s.sendSlack(ctx, ch.Slack, n, deliveryID)
	case TypeEmail:
		err = s.sendEmail(ctx, ch.Email, n)
	default:
		err = permanent(fmt.Errorf("unknown type %q", ch.Type))
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", ch.Type, ch.Name, err)
	}
	return nil
}

// logAttrs identify a delivery without secrets: only the target host is logged.
func logAttrs(j *job) []any {
	return []any{
		"channel", j.ch.Name, "type", j.ch.Type, "target", target(j.ch),
		"rule_id", j.n.RuleID, "alert_id", j.n.AlertID, "state", j.n.State, "attempt", j.attempts,
	}
}

func target(ch *Channel) string {
	switch {
	case ch.Webhook != nil:
		return urlHost(ch.Webhook.URL)
	case ch.Slack != nil:
		return urlHost(ch.Slack.URL)
	case ch.Email != nil:
		return ch.Email.addr()
	}
	return ""
}

// permanentError marks failures that a retry cannot fix (bad configuration, refused by the
// receiver).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return &permanentError{err} }

// statusError is a non-2xx HTTP answer.
type statusError struct {
	host       string
	code       int
	status     string
	body       string
	retryAfter time.Duration
}

func (e *statusError) Error() string {
	msg := fmt.Sprintf("POST %s: %s", e.host, e.status)
	if e.body != "" {
		msg += ": " + e.body
	}
	return msg
}

// classify decides whether a failed attempt is worth repeating.
func classify(err error) (final bool, retryAfter time.Duration) {
	var pe *permanentError
	if errors.As(err, &pe) {
		return true, 0
	}
	var se *statusError
	if errors.As(err, &se) {
		switch {
		case se.code == http.StatusRequestTimeout, se.code == http.StatusTooManyRequests:
			return false, se.retryAfter
		case se.code >= 500:
			return false, se.retryAfter
		default:
			// 3xx (redirects are not followed) and other 4xx: the request itself is wrong.
			return true, 0
		}
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code >= 500, 0
	}
	// A certificate that does not verify will not verify a minute later either.
	var (
		unknownCA *x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		certErr   x509.CertificateInvalidError
		verifyErr *tls.CertificateVerificationError
	)
	if errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &certErr) || errors.As(err, &verifyErr) {
		return true, 0
	}
	return false, 0
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// validHelloName keeps odd host names (spaces, underscores from containers) out of EHLO, which
// some servers reject.
func validHelloName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return net.ParseIP(h) == nil && !strings.HasPrefix(h, "-")
}
