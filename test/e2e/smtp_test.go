package e2e

import (
	"crypto/tls"
	"io"
	"log"
	"mime"
	"net"
	"net/mail"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// smtpSink is a real SMTP server (emersion/go-smtp) offering STARTTLS; it
// keeps the subject and recipients of every mail it receives.
type smtpSink struct {
	mu    sync.Mutex
	mails []sinkMail
}

type sinkMail struct {
	From, Subject string
	To            []string
	TLS           bool
}

type sinkSession struct {
	sink *smtpSink
	conn *smtp.Conn
	m    sinkMail
}

func (s *smtpSink) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &sinkSession{sink: s, conn: c}, nil
}

func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	s.m.From = from
	return nil
}

func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.m.To = append(s.m.To, to)
	return nil
}

func (s *sinkSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return err
	}
	s.m.Subject = subject
	_, s.m.TLS = s.conn.TLSConnectionState()
	s.sink.mu.Lock()
	s.sink.mails = append(s.sink.mails, s.m)
	s.sink.mu.Unlock()
	return nil
}

func (s *sinkSession) Reset()        { s.m = sinkMail{} }
func (s *sinkSession) Logout() error { return nil }

func (s *smtpSink) received() []sinkMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkMail(nil), s.mails...)
}

// startSMTP serves SMTP with STARTTLS on 127.0.0.1 and returns its port.
func startSMTP(t *testing.T, certPath, keyPath string) (*smtpSink, int) {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	sink := &smtpSink{}
	srv := smtp.NewServer(sink)
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sink, l.Addr().(*net.TCPAddr).Port
}
