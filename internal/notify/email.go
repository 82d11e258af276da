package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"time"
)

func (s *Sender) sendEmail(ctx context.Context, cfg *EmailConfig, n Notification) error {
	addr := cfg.addr()
	from, err := parseAddress(cfg.From)
	if err != nil {
		return permanent(fmt.Errorf("from: %w", err))
	}
	to := make([]*mail.Address, 0, len(cfg.To))
	for _, t := range cfg.To {
		a, err := parseAddress(t)
		if err != nil {
			return permanent(fmt.Errorf("to: %w", err))
		}
		to = append(to, a)
	}
	msg, err := buildEmail(n, from, to, time.Now(), s.helloName)
	if err != nil {
		return permanent(fmt.Errorf("build message: %w", err))
	}
	tlsCfg, err := emailTLSConfig(cfg)
	if err != nil {
		return permanent(err)
	}
	if err := s.smtpExchange(ctx, cfg, tlsCfg, from, to, msg); err != nil {
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
	return nil
}

func emailTLSConfig(cfg *EmailConfig) (*tls.Config, error) {
	c := &tls.Config{
		ServerName:         cfg.Host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // the operator's explicit choice
	}
	if cfg.CAFile != "" {
		// Read on every send so a rotated CA bundle needs no restart.
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("caFile %s: no PEM certificates", cfg.CAFile)
		}
		c.RootCAs = pool
	}
	return c, nil
}

