package urlcheck

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// Defaults applied to a check's empty fields.
const (
	DefaultMethod       = http.MethodGet
	DefaultTimeout      = 10 * time.Second
	DefaultInterval     = 60 * time.Second
	MinInterval         = time.Second
	DefaultMaxBodyBytes = 1 << 20
	UserAgent           = "osprey-agent-urlcheck/1"
	maxRedirects        = 10
)

// Failure kinds in URLResult.Failure.
const (
	FailureDNS        = "dns"
	FailureRefused    = "refused"
	FailureTimeout    = "timeout"
	FailureTLS        = "tls"
	FailureStatus     = "status"
	FailureBody       = "body"
	FailureConnection = "connection"
	FailureOther      = "other"
)

// Phases of a run, in the words used by timeout messages.
const (
	phaseDNS       = "resolving the name"
	phaseConnect   = "connecting"
	phaseTLS       = "doing the TLS handshake"
	phaseSend      = "sending the request"
	phaseFirstByte = "waiting for the first byte"
	phaseHeaders   = "reading the response headers"
	phaseBody      = "reading the body"
)

// checkTimeout is the check's timeout with the default applied.
func checkTimeout(c *agentpb.URLCheck) time.Duration {
	if c.GetTimeoutMs() <= 0 {
		return DefaultTimeout
	}
	return time.Duration(c.GetTimeoutMs()) * time.Millisecond
}

// checkInterval is the check's interval with the default and the floor
// applied.
func checkInterval(c *agentpb.URLCheck) time.Duration {
	s := c.GetIntervalSeconds()
	if s <= 0 {
		return DefaultInterval
	}
	return max(time.Duration(s)*time.Second, MinInterval)
}

// Probe runs one check once and describes the outcome; it never returns nil.
// Every run dials a fresh connection (no keep-alive, no TLS session
// resumption) so connect and TLS times are measured each time, as
// blackbox_exporter does. maxBody <= 0 means DefaultMaxBodyBytes.
//
// The phase times are disjoint parts of total_ms, summed over redirects:
// dns (name lookup), connect (TCP), tls (handshake) and first_byte (from the
// connection being ready to the first response byte: writing the request
// plus the server's think time).
func Probe(ctx context.Context, c *agentpb.URLCheck, maxBody int64) *agentpb.URLResult {
	if maxBody <= 0 {
		maxBody = DefaultMaxBodyBytes
	}
	start := time.Now()
	res := &agentpb.URLResult{
		CheckId:      c.GetId(),
		Name:         c.GetName(),
		Url:          c.GetUrl(),
		TimeUnixNano: start.UnixNano(),
	}
	timeout := checkTimeout(c)
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	tr := &trace{phase: phaseConnect}

	req, err := newRequest(httptrace.WithClientTrace(pctx, tr.clientTrace()), c)
	if err != nil {
		return finish(res, tr, start, FailureOther, err.Error())
	}
	// No proxy from the environment: a check measures the path from the
	// agent to the site. HTTP/1.1 only (a custom dialer and TLS config
	// turn HTTP/2 off), which every server answers.
	transport := &http.Transport{
		// The dial and the TLS handshake outlive a canceled request (the
		// transport detaches them to reuse the connection), so they get
		// their own bounds.
		DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: -1}).DialContext,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: c.GetInsecureSkipVerify()},
		TLSHandshakeTimeout: timeout,
		DisableKeepAlives:   true,
		// Bounds a hostile or broken server's headers.
		MaxResponseHeaderBytes: 1 << 20,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, CheckRedirect: redirectPolicy(c.GetFollowRedirects())}

	resp, err := client.Do(req)
	if err != nil {
		kind, msg := classify(ctx, pctx, err, tr, timeout, start)
		if exp := verifyExpiry(err); exp != 0 {
			res.TlsExpiryUnix = exp
		}
		return finish(res, tr, start, kind, msg)
	}
	defer resp.Body.Close()
	tr.setPhase(phaseBody)
	res.StatusCode = int32(resp.StatusCode)
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		res.TlsExpiryUnix = resp.TLS.PeerCertificates[0].NotAfter.Unix()
	}

	n, found, rerr := readBody(resp.Body, maxBody, c.GetExpectedBody(), resp.ContentLength)
	res.BodyBytes = n
	if n == maxBody && resp.ContentLength > n {
		// Stopped at the limit; the announced length is the cheap truth.
		res.BodyBytes = resp.ContentLength
	}
	if rerr != nil {
		kind, msg := classify(ctx, pctx, rerr, tr, timeout, start)
		if kind == FailureConnection || kind == FailureOther {
			msg = fmt.Sprintf("%s while reading the body (after %d bytes)", msg, n)
		}
		return finish(res, tr, start, kind, msg)
	}
	if !statusOK(c.GetExpectedStatus(), resp.StatusCode) {
		return finish(res, tr, start, FailureStatus, fmt.Sprintf("status %d, expected %s", resp.StatusCode, expectedStatusWords(c.GetExpectedStatus())))
	}
	if want := c.GetExpectedBody(); want != "" && !found {
		msg := fmt.Sprintf("body does not contain %q", want)
		if n == maxBody {
			msg += fmt.Sprintf(" (searched the first %d bytes)", maxBody)
		}
		return finish(res, tr, start, FailureBody, msg)
	}
	return finish(res, tr, start, "", "")
}

