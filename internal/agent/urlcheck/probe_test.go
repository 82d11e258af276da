package urlcheck

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// testHandler serves every situation the plain-HTTP probe tests need.
func testHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "status: ok\n")
	})
	mux.HandleFunc("/500", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	mux.HandleFunc("/201", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("/slow", func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	mux.HandleFunc("/slowbody", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var problems []string
		if r.Method != http.MethodPost {
			problems = append(problems, "method "+r.Method)
		}
		if r.Host != "example.test" {
			problems = append(problems, "host "+r.Host)
		}
		if r.Header.Get("X-Test") != "yes" {
			problems = append(problems, "X-Test "+r.Header.Get("X-Test"))
		}
		if r.UserAgent() != UserAgent {
			problems = append(problems, "user agent "+r.UserAgent())
		}
		if string(b) != "ping" {
			problems = append(problems, "body "+string(b))
		}
		if len(problems) > 0 {
			http.Error(w, strings.Join(problems, "; "), http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, "pong")
	})
	big := strings.Repeat("x", 2000) + "needle" + strings.Repeat("x", 994)
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(big)))
		_, _ = io.WriteString(w, big)
	})
	mux.HandleFunc("/bigchunked", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, big[:10])
		w.(http.Flusher).Flush() // no Content-Length from here on
		_, _ = io.WriteString(w, big[10:])
	})
	return mux
}

// checkInvariants holds for every result, whatever the outcome.
func checkInvariants(t *testing.T, c *agentpb.URLCheck, r *agentpb.URLResult, before, after time.Time) {
	t.Helper()
	if r.CheckId != c.Id || r.Name != c.Name || r.Url != c.Url {
		t.Errorf("identity = %q %q %q, want %q %q %q", r.CheckId, r.Name, r.Url, c.Id, c.Name, c.Url)
	}
	if r.TimeUnixNano < before.UnixNano() || r.TimeUnixNano > after.UnixNano() {
		t.Errorf("time_unix_nano %d outside the run [%d, %d]", r.TimeUnixNano, before.UnixNano(), after.UnixNano())
	}
	if r.Up != (r.Failure == "") || (r.Failure == "") != (r.Error == "") {
		t.Errorf("up=%v failure=%q error=%q disagree", r.Up, r.Failure, r.Error)
	}
	if r.TotalMs <= 0 || r.TotalMs > float64(after.Sub(before))/1e6 {
		t.Errorf("total_ms %v outside (0, %v]", r.TotalMs, float64(after.Sub(before))/1e6)
	}
	if sum := r.DnsMs + r.ConnectMs + r.TlsMs + r.FirstByteMs; sum > r.TotalMs {
		t.Errorf("phases sum to %v ms, more than total %v ms", sum, r.TotalMs)
	}
}