// smtpExchange runs one SMTP session. The connection deadline bounds every read and write, and
// cancelling ctx expires it at once, because net/smtp itself takes no context.
func (s *Sender) smtpExchange(ctx context.Context, cfg *EmailConfig, tlsCfg *tls.Config, from *mail.Address, to []*mail.Address, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.smtpTimeout)
	defer cancel()

	d := net.Dialer{Timeout: s.smtpDialTimeout}
	conn, err := d.DialContext(ctx, "tcp", cfg.addr())
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return fmt.Errorf("set deadline: %w", err)
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	// Report the context's reason rather than the i/o timeout it causes.
	wrap := func(step string, err error) error {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("%s: %w (%v)", step, ctxErr, err)
		}
		return fmt.Errorf("%s: %w", step, err)
	}

	mode := cfg.tlsMode()
	if mode == TLSImplicit {
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return wrap("tls handshake", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, cfg.Host)
	if err != nil {
		return wrap("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(s.helloName); err != nil {
		return wrap("ehlo", err)
	}

	if mode == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			// Falling back to clear text would expose the password and the alert to anyone on
			// the path, so the operator has to choose tls "none" explicitly.
			return permanent(errors.New(`server does not offer STARTTLS; refusing to send in clear text (set tls to "tls" for implicit TLS, or "none" to allow clear text)`))
		}
		if err := c.StartTLS(tlsCfg); err != nil {
			return wrap("starttls", err)
		}
	}

	if cfg.Username != "" {
		ok, mechs := c.Extension("AUTH")
		if !ok {
			return permanent(errors.New("server does not offer AUTH, but a username is configured"))
		}
		if !slices.Contains(strings.Fields(strings.ToUpper(mechs)), "PLAIN") {
			return permanent(fmt.Errorf("server does not offer AUTH PLAIN (it offers %s)", mechs))
		}
		if err := c.Auth(smtp.PlainAuth("", cfg.Username, cfg.Password, cfg.Host)); err != nil {
			var te *textproto.Error
			var ne net.Error
			if !errors.As(err, &te) && !errors.As(err, &ne) {
				// net/smtp's own refusals, e.g. PLAIN over an unencrypted connection.
				return permanent(fmt.Errorf("auth: %w", err))
			}
			return wrap("auth", err)
		}
	}

	if err := c.Mail(from.Address); err != nil {
		return wrap("mail from", err)
	}
	for _, a := range to {
		if err := c.Rcpt(a.Address); err != nil {
			return wrap("rcpt to "+a.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return wrap("data", err)
	}
	if _, err := w.Write(msg); err != nil {
		return wrap("data", err)
	}
	if err := w.Close(); err != nil {
		return wrap("data", err)
	}
	// The message is accepted once DATA is answered; a failing QUIT must not cause a resend.
	_ = c.Quit()
	return nil
}

// buildEmail renders a multipart/alternative message (text and HTML) with CRLF line ends.
func buildEmail(n Notification, from *mail.Address, to []*mail.Address, now time.Time, hostname string) ([]byte, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)

	text := emailText(n)
	var html bytes.Buffer
	if err := emailHTML.Execute(&html, emailView(n)); err != nil {
		return nil, err
	}
	for _, part := range []struct {
		ctype string
		data  []byte
	}{{"text/plain; charset=utf-8", []byte(text)}, {"text/html; charset=utf-8", html.Bytes()}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qw := quotedprintable.NewWriter(pw)
		if _, err := qw.Write(part.data); err != nil {
			return nil, err
		}
		if err := qw.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}

	tos := make([]string, len(to))
	for i, a := range to {
		tos[i] = a.String()
	}
	domain := hostname
	if i := strings.LastIndexByte(from.Address, '@'); i >= 0 && validHelloName(from.Address[i+1:]) {
		domain = from.Address[i+1:]
	}
	subject := title(n)
	if r := []rune(subject); len(r) > 200 {
		subject = string(r[:200]) + "…"
	}

	var m bytes.Buffer
	header := func(k, v string) { m.WriteString(k + ": " + v + "\r\n") }
	header("From", from.String()) // mail.Address.String encodes non-ASCII names
	header("To", strings.Join(tos, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", fmt.Sprintf("<%s.%d@%s>", newID(), now.UnixNano(), domain))
	header("MIME-Version", "1.0")
	header("Content-Type", `multipart/alternative; boundary="`+mw.Boundary()+`"`)
	// RFC 3834: keeps vacation responders from answering alerts.
	header("Auto-Submitted", "auto-generated")
	if n.AlertID != "" {
		header("X-Osprey-Alert-Id", mime.QEncoding.Encode("utf-8", oneLine(n.AlertID)))
	}
	if n.State != "" {
		header("X-Osprey-State", mime.QEncoding.Encode("utf-8", oneLine(n.State)))
	}
	m.WriteString("\r\n")
	m.Write(body.Bytes())
	return m.Bytes(), nil
}

type emailField struct{ Name, Value string }

type emailData struct {
	Title  string
	Color  string
	Fields []emailField
	Labels []emailField
	URL    string
}

func emailView(n Notification) emailData {
	d := emailData{Title: title(n), Color: slackColor(n), URL: n.URL}
	add := func(name, v string) {
		if v != "" {
			d.Fields = append(d.Fields, emailField{name, v})
		}
	}
	add("Summary", oneLine(n.Summary))
	rule := oneLine(n.RuleName)
	if n.RuleID != 0 {
		rule = strings.TrimSpace(fmt.Sprintf("%s (#%d)", rule, n.RuleID))
	}
	add("Rule", rule)
	add("State", n.State)
	add("Severity", n.Severity)
	add("Project", n.Project)
	add("Value", formatValue(n.Value))
	add("Active since", formatTime(n.ActiveSince))
	add("At", formatTime(n.At))
	add("Alert ID", n.AlertID)
	for _, k := range sortedKeys(n.Labels) {
		d.Labels = append(d.Labels, emailField{oneLine(k), oneLine(n.Labels[k])})
	}
	return d
}

func emailText(n Notification) string {
	d := emailView(n)
	var b strings.Builder
	b.WriteString(d.Title + "\n\n")
	for _, f := range d.Fields {
		fmt.Fprintf(&b, "%-13s %s\n", f.Name+":", f.Value)
	}
	if len(d.Labels) > 0 {
		b.WriteString("\nLabels:\n")
		for _, l := range d.Labels {
			fmt.Fprintf(&b, "  %s = %s\n", l.Name, l.Value)
		}
	}
	if d.URL != "" {
		b.WriteString("\nOpen: " + d.URL + "\n")
	}
	b.WriteString("\n-- \nSent by Osprey\n")
	return b.String()
}

// emailHTML is deliberately plain (inline styles, one table) so that it renders the same in
// webmail and desktop clients.
var emailHTML = template.Must(template.New("email").Parse(`<!DOCTYPE html>
<html><body style="font-family:sans-serif;font-size:14px;color:#222">
<h2 style="border-left:6px solid {{.Color}};padding-left:8px;font-size:16px">{{.Title}}</h2>
<table style="border-collapse:collapse">
{{- range .Fields}}
<tr><th style="text-align:left;padding:2px 12px 2px 0;color:#666">{{.Name}}</th><td>{{.Value}}</td></tr>
{{- end}}
</table>
{{- if .Labels}}
<h3 style="font-size:14px">Labels</h3>
<table style="border-collapse:collapse;font-family:monospace">
{{- range .Labels}}
<tr><td style="padding:2px 12px 2px 0">{{.Name}}</td><td>{{.Value}}</td></tr>
{{- end}}
</table>
{{- end}}
{{- if .URL}}
<p><a href="{{.URL}}">Open in Osprey</a></p>
{{- end}}
<p style="color:#888;font-size:12px">Sent by Osprey</p>
</body></html>
`))