// finish completes res. The trace is closed first so every part it
// recorded ends before the total does.
func finish(res *agentpb.URLResult, tr *trace, start time.Time, failure, msg string) *agentpb.URLResult {
	tr.close(res)
	res.TotalMs = ms(time.Since(start))
	res.Failure = failure
	res.Error = msg
	res.Up = failure == ""
	return res
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func newRequest(ctx context.Context, c *agentpb.URLCheck) (*http.Request, error) {
	u, err := url.Parse(c.GetUrl())
	if err != nil {
		return nil, fmt.Errorf("invalid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("invalid URL %q: scheme must be http or https", c.GetUrl())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("invalid URL %q: no host", c.GetUrl())
	}
	method := c.GetMethod()
	if method == "" {
		method = DefaultMethod
	}
	var body io.Reader
	if c.GetBody() != "" {
		body = strings.NewReader(c.GetBody())
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("User-Agent", UserAgent)
	for k, v := range c.GetHeaders() {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	return req, nil
}

func redirectPolicy(follow bool) func(*http.Request, []*http.Request) error {
	if !follow {
		return func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return func(_ *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		return nil
	}
}

func statusOK(expected []int32, code int) bool {
	if len(expected) == 0 {
		return code >= 200 && code <= 399
	}
	for _, e := range expected {
		if int(e) == code {
			return true
		}
	}
	return false
}

func expectedStatusWords(expected []int32) string {
	switch len(expected) {
	case 0:
		return "200-399"
	case 1:
		return strconv.Itoa(int(expected[0]))
	}
	parts := make([]string, len(expected))
	for i, e := range expected {
		parts[i] = strconv.Itoa(int(e))
	}
	return "one of " + strings.Join(parts, ", ")
}

// readBody reads up to limit bytes and reports whether want occurs in them.
// It streams with a small window so a 1 MiB limit does not mean a 1 MiB
// buffer per run; size (the announced length, -1 when unknown) shrinks the
// window further for the small bodies health endpoints mostly send.
func readBody(r io.Reader, limit int64, want string, size int64) (int64, bool, error) {
	lr := io.LimitReader(r, limit)
	if want == "" {
		n, err := io.Copy(io.Discard, lr)
		return n, false, err
	}
	pat := []byte(want)
	keep := len(pat) - 1
	chunk := int64(4 << 10)
	if size >= 0 && size < chunk {
		chunk = max(size, 1)
	}
	buf := make([]byte, int64(keep)+chunk)
	var n int64
	carry := 0
	found := false
	for {
		m, err := lr.Read(buf[carry:])
		n += int64(m)
		if !found && m > 0 {
			win := buf[:carry+m]
			if bytes.Contains(win, pat) {
				found = true
			} else {
				// Keep the tail so a match across two reads is seen.
				k := min(keep, len(win))
				copy(buf, win[len(win)-k:])
				carry = k
			}
		}
		if err == io.EOF {
			return n, found, nil
		}
		if err != nil {
			return n, found, err
		}
		if found {
			carry = 0
		}
	}
}

// trace records the phase times of one run. Its hooks run on the
// transport's goroutines, and a detached dial may still call them after
// Probe returned, hence the lock and the closed flag.
type trace struct {
	mu     sync.Mutex
	closed bool
	phase  string

	dnsStart, connStart, tlsStart, connReady time.Time
	dns, connect, tls, firstByte             time.Duration
	remote                                   string
}

func (t *trace) setPhase(p string) {
	t.mu.Lock()
	t.phase = p
	t.mu.Unlock()
}

func (t *trace) currentPhase() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.phase
}

func (t *trace) remoteAddr() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.remote
}

// close copies the times into res and ignores later hooks. A part still
// under way (the run failed in it) counts until now, so a timeout waiting
// for the first byte shows in first_byte_ms.
func (t *trace) close(res *agentpb.URLResult) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for _, p := range [...]struct {
		start *time.Time
		d     *time.Duration
	}{{&t.dnsStart, &t.dns}, {&t.connStart, &t.connect}, {&t.tlsStart, &t.tls}, {&t.connReady, &t.firstByte}} {
		if !p.start.IsZero() {
			*p.d += now.Sub(*p.start)
		}
	}
	res.DnsMs = ms(t.dns)
	res.ConnectMs = ms(t.connect)
	res.TlsMs = ms(t.tls)
	res.FirstByteMs = ms(t.firstByte)
	res.RemoteAddress = t.remote
}

// hook runs f under the lock unless the run is over.
func (t *trace) hook(f func(now time.Time)) {
	now := time.Now()
	t.mu.Lock()
	if !t.closed {
		f(now)
	}
	t.mu.Unlock()
}

func (t *trace) clientTrace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn: func(string) {
			t.hook(func(time.Time) { t.phase = phaseConnect })
		},
		DNSStart: func(httptrace.DNSStartInfo) {
			t.hook(func(now time.Time) { t.dnsStart, t.phase = now, phaseDNS })
		},
		DNSDone: func(httptrace.DNSDoneInfo) {
			t.hook(func(now time.Time) {
				if !t.dnsStart.IsZero() {
					t.dns += now.Sub(t.dnsStart)
					t.dnsStart = time.Time{}
				}
				t.phase = phaseConnect
			})
		},
		ConnectStart: func(_, addr string) {
			t.hook(func(now time.Time) {
				// Parallel dials (happy eyeballs) count from the first.
				if t.connStart.IsZero() {
					t.connStart = now
				}
				t.remote = addr
				t.phase = phaseConnect
			})
		},
		ConnectDone: func(_, addr string, err error) {
			t.hook(func(now time.Time) {
				if err == nil && !t.connStart.IsZero() {
					t.connect += now.Sub(t.connStart)
					t.connStart = time.Time{}
					t.remote = addr
				}
			})
		},
		TLSHandshakeStart: func() {
			t.hook(func(now time.Time) { t.tlsStart, t.phase = now, phaseTLS })
		},
		TLSHandshakeDone: func(tls.ConnectionState, error) {
			t.hook(func(now time.Time) {
				if !t.tlsStart.IsZero() {
					t.tls += now.Sub(t.tlsStart)
					t.tlsStart = time.Time{}
				}
			})
		},
		GotConn: func(info httptrace.GotConnInfo) {
			t.hook(func(now time.Time) {
				t.connReady = now
				t.phase = phaseSend
				if info.Conn != nil {
					t.remote = info.Conn.RemoteAddr().String()
				}
			})
		},
		WroteRequest: func(httptrace.WroteRequestInfo) {
			t.hook(func(time.Time) { t.phase = phaseFirstByte })
		},
		GotFirstResponseByte: func() {
			t.hook(func(now time.Time) {
				if !t.connReady.IsZero() {
					t.firstByte += now.Sub(t.connReady)
					t.connReady = time.Time{}
				}
				t.phase = phaseHeaders
			})
		},
	}
}