func TestProbeHTTP(t *testing.T) {
	srv := newServer(t, testHandler(), nil)
	base := viaLocalhost(srv)
	refused := closedPort(t)

	tests := []struct {
		name  string
		check *agentpb.URLCheck // Url starting with "/" is on the test server
		max   int64

		failure   string
		errHas    string
		status    int32
		bodyBytes int64 // -1: not checked
		minTotal  time.Duration
	}{
		{name: "200 with expected body", check: &agentpb.URLCheck{Url: "/ok", ExpectedBody: "ok"},
			status: 200, bodyBytes: 11},
		{name: "500 is a status failure", check: &agentpb.URLCheck{Url: "/500"},
			failure: FailureStatus, errHas: "status 500, expected 200-399", status: 500, bodyBytes: -1},
		{name: "expected status list matches", check: &agentpb.URLCheck{Url: "/201", ExpectedStatus: []int32{201, 202}},
			status: 201, bodyBytes: 0},
		{name: "expected status list misses", check: &agentpb.URLCheck{Url: "/ok", ExpectedStatus: []int32{201, 202}},
			failure: FailureStatus, errHas: "status 200, expected one of 201, 202", status: 200, bodyBytes: 11},
		{name: "wrong body", check: &agentpb.URLCheck{Url: "/ok", ExpectedBody: "healthy"},
			failure: FailureBody, errHas: `body does not contain "healthy"`, status: 200, bodyBytes: 11},
		{name: "slow headers time out waiting for the first byte", check: &agentpb.URLCheck{Url: "/slow", TimeoutMs: 300},
			failure: FailureTimeout, errHas: "timeout after 300ms waiting for the first byte", bodyBytes: 0, minTotal: 300 * time.Millisecond},
		{name: "slow body times out reading the body", check: &agentpb.URLCheck{Url: "/slowbody", TimeoutMs: 300},
			failure: FailureTimeout, errHas: "timeout after 300ms reading the body", status: 200, bodyBytes: 7, minTotal: 300 * time.Millisecond},
		{name: "redirect followed", check: &agentpb.URLCheck{Url: "/redirect", FollowRedirects: true, ExpectedBody: "ok"},
			status: 200, bodyBytes: 11},
		{name: "redirect not followed is the result", check: &agentpb.URLCheck{Url: "/redirect"},
			status: 302, bodyBytes: -1},
		{name: "redirect not followed against 200", check: &agentpb.URLCheck{Url: "/redirect", ExpectedStatus: []int32{200}},
			failure: FailureStatus, errHas: "status 302, expected 200", status: 302, bodyBytes: -1},
		{name: "redirect loop stops", check: &agentpb.URLCheck{Url: "/loop", FollowRedirects: true},
			failure: FailureOther, errHas: "stopped after 10 redirects", bodyBytes: 0},
		{name: "method, headers, host and body are sent", check: &agentpb.URLCheck{Url: "/echo", Method: "POST", Body: "ping",
			Headers: map[string]string{"X-Test": "yes", "Host": "example.test"}, ExpectedBody: "pong"},
			status: 200, bodyBytes: 4},
		{name: "body over the limit counts the announced length", check: &agentpb.URLCheck{Url: "/big", ExpectedBody: "xxx"}, max: 1000,
			status: 200, bodyBytes: 3000},
		{name: "match beyond the limit is not searched", check: &agentpb.URLCheck{Url: "/big", ExpectedBody: "needle"}, max: 1000,
			failure: FailureBody, errHas: "searched the first 1000 bytes", status: 200, bodyBytes: 3000},
		{name: "unknown length stops at the limit", check: &agentpb.URLCheck{Url: "/bigchunked"}, max: 1000,
			status: 200, bodyBytes: 1000},
		{name: "match within the limit", check: &agentpb.URLCheck{Url: "/big", ExpectedBody: "needle"}, max: 4000,
			status: 200, bodyBytes: 3000},
		{name: "refused", check: &agentpb.URLCheck{Url: "http://" + refused + "/"},
			failure: FailureRefused, errHas: "connection refused by " + refused, bodyBytes: 0},
		{name: "unknown name", check: &agentpb.URLCheck{Url: "http://osprey-test.invalid/", TimeoutMs: 5000},
			failure: FailureDNS, errHas: `could not resolve "osprey-test.invalid"`, bodyBytes: 0},
		{name: "unsupported scheme", check: &agentpb.URLCheck{Url: "ftp://localhost/"},
			failure: FailureOther, errHas: "scheme must be http or https", bodyBytes: 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := tt.check
			c.Id, c.Name = fmt.Sprintf("c%d", i), tt.name
			if strings.HasPrefix(c.Url, "/") {
				c.Url = base + c.Url
			}
			before := time.Now()
			r := Probe(context.Background(), c, tt.max)
			after := time.Now()
			t.Logf("failure %q error %q", r.Failure, r.Error)
			checkInvariants(t, c, r, before, after)
			if r.Failure != tt.failure || !strings.Contains(r.Error, tt.errHas) {
				t.Errorf("failure %q error %q, want %q containing %q", r.Failure, r.Error, tt.failure, tt.errHas)
			}
			if r.StatusCode != tt.status {
				t.Errorf("status %d, want %d", r.StatusCode, tt.status)
			}
			if tt.bodyBytes >= 0 && r.BodyBytes != tt.bodyBytes {
				t.Errorf("body_bytes %d, want %d", r.BodyBytes, tt.bodyBytes)
			}
			if tt.minTotal > 0 && r.TotalMs < float64(tt.minTotal)/1e6 {
				t.Errorf("total_ms %v, want at least %v", r.TotalMs, tt.minTotal)
			}
			if strings.Contains(tt.errHas, "first byte") && r.FirstByteMs < float64(tt.minTotal)/1e6*0.9 {
				t.Errorf("first_byte_ms %v does not count the wait that timed out", r.FirstByteMs)
			}
			if tt.minTotal > 0 && r.TotalMs > float64(tt.minTotal+2*time.Second)/1e6 {
				t.Errorf("total_ms %v: the timeout did not stop the run", r.TotalMs)
			}
		})
	}
}

