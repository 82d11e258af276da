package logtail

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// parsed runs one parser config over line.
func parsed(t *testing.T, pc Parser, line string) (fields map[string]any, r *result, ok bool) {
	t.Helper()
	p, err := newParser(pc)
	if err != nil {
		t.Fatalf("newParser(%+v): %v", pc, err)
	}
	r = &result{}
	if !p.parse(line, r) {
		return nil, r, false
	}
	fields = map[string]any{}
	for _, f := range r.fields {
		switch f.kind {
		case kindInt:
			fields[f.key] = f.i
		case kindFloat:
			fields[f.key] = f.f
		case kindBool:
			fields[f.key] = f.i != 0
		default:
			fields[f.key] = f.s
		}
	}
	return fields, r, true
}

func TestParsers(t *testing.T) {
	kst := time.FixedZone("", 9*3600)
	local := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.Local)
	}
	for _, tc := range []struct {
		name   string
		parser Parser
		line   string
		want   map[string]any // nil: the parser must not match
		time   time.Time
		level  string // as written
	}{
		{
			name:   "nginx 1.22 default combined",
			parser: Parser{Type: "nginx"},
			line:   `192.168.1.10 - - [24/Nov/2026:12:00:00 +0900] "GET /api/orders?id=42&x=1 HTTP/1.1" 200 1534 "https://example.com/page" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"`,
			want: map[string]any{
				AttrClientAddress: "192.168.1.10", AttrHTTPMethod: "GET", AttrURLPath: "/api/orders", AttrURLQuery: "id=42&x=1",
				AttrProtocolVersion: "1.1", AttrHTTPStatus: int64(200), AttrHTTPBodySize: int64(1534),
				AttrHTTPReferer: "https://example.com/page", AttrUserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
			},
			time: time.Date(2026, 11, 24, 12, 0, 0, 0, kst),
		},
		{
			name:   "nginx combined with request time",
			parser: Parser{Type: "nginx"},
			line:   `10.0.0.5 - alice [24/Nov/2026:03:00:01 +0000] "POST /login HTTP/2.0" 302 0 "-" "curl/8.5.0" 0.057`,
			want: map[string]any{
				AttrClientAddress: "10.0.0.5", AttrUserName: "alice", AttrHTTPMethod: "POST", AttrURLPath: "/login",
				AttrProtocolVersion: "2.0", AttrHTTPStatus: int64(302), AttrHTTPBodySize: int64(0),
				AttrUserAgent: "curl/8.5.0", AttrHTTPRequestDuration: 0.057,
			},
			time: time.Date(2026, 11, 24, 3, 0, 1, 0, time.UTC),
		},
		{
			name:   "nginx with an escaped quote and a TLS handshake on a plain port",
			parser: Parser{Type: "nginx"},
			line:   `203.0.113.9 - - [24/Nov/2026:03:00:02 +0000] "\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03" 400 157 "-" "say \x22hi\x22"`,
			want: map[string]any{
				AttrClientAddress: "203.0.113.9", AttrHTTPStatus: int64(400), AttrHTTPBodySize: int64(157), AttrUserAgent: `say \x22hi\x22`,
			},
			time: time.Date(2026, 11, 24, 3, 0, 2, 0, time.UTC),
		},
		{
			name:   "apache combined",
			parser: Parser{Type: "apache"},
			line:   `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"`,
			want: map[string]any{
				AttrClientAddress: "127.0.0.1", AttrUserName: "frank", AttrHTTPMethod: "GET", AttrURLPath: "/apache_pb.gif",
				AttrProtocolVersion: "1.0", AttrHTTPStatus: int64(200), AttrHTTPBodySize: int64(2326),
				AttrHTTPReferer: "http://www.example.com/start.html", AttrUserAgent: "Mozilla/4.08 [en] (Win98; I ;Nav)",
			},
			time: time.Date(2000, 10, 10, 13, 55, 36, 0, time.FixedZone("", -7*3600)),
		},
		{
			name:   "apache common, no body",
			parser: Parser{Type: "apache"},
			line:   `10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "HEAD / HTTP/1.1" 304 -`,
			want: map[string]any{
				AttrClientAddress: "10.0.0.1", AttrHTTPMethod: "HEAD", AttrURLPath: "/", AttrProtocolVersion: "1.1", AttrHTTPStatus: int64(304),
			},
			time: time.Date(2000, 10, 10, 13, 55, 36, 0, time.FixedZone("", -7*3600)),
		},
		{
			name:   "nginx with a space in the user and the target",
			parser: Parser{Type: "nginx"},
			line:   `10.0.0.5 - john doe [24/Nov/2026:03:00:01 +0000] "GET /a b?c=d e HTTP/1.0" 400 0 "-" "-"`,
			want: map[string]any{
				AttrClientAddress: "10.0.0.5", AttrUserName: "john doe", AttrHTTPMethod: "GET", AttrURLPath: "/a b", AttrURLQuery: "c=d e",
				AttrProtocolVersion: "1.0", AttrHTTPStatus: int64(400), AttrHTTPBodySize: int64(0),
			},
			time: time.Date(2026, 11, 24, 3, 0, 1, 0, time.UTC),
		},
		{name: "nginx refuses another format", parser: Parser{Type: "nginx"}, line: `Nov 24 12:00:00 web-1 sshd[1]: hello`},
		{
			name:   "nginx error",
			parser: Parser{Type: "nginx_error"},
			line:   `2026/11/24 12:00:00 [error] 1234#1235: *5 open() "/usr/share/nginx/html/favicon.ico" failed (2: No such file or directory), client: 10.0.0.7, server: localhost, request: "GET /favicon.ico HTTP/1.1", host: "localhost"`,
			want: map[string]any{
				AttrProcessPID: int64(1234), AttrThreadID: int64(1235), AttrNginxConnection: int64(5),
				FieldMessage:      `open() "/usr/share/nginx/html/favicon.ico" failed (2: No such file or directory), client: 10.0.0.7, server: localhost, request: "GET /favicon.ico HTTP/1.1", host: "localhost"`,
				AttrClientAddress: "10.0.0.7", AttrServerAddress: "localhost", AttrHTTPMethod: "GET", AttrURLPath: "/favicon.ico", AttrProtocolVersion: "1.1",
			},
			time:  local(2026, 11, 24, 12, 0, 0, 0),
			level: "error",
		},
		{
			name:   "nginx error at startup",
			parser: Parser{Type: "nginx_error"},
			line:   `2026/11/24 12:00:00 [notice] 1#1: start worker processes`,
			want:   map[string]any{AttrProcessPID: int64(1), AttrThreadID: int64(1), FieldMessage: "start worker processes"},
			time:   local(2026, 11, 24, 12, 0, 0, 0),
			level:  "notice",
		},
		{
			name:   "syslog BSD",
			parser: Parser{Type: "syslog"},
			line:   `Nov 24 12:00:00 web-1 sshd[4321]: Accepted publickey for deploy from 10.0.0.9 port 51234 ssh2`,
			want: map[string]any{
				AttrSyslogHostname: "web-1", AttrSyslogAppName: "sshd", AttrSyslogProcID: int64(4321),
				FieldMessage: "Accepted publickey for deploy from 10.0.0.9 port 51234 ssh2",
			},
			time: syslogYear(time.Date(0, 11, 24, 12, 0, 0, 0, time.Local)),
		},
		{
			name:   "syslog with priority, no pid",
			parser: Parser{Type: "syslog"},
			line:   `<34>Oct  1 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8`,
			want: map[string]any{
				AttrSyslogPriority: int64(34), AttrSyslogFacility: int64(4), AttrSyslogSeverity: int64(2),
				AttrSyslogHostname: "mymachine", AttrSyslogAppName: "su", FieldMessage: "'su root' failed for lonvick on /dev/pts/8",
			},
			time:  syslogYear(time.Date(0, 10, 1, 22, 14, 15, 0, time.Local)),
			level: "crit",
		},
		{
			name:   "syslog with an RFC 3339 time (rsyslog default)",
			parser: Parser{Type: "syslog"},
			line:   `2026-11-24T12:00:00.123456+09:00 web-1 kernel: [12345.678] eth0: link up`,
			want:   map[string]any{AttrSyslogHostname: "web-1", AttrSyslogAppName: "kernel", FieldMessage: "[12345.678] eth0: link up"},
			time:   time.Date(2026, 11, 24, 12, 0, 0, 123456000, kst),
		},
		{
			name:   "syslog RFC 5424",
			parser: Parser{Type: "syslog"},
			line:   `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="App]lication"] An application event log entry`,
			want: map[string]any{
				AttrSyslogPriority: int64(165), AttrSyslogFacility: int64(20), AttrSyslogSeverity: int64(5),
				AttrSyslogHostname: "mymachine.example.com", AttrSyslogAppName: "evntslog", AttrSyslogMsgID: "ID47",
				FieldMessage: "An application event log entry",
			},
			time:  time.Date(2003, 10, 11, 22, 14, 15, 3000000, time.UTC),
			level: "notice",
		},
		{
			name:   "java (the brief's layout) with a stack trace",
			parser: Parser{Type: "java"},
			line:   "2026-11-24 12:00:00.123 ERROR [http-nio-8080-exec-1] com.example.OrderService - order 42 failed\njava.lang.IllegalStateException: boom\n\tat com.example.OrderService.place(OrderService.java:42)",
			want: map[string]any{
				AttrThreadName: "http-nio-8080-exec-1", AttrLogger: "com.example.OrderService",
				FieldMessage: "order 42 failed\njava.lang.IllegalStateException: boom\n\tat com.example.OrderService.place(OrderService.java:42)",
			},
			time:  local(2026, 11, 24, 12, 0, 0, 123000000),
			level: "ERROR",
		},
		{
			name:   "logback default order, log4j comma",
			parser: Parser{Type: "logback"},
			line:   `2026-11-24 12:00:00,123 [main] INFO  c.e.App - started in 1.2 s`,
			want:   map[string]any{AttrThreadName: "main", AttrLogger: "c.e.App", FieldMessage: "started in 1.2 s"},
			time:   local(2026, 11, 24, 12, 0, 0, 123000000),
			level:  "INFO",
		},
		{
			name:   "spring boot",
			parser: Parser{Type: "java"},
			line:   `2026-11-24T12:00:00.123+09:00  WARN 12345 --- [myapp] [           main] o.s.b.w.e.tomcat.TomcatWebServer         : Tomcat started on port 8080`,
			want: map[string]any{
				AttrProcessPID: int64(12345), AttrThreadName: "main", AttrLogger: "o.s.b.w.e.tomcat.TomcatWebServer",
				FieldMessage: "Tomcat started on port 8080",
			},
			time:  time.Date(2026, 11, 24, 12, 0, 0, 123000000, kst),
			level: "WARN",
		},
		{name: "java refuses a line without a level", parser: Parser{Type: "java"}, line: `2026-11-24 12:00:00 hello [x] y - z`},
		{
			name:   "json, nested",
			parser: Parser{Type: "json"},
			line:   `{"time":"2026-11-24T03:00:00Z","level":"warn","msg":"slow query","db":{"name":"orders","duration_ms":1234.5,"pool":{"size":10}},"rows":42,"ok":true,"tags":["a","b"],"none":null}`,
			want: map[string]any{
				FieldMessage: "slow query", "db.name": "orders", "db.duration_ms": 1234.5, "db.pool.size": int64(10),
				"rows": int64(42), "ok": true, "tags": `["a","b"]`,
			},
			time:  time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC),
			level: "warn",
		},
		{
			name:   "json with a numeric level and a ms time field",
			parser: Parser{Type: "json", TimeField: "t", TimeFormat: "unix_ms"},
			line:   `{"t":1795838400123,"level":50,"log":"payment failed","time":"not a time"}`,
			want:   map[string]any{FieldMessage: "payment failed", "time": "not a time"},
			time:   time.UnixMilli(1795838400123),
			level:  "50",
		},
		{name: "json refuses text", parser: Parser{Type: "json"}, line: `level=info msg=hello`},
		{name: "json refuses an array", parser: Parser{Type: "json"}, line: `[1,2]`},
		{
			name:   "regex, dotted names, typed numbers",
			parser: Parser{Type: "regex", Pattern: `^(?P<client__address>\S+) (?P<code>\d+) (?P<zip>\d+) (?P<level>\w+) (?P<msg>.*)$`},
			line:   `10.0.0.1 404 01234 WARN not found`,
			want:   map[string]any{AttrClientAddress: "10.0.0.1", "code": int64(404), "zip": "01234", "msg": "not found"},
			level:  "WARN",
		},
		{
			name:   "regex with a time field",
			parser: Parser{Type: "regex", Pattern: `^(?P<ts>\S+) (?P<msg>.*)$`, TimeField: "ts", TimeFormat: "rfc3339"},
			line:   `2026-11-24T03:00:00.5Z hello`,
			want:   map[string]any{"msg": "hello"},
			time:   time.Date(2026, 11, 24, 3, 0, 0, 500000000, time.UTC),
		},
		{
			name:   "grok",
			parser: Parser{Type: "grok", Pattern: `%{IPORHOST:client.address} %{WORD:http.request.method} %{URIPATHPARAM:url.original} %{NUMBER:bytes} %{NUMBER:duration:float} %{INT:code:string} %{LOGLEVEL:level}`},
			line:   `10.1.2.3 GET /index.html?x=1 15824 0.043 007 INFO`,
			want: map[string]any{
				AttrClientAddress: "10.1.2.3", AttrHTTPMethod: "GET", "url.original": "/index.html?x=1",
				"bytes": int64(15824), "duration": 0.043, "code": "007",
			},
			level: "INFO",
		},
		{
			name:   "grok with time and IPv6",
			parser: Parser{Type: "grok", Pattern: `^\[%{HTTPDATE:time}\] %{IP:client.address} %{QS:agent} %{GREEDYDATA:rest}`, TimeField: "time"},
			line:   `[24/Nov/2026:12:00:00 +0000] 2001:db8::1 "curl/8" and the rest`,
			want:   map[string]any{AttrClientAddress: "2001:db8::1", "agent": `"curl/8"`, "rest": "and the rest"},
			time:   time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC),
		},
		{
			name:   "grok syslog-style",
			parser: Parser{Type: "grok", Pattern: `%{SYSLOGTIMESTAMP:ts} %{SYSLOGHOST:host} %{SYSLOGPROG:prog}: %{GREEDYDATA:message}`},
			line:   `Nov  4 05:06:07 db-2 postgres[99]: checkpoint complete`,
			want:   map[string]any{"ts": "Nov  4 05:06:07", "host": "db-2", "prog": "postgres[99]", FieldMessage: "checkpoint complete"},
		},
		{name: "grok no match", parser: Parser{Type: "grok", Pattern: `^%{IPV4:ip}$`}, line: `999.1.1.1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, r, ok := parsed(t, tc.parser, tc.line)
			if tc.want == nil {
				if ok {
					t.Fatalf("matched: %v", got)
				}
				return
			}
			if !ok {
				t.Fatal("did not match")
			}
			for _, d := range diffFields(tc.want, got) {
				t.Error(d)
			}
			if !tc.time.IsZero() && (!r.hasTime || !r.time.Equal(tc.time)) {
				t.Errorf("time = %v (%v), want %v", r.time, r.hasTime, tc.time)
			}
			if tc.time.IsZero() && r.hasTime {
				t.Errorf("time = %v, want none", r.time)
			}
			if r.level != tc.level {
				t.Errorf("level = %q, want %q", r.level, tc.level)
			}
		})
	}
}

// diffFields lists the differences between two field maps.
func diffFields(want, got map[string]any) []string {
	var out []string
	for k, w := range want {
		if g, ok := got[k]; !ok {
			out = append(out, fmt.Sprintf("%s: missing, want %#v", k, w))
		} else if g != w {
			out = append(out, fmt.Sprintf("%s = %#v, want %#v", k, g, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("%s = %#v, not wanted", k, g))
		}
	}
	sort.Strings(out)
	return out
}

// syslogYear completes a year-less syslog time as the parser does.
func syslogYear(t time.Time) time.Time {
	now := time.Now()
	t = time.Date(now.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.Local)
	if t.After(now.Add(24 * time.Hour)) {
		t = t.AddDate(-1, 0, 0)
	}
	return t
}

func TestParserErrors(t *testing.T) {
	for _, tc := range []struct {
		parser Parser
		want   string
	}{
		{Parser{Type: "grok", Pattern: `%{IP:ip} %{FOO:x}`}, "unknown pattern %{FOO} at offset 9"},
		{Parser{Type: "grok", Pattern: `abc %{WORD`}, "unclosed %{ at offset 4"},
		{Parser{Type: "grok", Pattern: `%{WORD:x:bogus}`}, `unknown type "bogus" in %{WORD:x:bogus} at offset 0`},
		{Parser{Type: "grok", Pattern: `%{}`}, "bad reference %{} at offset 0"},
		{Parser{Type: "grok", Pattern: `x (%{WORD:x}`}, "missing closing )"},
		{Parser{Type: "grok", Pattern: ``}, "no pattern"},
		{Parser{Type: "regex", Pattern: `^(?P<a>\d+ [z-a]`}, "`z-a` (at offset 12)"},
		{Parser{Type: "regex"}, "no pattern"},
		{Parser{Type: "xml"}, `unknown type "xml"`},
		{Parser{Type: ""}, "no type"},
		{Parser{Type: "json", TimeFormat: "2006-13-45"}, "time_format"},
	} {
		_, err := newParser(tc.parser)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("newParser(%+v) = %v, want an error with %q", tc.parser, err, tc.want)
		}
	}
}

// TestGrokBase compiles every base pattern alone, and checks a few
// against what they must and must not match.
func TestGrokBase(t *testing.T) {
	for name := range grokBase {
		if _, err := compileGrok("%{" + name + ":x}"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, tc := range []struct {
		pattern string
		yes, no []string
	}{
		{"IPV4", []string{"10.0.0.1", "255.255.255.255"}, []string{"256.1.1.1", "1.2.3"}},
		{"IPV6", []string{"::1", "2001:db8::8a2e:370:7334", "fe80::1%eth0", "::ffff:10.0.0.1"}, []string{"12345::", "g::1"}},
		{"IPORHOST", []string{"web-1.example.com", "10.0.0.1"}, []string{"-bad"}},
		{"HTTPDATE", []string{"24/Nov/2026:12:00:00 +0900"}, []string{"2026-11-24"}},
		{"TIMESTAMP_ISO8601", []string{"2026-11-24T12:00:00.123Z", "2026-11-24 12:00:00+09:00", "2026-11-24 12:00"}, []string{"24/Nov/2026"}},
		{"LOGLEVEL", []string{"INFO", "warning", "Error", "CRIT"}, []string{"chatty"}},
		{"QS", []string{`"a \" b"`, `'x'`}, []string{`"open`}},
		{"URIPATHPARAM", []string{"/a/b.html?x=1&y=%20"}, []string{"a/b"}},
		{"UUID", []string{"123e4567-e89b-12d3-a456-426614174000"}, []string{"123e4567"}},
		{"NUMBER", []string{"-1.5", "42", ".5"}, []string{"abc"}},
	} {
		g, err := compileGrok("^%{" + tc.pattern + "}$")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range tc.yes {
			if !g.re.MatchString(s) {
				t.Errorf("%s does not match %q", tc.pattern, s)
			}
		}
		for _, s := range tc.no {
			if g.re.MatchString(s) {
				t.Errorf("%s matches %q", tc.pattern, s)
			}
		}
	}
}

func TestLevel(t *testing.T) {
	for _, tc := range []struct {
		line, word, level string
	}{
		{"2026-11-24 12:00:00 INFO started", "INFO", LevelInfo},
		{"x WARNING y ERROR", "WARNING", LevelWarn},
		{"[ERR] disk full", "ERR", LevelError},
		{"FATAL: out of memory", "FATAL", LevelFatal},
		{"CRITICAL temperature", "CRITICAL", LevelFatal},
		{"a TRACE b", "TRACE", LevelTrace},
		{"level=DEBUG msg=x", "DEBUG", LevelDebug},
		{"WARN", "WARN", LevelWarn},
		{"ERRORS happen, INFOS too", "", ""},
		{"xERROR INFO_X lowercase error info", "", ""},
		{"first line\nERROR on the second", "", ""},
		{"", "", ""},
	} {
		word, level := detectLevel(tc.line)
		if word != tc.word || level != tc.level {
			t.Errorf("detectLevel(%q) = %q, %q; want %q, %q", tc.line, word, level, tc.word, tc.level)
		}
	}
	for in, want := range map[string]string{
		"error": LevelError, "ERR": LevelError, "Warning": LevelWarn, "notice": LevelInfo, "crit": LevelFatal,
		"emerg": LevelFatal, "severe": LevelError, "fine": LevelDebug, "30": LevelInfo, "60": LevelFatal,
		"10": LevelTrace, "dbg": LevelDebug, " info ": LevelInfo, "verbose": LevelTrace, "what": "", "5": "",
	} {
		if got := normLevel(in); got != want {
			t.Errorf("normLevel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLooksNumeric(t *testing.T) {
	for in, want := range map[string]bool{
		"0": true, "42": true, "-7": true, "3.25": true, "+1": true,
		"007": false, "1.": false, ".5": false, "1e5": false, "": false, "-": false, "1.2.3": false, "12a": false,
	} {
		if got := looksNumeric(in); got != want {
			t.Errorf("looksNumeric(%q) = %v", in, got)
		}
	}
}