// classify turns a transport or body error into a failure kind and words.
// parent is the caller's context, pctx the run's (parent plus the timeout).
func classify(parent, pctx context.Context, err error, tr *trace, timeout time.Duration, start time.Time) (string, string) {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		// The URL is in the result already; keep the cause.
		err = uerr.Err
	}
	phase := tr.currentPhase()
	var dnsErr *net.DNSError
	isDNS := errors.As(err, &dnsErr)
	var nerr net.Error
	// The transport's own dial and handshake bounds equal the timeout and
	// start later, so their timeouts are the check's too (when both fire
	// at once either may win).
	netTimeout := !isDNS && errors.As(err, &nerr) && nerr.Timeout()
	if pctx.Err() != nil || netTimeout {
		if errors.Is(parent.Err(), context.Canceled) {
			return FailureOther, "canceled " + phase
		}
		if dl, ok := parent.Deadline(); ok && dl.Sub(start) < timeout {
			timeout = dl.Sub(start).Round(time.Millisecond)
		}
		return FailureTimeout, fmt.Sprintf("timeout after %s %s", timeout, phase)
	}

	if isDNS {
		switch {
		case dnsErr.IsNotFound:
			return FailureDNS, fmt.Sprintf("could not resolve %q: no such host", dnsErr.Name)
		case dnsErr.IsTimeout:
			return FailureDNS, fmt.Sprintf("could not resolve %q: the DNS server did not answer in time", dnsErr.Name)
		default:
			return FailureDNS, fmt.Sprintf("could not resolve %q: %s", dnsErr.Name, dnsErr.Err)
		}
	}
	if kind, msg, ok := classifyTLS(err); ok {
		return kind, msg
	}
	kind, msg := classifyNet(err, phase, tr.remoteAddr())
	if phase == phaseTLS {
		// Whatever broke the handshake (a reset, an early close, an
		// unexpected answer) is a TLS problem to the operator.
		return FailureTLS, "TLS handshake failed: " + strings.TrimSuffix(msg, " while "+phaseTLS)
	}
	return kind, msg
}