func TestProbeTLS(t *testing.T) {
	ca := newTestCA(t)
	now := time.Now().Truncate(time.Second)
	valid := ca.leaf(t, now.Add(-time.Minute), now.Add(time.Hour))
	expired := ca.leaf(t, now.Add(-2*time.Hour), now.Add(-time.Hour))
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	validURL := viaLocalhost(newServer(t, ok, &valid))
	expiredURL := viaLocalhost(newServer(t, ok, &expired))

	tests := []struct {
		name     string
		url      string
		insecure bool
		failure  string
		errHas   string
		expiry   time.Time
	}{
		{name: "short-lived certificate trusted by skipping verification", url: validURL, insecure: true, expiry: now.Add(time.Hour)},
		{name: "short-lived certificate from an unknown CA", url: validURL,
			failure: FailureTLS, errHas: `TLS certificate signed by unknown authority (issuer "CN=Osprey Test CA")`, expiry: now.Add(time.Hour)},
		{name: "expired certificate", url: expiredURL,
			failure: FailureTLS, errHas: "TLS certificate expired on " + now.Add(-time.Hour).UTC().Format(time.RFC3339), expiry: now.Add(-time.Hour)},
		{name: "expired certificate with verification skipped", url: expiredURL, insecure: true, expiry: now.Add(-time.Hour)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &agentpb.URLCheck{Id: fmt.Sprint(i), Name: tt.name, Url: tt.url, InsecureSkipVerify: tt.insecure}
			before := time.Now()
			r := Probe(context.Background(), c, 0)
			checkInvariants(t, c, r, before, time.Now())
			t.Logf("failure %q error %q", r.Failure, r.Error)
			if r.Failure != tt.failure || !strings.Contains(r.Error, tt.errHas) {
				t.Errorf("failure %q error %q, want %q containing %q", r.Failure, r.Error, tt.failure, tt.errHas)
			}
			if r.TlsExpiryUnix != tt.expiry.Unix() {
				t.Errorf("tls_expiry_unix %d, want NotAfter %d", r.TlsExpiryUnix, tt.expiry.Unix())
			}
			if r.TlsMs <= 0 {
				t.Errorf("tls_ms %v, want > 0: the handshake happened", r.TlsMs)
			}
			if r.Up && r.StatusCode != 200 {
				t.Errorf("status %d, want 200", r.StatusCode)
			}
		})
	}
}

// rawServer accepts connections and hands each to serve.
func rawServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				serve(conn)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestProbeTLSHandshakeFailures(t *testing.T) {
	plain := newServer(t, testHandler(), nil)
	closing := rawServer(t, func(c net.Conn) {
		// Take the ClientHello, then close cleanly (unread data would
		// make the kernel send a reset instead).
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = io.Copy(io.Discard, c)
	})
	silent := rawServer(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	tests := []struct {
		name    string
		url     string
		failure string
		errHas  string
	}{
		{"plain HTTP on an https URL", "https://" + strings.TrimPrefix(plain.URL, "http://") + "/ok",
			FailureTLS, "TLS handshake failed: http: server gave HTTP response to HTTPS client"},
		{"connection closed during the handshake", "https://" + closing + "/",
			FailureTLS, "TLS handshake failed: connection closed by the server"},
		{"no answer to the handshake", "https://" + silent + "/",
			FailureTimeout, "timeout after 300ms doing the TLS handshake"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &agentpb.URLCheck{Id: tt.name, Url: tt.url, TimeoutMs: 300}
			before := time.Now()
			r := Probe(context.Background(), c, 0)
			checkInvariants(t, c, r, before, time.Now())
			t.Logf("failure %q error %q", r.Failure, r.Error)
			if r.Failure != tt.failure || !strings.Contains(r.Error, tt.errHas) {
				t.Errorf("failure %q error %q, want %q containing %q", r.Failure, r.Error, tt.failure, tt.errHas)
			}
			if r.TlsMs <= 0 {
				t.Errorf("tls_ms %v: the failed handshake's time is not counted", r.TlsMs)
			}
		})
	}
}

