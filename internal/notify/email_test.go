package notify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// testPKI is a throw-away CA and a server certificate for 127.0.0.1 and localhost.
type testPKI struct {
	caFile    string
	serverTLS *tls.Config
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "osprey test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return testPKI{
		caFile: caFile,
		serverTLS: &tls.Config{Certificates: []tls.Certificate{{
			Certificate: [][]byte{leafDER}, PrivateKey: key,
		}}},
	}
}

// smtpSink is a real SMTP server (go-smtp) that records what reaches it.
type smtpSink struct {
	user, pass string // when user is set, AUTH PLAIN is offered and required for MAIL

	mu       sync.Mutex
	mails    []sinkMail
	commands []string // MAIL and AUTH attempts, to prove what happened in clear text
	authOK   int
	authBad  int
}

type sinkMail struct {
	from string
	to   []string
	data []byte
	tls  bool
}

type sinkSession struct {
	sink   *smtpSink
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (s *smtpSink) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &sinkSession{sink: s, conn: c}, nil
}

func (s *sinkSession) AuthMechanisms() []string {
	if s.sink.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *sinkSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		s.sink.mu.Lock()
		defer s.sink.mu.Unlock()
		s.sink.commands = append(s.sink.commands, "AUTH "+mech)
		if username != s.sink.user || password != s.sink.pass {
			s.sink.authBad++
			return smtp.ErrAuthFailed
		}
		s.sink.authOK++
		s.authed = true
		return nil
	}), nil
}

func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	s.sink.mu.Lock()
	s.sink.commands = append(s.sink.commands, "MAIL "+from)
	s.sink.mu.Unlock()
	if s.sink.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.sink.mu.Lock()
	defer s.sink.mu.Unlock()
	s.sink.mails = append(s.sink.mails, sinkMail{s.from, append([]string(nil), s.to...), b, isTLS})
	return nil
}

func (s *sinkSession) Reset()        { s.from, s.to = "", nil }
func (s *sinkSession) Logout() error { return nil }

func (s *smtpSink) snapshot() ([]sinkMail, []string, int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkMail(nil), s.mails...), append([]string(nil), s.commands...), s.authOK, s.authBad
}