// classifyNet puts network errors in words.
func classifyNet(err error, phase, addr string) (string, string) {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return FailureRefused, "connection refused by " + addrOr(addr, "the server")
	case errors.Is(err, syscall.ECONNRESET):
		return FailureConnection, "connection reset by " + addrOr(addr, "the server")
	case errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return FailureConnection, "connection aborted: " + err.Error()
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		if phase == phaseBody {
			return FailureConnection, "connection closed by the server"
		}
		return FailureConnection, "connection closed by the server while " + phase
	case errors.Is(err, syscall.EHOSTUNREACH):
		return FailureConnection, "cannot reach " + addrOr(addr, "the server") + ": no route to host"
	case errors.Is(err, syscall.ENETUNREACH):
		return FailureConnection, "cannot reach " + addrOr(addr, "the server") + ": network is unreachable"
	}
	return FailureOther, err.Error()
}

func addrOr(addr, alt string) string {
	if addr == "" {
		return alt
	}
	return addr
}

// classifyTLS puts certificate and handshake errors in words an operator
// acts on.
func classifyTLS(err error) (string, string, bool) {
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) {
		if invalid.Reason == x509.Expired && invalid.Cert != nil {
			now := time.Now()
			if now.After(invalid.Cert.NotAfter) {
				return FailureTLS, fmt.Sprintf("TLS certificate expired on %s (%s ago)",
					invalid.Cert.NotAfter.UTC().Format(time.RFC3339), now.Sub(invalid.Cert.NotAfter).Round(time.Second)), true
			}
			return FailureTLS, fmt.Sprintf("TLS certificate is not valid before %s",
				invalid.Cert.NotBefore.UTC().Format(time.RFC3339)), true
		}
		return FailureTLS, "TLS certificate is invalid: " + strings.TrimPrefix(invalid.Error(), "x509: "), true
	}
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		msg := "TLS certificate signed by unknown authority"
		if unknown.Cert != nil {
			msg += fmt.Sprintf(" (issuer %q)", unknown.Cert.Issuer.String())
		}
		return FailureTLS, msg, true
	}
	var host x509.HostnameError
	if errors.As(err, &host) {
		return FailureTLS, "TLS " + strings.TrimPrefix(host.Error(), "x509: "), true
	}
	var verify *tls.CertificateVerificationError
	if errors.As(err, &verify) {
		return FailureTLS, "TLS certificate verification failed: " + strings.TrimPrefix(verify.Err.Error(), "x509: "), true
	}
	var rec tls.RecordHeaderError
	if errors.As(err, &rec) {
		return FailureTLS, "the server did not answer with TLS (plain HTTP on an https URL?)", true
	}
	var alert tls.AlertError
	if errors.As(err, &alert) {
		return FailureTLS, "TLS handshake refused by the server: " + alert.Error(), true
	}
	return "", "", false
}

// verifyExpiry is the leaf certificate's NotAfter of a failed verification,
// so an expired or untrusted certificate still reports when it ends.
func verifyExpiry(err error) int64 {
	var verify *tls.CertificateVerificationError
	if errors.As(err, &verify) && len(verify.UnverifiedCertificates) > 0 {
		return verify.UnverifiedCertificates[0].NotAfter.Unix()
	}
	return 0
}