// TestProbeTimings checks that every part is measured on a fresh
// connection each run and the parts fit in the total.
func TestProbeTimings(t *testing.T) {
	ca := newTestCA(t)
	cert := ca.leaf(t, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	var mu sync.Mutex
	clients := map[string]bool{} // client addresses: one per connection
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		clients[r.RemoteAddr] = true
		mu.Unlock()
		time.Sleep(5 * time.Millisecond) // think time, so first_byte is clearly > 0
		_, _ = io.WriteString(w, "ok")
	}), &cert)
	c := &agentpb.URLCheck{Id: "t", Url: viaLocalhost(srv) + "/", InsecureSkipVerify: true, ExpectedBody: "ok"}
	const runs = 3
	for run := range runs {
		r := Probe(context.Background(), c, 0)
		if !r.Up {
			t.Fatalf("run %d: %s: %s", run, r.Failure, r.Error)
		}
		for name, v := range map[string]float64{"dns": r.DnsMs, "connect": r.ConnectMs, "tls": r.TlsMs, "first_byte": r.FirstByteMs} {
			if v <= 0 {
				t.Errorf("run %d: %s_ms = %v, want > 0", run, name, v)
			}
		}
		if r.FirstByteMs < 5 {
			t.Errorf("run %d: first_byte_ms %v shorter than the server's 5 ms think time", run, r.FirstByteMs)
		}
		if sum := r.DnsMs + r.ConnectMs + r.TlsMs + r.FirstByteMs; sum > r.TotalMs {
			t.Errorf("run %d: parts %v > total %v", run, sum, r.TotalMs)
		}
		if !strings.HasPrefix(r.RemoteAddress, "127.0.0.1:") {
			t.Errorf("run %d: remote address %q", run, r.RemoteAddress)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(clients) != runs {
		t.Errorf("%d runs came from %d client connections, want a fresh connection per run", runs, len(clients))
	}
}

// resetServer answers one request with a 200 announcing more body than it
// sends, then ends the connection: with an RST (SO_LINGER 0) or a plain
// close.
func resetServer(t *testing.T, rst bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				if _, err := http.ReadRequest(bufio.NewReader(conn)); err != nil {
					return
				}
				_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("a", 1000))
				// Let the client take the headers and the first bytes,
				// so the break comes mid-body.
				time.Sleep(200 * time.Millisecond)
				if rst {
					_ = conn.(*net.TCPConn).SetLinger(0)
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/"
}

func TestProbeConnectionBrokenMidBody(t *testing.T) {
	tests := []struct {
		name   string
		rst    bool
		errHas string
	}{
		{name: "reset", rst: true, errHas: "connection reset by 127.0.0.1:"},
		{name: "closed early", rst: false, errHas: "connection closed by the server while reading the body (after 1000 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &agentpb.URLCheck{Id: tt.name, Url: resetServer(t, tt.rst), TimeoutMs: 5000}
			before := time.Now()
			r := Probe(context.Background(), c, 0)
			checkInvariants(t, c, r, before, time.Now())
			t.Logf("failure %q error %q", r.Failure, r.Error)
			if r.Failure != FailureConnection || !strings.Contains(r.Error, tt.errHas) {
				t.Errorf("failure %q error %q, want %q containing %q", r.Failure, r.Error, FailureConnection, tt.errHas)
			}
			if r.StatusCode != 200 || r.BodyBytes != 1000 {
				t.Errorf("status %d body_bytes %d, want 200 and 1000", r.StatusCode, r.BodyBytes)
			}
		})
	}
}

func TestProbeCanceled(t *testing.T) {
	srv := newServer(t, testHandler(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	r := Probe(ctx, &agentpb.URLCheck{Id: "x", Url: srv.URL + "/slow"}, 0)
	if r.Failure != FailureOther || !strings.HasPrefix(r.Error, "canceled") {
		t.Errorf("failure %q error %q, want other/canceled: the agent stopping is not a timeout of the site", r.Failure, r.Error)
	}
}

func TestReadBody(t *testing.T) {
	body := "0123456789abcdefghij"
	tests := []struct {
		name  string
		limit int64
		want  string
		n     int64
		found bool
	}{
		{"no pattern reads to the end", 100, "", 20, false},
		{"no pattern stops at the limit", 5, "", 5, false},
		{"pattern across one-byte reads", 100, "89ab", 20, true},
		{"pattern at the very end", 100, "hij", 20, true},
		{"pattern at the start", 100, "012", 20, true},
		{"pattern absent", 100, "xyz", 20, false},
		{"pattern cut by the limit", 10, "89ab", 10, false},
		{"pattern ending at the limit", 12, "89ab", 12, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One-byte reads and an exact window put every match across
			// reads; an unknown size takes the default window.
			for _, size := range []int64{int64(len(body)), -1} {
				n, found, err := readBody(iotest.OneByteReader(strings.NewReader(body)), tt.limit, tt.want, size)
				if err != nil || n != tt.n || found != tt.found {
					t.Errorf("size %d: readBody = %d, %v, %v; want %d, %v, nil", size, n, found, err, tt.n, tt.found)
				}
			}
		})
	}
}