// startSink serves SMTP on 127.0.0.1. mode "starttls" offers STARTTLS, "tls" is implicit TLS,
// "plain" offers no TLS at all.
func startSink(t *testing.T, sink *smtpSink, mode string, serverTLS *tls.Config) int {
	t.Helper()
	srv := smtp.NewServer(sink)
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case "starttls":
		srv.TLSConfig = serverTLS
	case "tls":
		srv.TLSConfig = serverTLS
		l = tls.NewListener(l, serverTLS)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

func emailChannel(port int, mod func(*EmailConfig)) *Channel {
	e := &EmailConfig{
		Host: "127.0.0.1", Port: port,
		From: "Osprey <alerts@example.com>",
		To:   []string{"ops@example.com", "Jörg Müller <joerg@example.com>"},
	}
	mod(e)
	return &Channel{Name: "oncall-mail", Type: TypeEmail, Email: e}
}

// TestEmailStartTLSAuth proves a delivery over STARTTLS with AUTH PLAIN to a real SMTP
// server: the password is checked, the envelope is right, and the message has the subject,
// headers and both MIME parts.
func TestEmailStartTLSAuth(t *testing.T) {
	pki := newTestPKI(t)
	sink := &smtpSink{user: "osprey", pass: "pa55word"}
	port := startSink(t, sink, "starttls", pki.serverTLS)
	ch := emailChannel(port, func(e *EmailConfig) {
		e.TLS = TLSStartTLS
		e.Username, e.Password = "osprey", "pa55word"
		e.CAFile = pki.caFile
	})
	n := testNotification()
	n.Summary = "Plattenplatz knapp auf web-1 — 95%"
	n.Labels["path"] = "/data<1>&"

	s := NewSender(Options{})
	if err := s.Send(context.Background(), ch, n); err != nil {
		t.Fatal(err)
	}
	mails, _, authOK, authBad := sink.snapshot()
	if authOK != 1 || authBad != 0 {
		t.Errorf("auth ok %d, bad %d; want the password checked once", authOK, authBad)
	}
	if len(mails) != 1 {
		t.Fatalf("got %d mails, want 1", len(mails))
	}
	m := mails[0]
	if !m.tls {
		t.Error("mail was sent without TLS")
	}
	if m.from != "alerts@example.com" || strings.Join(m.to, ",") != "ops@example.com,joerg@example.com" {
		t.Errorf("envelope from %q to %v", m.from, m.to)
	}
	checkMessage(t, m.data, "[FIRING] critical: Plattenplatz knapp auf web-1 — 95% (prod)", n)
}

// checkMessage parses a received message like a mail client would.
func checkMessage(t *testing.T, data []byte, wantSubject string, n Notification) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("message does not parse: %v\n%s", err, data)
	}
	h := msg.Header
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(h.Get("Subject"))
	if err != nil || subject != wantSubject {
		t.Errorf("subject = %q (%v), want %q", subject, err, wantSubject)
	}
	if raw := h.Get("Subject"); !strings.HasPrefix(raw, "=?utf-8?q?") && !isASCII(wantSubject) {
		t.Errorf("non-ASCII subject not Q-encoded: %q", raw)
	}
	if from, err := mail.ParseAddress(h.Get("From")); err != nil || from.Address != "alerts@example.com" || from.Name != "Osprey" {
		t.Errorf("From = %q (%v)", h.Get("From"), err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 2 || to[1].Name != "Jörg Müller" || to[1].Address != "joerg@example.com" {
		t.Errorf("To = %q (%v)", h.Get("To"), err)
	}
	if !isASCII(h.Get("To")) {
		t.Errorf("To header is not encoded: %q", h.Get("To"))
	}
	if d, err := h.Date(); err != nil || time.Since(d) > time.Minute {
		t.Errorf("Date = %q (%v)", h.Get("Date"), err)
	}
	if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID = %q", id)
	}
	if h.Get("MIME-Version") != "1.0" || h.Get("Auto-Submitted") != "auto-generated" || h.Get("X-Osprey-Alert-Id") != n.AlertID {
		t.Errorf("headers = %v", h)
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v)", h.Get("Content-Type"), err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[ct] = string(b)
	}
	if len(parts) != 2 {
		t.Fatalf("parts = %v, want text/plain and text/html", parts)
	}
	text, html := parts["text/plain"], parts["text/html"]
	for _, want := range []string{wantSubject, n.Summary, "critical", "High CPU (#12)", "97.5", "agent = web-1", "path = /data<1>&", "Open: " + n.URL} {
		if !strings.Contains(text, want) {
			t.Errorf("text part lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{"<table", n.Summary, "/data&lt;1&gt;&amp;", `href="` + n.URL + `"`, "#d00000"} {
		if !strings.Contains(html, want) {
			t.Errorf("html part lacks %q:\n%s", want, html)
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// TestEmailImplicitTLS proves delivery over implicit TLS (port 465 style), through the queue.
func TestEmailImplicitTLS(t *testing.T) {
	pki := newTestPKI(t)
	sink := &smtpSink{user: "osprey", pass: "pa55word"}
	port := startSink(t, sink, "tls", pki.serverTLS)
	ch := emailChannel(port, func(e *EmailConfig) {
		e.TLS = TLSImplicit
		e.Username, e.Password = "osprey", "pa55word"
		e.CAFile = pki.caFile
		e.To = []string{"ops@example.com"}
	})
	n := testNotification()
	n.State = StateResolved
	s, results := startSender(t, Options{})
	if err := s.Enqueue(ch, n); err != nil {
		t.Fatal(err)
	}
	if r := waitResult(t, results, 10*time.Second); r.err != nil || r.attempts != 1 {
		t.Fatalf("result: %d attempts, err %v", r.attempts, r.err)
	}
	mails, _, authOK, _ := sink.snapshot()
	if len(mails) != 1 || !mails[0].tls || authOK != 1 {
		t.Fatalf("mails %d (tls %v), auth ok %d", len(mails), len(mails) > 0 && mails[0].tls, authOK)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(mails[0].data))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := msg.Header.Get("Subject"), "[RESOLVED] critical: CPU at 97% on web-1 (prod)"; got != want {
		t.Errorf("subject = %q, want %q", got, want)
	}
}

// TestEmailRefusals proves the failures an operator must see: no STARTTLS on offer (nothing
// is sent in clear text), a wrong password, an untrusted certificate and a closed port; and
// which of them are final.
func TestEmailRefusals(t *testing.T) {
	pki := newTestPKI(t)
	closed := func() int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}()
	tests := []struct {
		name      string
		sinkMode  string // "" = nothing listens
		mod       func(*EmailConfig)
		wantErr   string
		wantFinal bool
	}{
		{
			name: "no STARTTLS offered", sinkMode: "plain",
			mod:     func(e *EmailConfig) { e.Username, e.Password = "osprey", "pa55word" },
			wantErr: "does not offer STARTTLS; refusing to send in clear text", wantFinal: true,
		},
		{
			name: "wrong password", sinkMode: "starttls",
			mod:     func(e *EmailConfig) { e.Username, e.Password, e.CAFile = "osprey", "WRONGPASS", pki.caFile },
			wantErr: "auth: 535", wantFinal: true,
		},
		{
			name: "untrusted certificate", sinkMode: "starttls",
			mod:     func(e *EmailConfig) {},
			wantErr: "certificate", wantFinal: true,
		},
		{
			name: "missing CA file", sinkMode: "starttls",
			mod:     func(e *EmailConfig) { e.CAFile = filepath.Join(t.TempDir(), "nope.pem") },
			wantErr: "read caFile", wantFinal: true,
		},
		{
			name: "connection refused", sinkMode: "",
			mod:     func(e *EmailConfig) {},
			wantErr: "dial:", wantFinal: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &smtpSink{user: "osprey", pass: "pa55word"}
			port := closed
			if tt.sinkMode != "" {
				port = startSink(t, sink, tt.sinkMode, pki.serverTLS)
			}
			ch := emailChannel(port, tt.mod)
			err := NewSender(Options{}).Send(context.Background(), ch, testNotification())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			want := "email oncall-mail: smtp 127.0.0.1:" + strconv.Itoa(port) + ": "
			if !strings.HasPrefix(err.Error(), want) && tt.name != "missing CA file" {
				t.Errorf("err = %q, want prefix %q", err, want)
			}
			if final, _ := classify(err); final != tt.wantFinal {
				t.Errorf("final = %v, want %v", final, tt.wantFinal)
			}
			if strings.Contains(err.Error(), "pa55word") || strings.Contains(err.Error(), "WRONGPASS") {
				t.Errorf("error reveals the password: %v", err)
			}
			mails, commands, _, _ := sink.snapshot()
			if len(mails) != 0 {
				t.Errorf("a mail was delivered: %q", mails[0].data)
			}
			if tt.name == "no STARTTLS offered" && len(commands) != 0 {
				t.Errorf("commands sent in clear text: %v", commands)
			}
		})
	}
}

// TestEmailClearText proves tls "none" is possible when chosen explicitly (a local relay).
func TestEmailClearText(t *testing.T) {
	sink := &smtpSink{}
	port := startSink(t, sink, "plain", nil)
	ch := emailChannel(port, func(e *EmailConfig) { e.TLS = TLSNone })
	if err := NewSender(Options{}).Send(context.Background(), ch, testNotification()); err != nil {
		t.Fatal(err)
	}
	mails, _, _, _ := sink.snapshot()
	if len(mails) != 1 || mails[0].tls {
		t.Fatalf("mails = %d, want 1 in clear text", len(mails))
	}
}

// TestEmailTimeout proves a server that accepts but never greets cannot hold a worker past
// the exchange timeout.
func TestEmailTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, silent
		}
	}()
	s := NewSender(Options{})
	s.smtpTimeout = 200 * time.Millisecond
	ch := emailChannel(l.Addr().(*net.TCPAddr).Port, func(*EmailConfig) {})
	start := time.Now()
	err = s.Send(context.Background(), ch, testNotification())
	if err == nil || !strings.Contains(err.Error(), "greeting") {
		t.Fatalf("err = %v, want a greeting timeout", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %v", took)
	}
	if final, _ := classify(err); final {
		t.Error("a timeout should be retried")
	}
}

// TestBuildEmailHeaderInjection proves a summary with line breaks cannot add headers.
func TestBuildEmailHeaderInjection(t *testing.T) {
	n := testNotification()
	n.Summary = "x\r\nBcc: victim@example.com"
	from, _ := mail.ParseAddress("alerts@example.com")
	to, _ := mail.ParseAddress("ops@example.com")
	b, err := buildEmail(n, from, []*mail.Address{to}, time.Now(), "host")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Bcc") != "" {
		t.Error("summary injected a Bcc header")
	}
	if got := msg.Header.Get("Subject"); got != "[FIRING] critical: x Bcc: victim@example.com (prod)" {
		t.Errorf("subject = %q", got)
	}
}
