package logtail

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Attribute names the presets fill, from the OpenTelemetry semantic
// conventions where they have one (ECS names for syslog and the logger).
const (
	AttrClientAddress       = "client.address"
	AttrServerAddress       = "server.address"
	AttrUserName            = "user.name"
	AttrHTTPMethod          = "http.request.method"
	AttrURLPath             = "url.path"
	AttrURLQuery            = "url.query"
	AttrProtocolVersion     = "network.protocol.version"
	AttrHTTPStatus          = "http.response.status_code"
	AttrHTTPBodySize        = "http.response.body.size"
	AttrHTTPReferer         = "http.request.header.referer"
	AttrUserAgent           = "user_agent.original"
	AttrHTTPRequestDuration = "http.server.request.duration"
	AttrProcessPID          = "process.pid"
	AttrThreadID            = "thread.id"
	AttrThreadName          = "thread.name"
	AttrNginxConnection     = "nginx.connection.id"
	AttrLogger              = "log.logger"
	AttrSyslogPriority      = "log.syslog.priority"
	AttrSyslogFacility      = "log.syslog.facility.code"
	AttrSyslogSeverity      = "log.syslog.severity.code"
	AttrSyslogHostname      = "log.syslog.hostname"
	AttrSyslogAppName       = "log.syslog.appname"
	AttrSyslogProcID        = "log.syslog.procid"
	AttrSyslogMsgID         = "log.syslog.msgid"
)

// accessParser reads the combined access log format, which nginx and
// Apache share:
//
//	$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
//
// (Apache's common format, without the last two, is accepted too). For
// nginx a number at the end of the line is $request_time, in seconds.
// It is hand-written rather than a regexp because it is the hottest
// format there is.
type accessParser struct {
	nginx bool
	tc    clfTimeCache
}

func (p *accessParser) parse(s string, r *result) bool {
	r.noLevel = true
	addr, s, ok := cutSpace(s)
	if !ok || addr == "" {
		return false
	}
	_, s, ok = cutSpace(s) // ident, "-" in practice
	if !ok {
		return false
	}
	// nginx does not escape spaces in $remote_user: it runs to the time.
	end := strings.Index(s, " [")
	if end < 0 {
		return false
	}
	user := s[:end]
	s = s[end+1:]
	end = strings.IndexByte(s, ']')
	if end < 0 {
		return false
	}
	ts := s[1:end]
	s = s[end+1:]
	if len(s) < 2 || s[0] != ' ' || s[1] != '"' {
		return false
	}
	req, s, ok := cutQuoted(s[1:])
	if !ok || len(s) < 2 || s[0] != ' ' {
		return false
	}
	statusText, s, _ := cutSpace(s[1:])
	status, err := strconv.Atoi(statusText)
	if err != nil || status < 100 || status > 999 {
		return false
	}
	sizeText, s, _ := cutSpace(s)
	var size int64 = -1
	if sizeText != "-" {
		if size, err = strconv.ParseInt(sizeText, 10, 64); err != nil {
			return false
		}
	}
	var referer, agent string
	if strings.HasPrefix(s, `"`) {
		if referer, s, ok = cutQuoted(s); !ok {
			return false
		}
		if s = strings.TrimPrefix(s, " "); strings.HasPrefix(s, `"`) {
			if agent, s, ok = cutQuoted(s); !ok {
				return false
			}
		}
	}

	if t, ok := p.tc.parse(ts); ok {
		r.time, r.hasTime = t, true
	}
	r.putStr(AttrClientAddress, addr)
	if user != "-" && user != "" {
		r.putStr(AttrUserName, user)
	}
	putRequest(r, req)
	r.putInt(AttrHTTPStatus, int64(status))
	if size >= 0 {
		r.putInt(AttrHTTPBodySize, size)
	}
	if referer != "-" && referer != "" {
		r.putStr(AttrHTTPReferer, referer)
	}
	if agent != "-" && agent != "" {
		r.putStr(AttrUserAgent, agent)
	}
	if p.nginx {
		// $request_time may follow, alone or after other fields people add.
		s = strings.TrimSpace(s)
		if i := strings.LastIndexByte(s, ' '); i >= 0 {
			s = s[i+1:]
		}
		if s != "" && s[0] >= '0' && s[0] <= '9' {
			if d, err := strconv.ParseFloat(s, 64); err == nil {
				r.putFloat(AttrHTTPRequestDuration, d)
			}
		}
	}
	return true
}

// putRequest splits "METHOD target PROTOCOL/version"; a request line in
// another shape (a TLS handshake sent to a plain port, say) adds nothing.
func putRequest(r *result, req string) {
	method, rest, ok := strings.Cut(req, " ")
	if !ok || !isToken(method) {
		return
	}
	// The target may hold spaces (nginx logs the request line as sent).
	target, proto := rest, ""
	if i := strings.LastIndexByte(rest, ' '); i >= 0 && strings.HasPrefix(rest[i+1:], "HTTP/") {
		target, proto = rest[:i], rest[i+1:]
	}
	if target == "" {
		return
	}
	r.putStr(AttrHTTPMethod, method)
	path, query, hasQuery := strings.Cut(target, "?")
	r.putStr(AttrURLPath, path)
	if hasQuery {
		r.putStr(AttrURLQuery, query)
	}
	if v, ok := strings.CutPrefix(proto, "HTTP/"); ok && v != "" {
		r.putStr(AttrProtocolVersion, v)
	}
}

func isToken(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// cutSpace returns the text before the next space and the text after it
// (ok false when there is no space: before is then the whole of s).
func cutSpace(s string) (before, after string, ok bool) {
	i := strings.IndexByte(s, ' ')
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

// cutQuoted reads a double-quoted string at the start of s, honouring
// backslash escapes (Apache writes \", nginx \x22); the value is returned
// as written, between the quotes.
func cutQuoted(s string) (value, rest string, ok bool) {
	if s == "" || s[0] != '"' {
		return "", s, false
	}
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return s[1:i], s[i+1:], true
		}
	}
	return "", s, false
}

// clfTimeCache parses "02/Jan/2006:15:04:05 -0700" by hand (the layout is
// fixed) and remembers the last answer, as consecutive lines mostly share
// their second.
type clfTimeCache struct {
	last   string
	lastT  time.Time
	zone   int
	zoneLc *time.Location
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

func (c *clfTimeCache) parse(s string) (time.Time, bool) {
	if s == c.last && s != "" {
		return c.lastT, true
	}
	// 02/Jan/2006:15:04:05 -0700
	if len(s) != 26 || s[2] != '/' || s[6] != '/' || s[11] != ':' || s[14] != ':' || s[17] != ':' || s[20] != ' ' {
		return time.Time{}, false
	}
	day, ok1 := atoiN(s[0:2])
	year, ok2 := atoiN(s[7:11])
	hour, ok3 := atoiN(s[12:14])
	minute, ok4 := atoiN(s[15:17])
	sec, ok5 := atoiN(s[18:20])
	zh, ok6 := atoiN(s[22:24])
	zm, ok7 := atoiN(s[24:26])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !ok7 || (s[21] != '+' && s[21] != '-') {
		return time.Time{}, false
	}
	month := 0
	for i, m := range months {
		if s[3:6] == m {
			month = i + 1
			break
		}
	}
	if month == 0 {
		return time.Time{}, false
	}
	off := (zh*60 + zm) * 60
	if s[21] == '-' {
		off = -off
	}
	if c.zoneLc == nil || c.zone != off {
		c.zone, c.zoneLc = off, time.FixedZone("", off)
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, c.zoneLc)
	c.last, c.lastT = s, t
	return t, true
}

func atoiN(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// nginxErrorParser reads nginx's error log:
//
//	2026/11/24 12:00:00 [error] 1234#1234: *5 open() "/x" failed (2: No such file or directory), client: 10.0.0.1, server: localhost, request: "GET /x HTTP/1.1", host: "localhost"
type nginxErrorParser struct{}

func (nginxErrorParser) parse(s string, r *result) bool {
	if len(s) < 22 || s[4] != '/' || s[7] != '/' || s[10] != ' ' || s[19] != ' ' || s[20] != '[' {
		return false
	}
	t, err := time.ParseInLocation("2006/01/02 15:04:05", s[:19], time.Local)
	if err != nil {
		return false
	}
	rest := s[21:]
	end := strings.IndexByte(rest, ']')
	if end <= 0 {
		return false
	}
	level := rest[:end]
	rest = strings.TrimPrefix(rest[end+1:], " ")
	r.time, r.hasTime = t, true
	r.level, r.hasLevel = level, true
	// pid#tid: *connection
	if hdr, after, ok := strings.Cut(rest, ": "); ok {
		if pid, tid, ok := strings.Cut(hdr, "#"); ok {
			if p, err := strconv.ParseInt(pid, 10, 64); err == nil {
				r.putInt(AttrProcessPID, p)
				if t, err := strconv.ParseInt(tid, 10, 64); err == nil {
					r.putInt(AttrThreadID, t)
				}
				rest = after
			}
		}
	}
	if strings.HasPrefix(rest, "*") {
		if conn, after, ok := cutSpace(rest[1:]); ok {
			if c, err := strconv.ParseInt(conn, 10, 64); err == nil {
				r.putInt(AttrNginxConnection, c)
				rest = after
			}
		}
	}
	r.putStr(FieldMessage, rest)
	if v, ok := nginxContext(rest, ", client: "); ok {
		r.putStr(AttrClientAddress, v)
	}
	if v, ok := nginxContext(rest, ", server: "); ok {
		r.putStr(AttrServerAddress, v)
	}
	if i := strings.Index(rest, `, request: "`); i >= 0 {
		if req, _, ok := cutQuoted(rest[i+len(`, request: `):]); ok {
			putRequest(r, req)
		}
	}
	return true
}

// nginxContext reads the value after key in the ", client: x, server: y"
// tail nginx appends to request-related errors.
func nginxContext(s, key string) (string, bool) {
	i := strings.Index(s, key)
	if i < 0 {
		return "", false
	}
	v := s[i+len(key):]
	if j := strings.IndexByte(v, ','); j >= 0 {
		v = v[:j]
	}
	return v, v != ""
}

// syslogParser reads syslog files as rsyslog and syslog-ng write them:
// an optional <PRI>, then either the BSD (RFC 3164) header
// "Mmm dd hh:mm:ss host tag[pid]: msg", the same with an RFC 3339 time
// (rsyslog's high-precision default), or an RFC 5424 header.
type syslogParser struct{}

var syslogSeverity = [...]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

func (syslogParser) parse(s string, r *result) bool {
	pri := -1
	if strings.HasPrefix(s, "<") {
		end := strings.IndexByte(s, '>')
		if end < 2 || end > 4 {
			return false
		}
		p, err := strconv.Atoi(s[1:end])
		if err != nil || p > 191 {
			return false
		}
		pri, s = p, s[end+1:]
	}
	if pri >= 0 && strings.HasPrefix(s, "1 ") {
		if !parseRFC5424(s[2:], r) {
			return false
		}
	} else if !parseBSDSyslog(s, r) {
		return false
	}
	if pri >= 0 {
		r.putInt(AttrSyslogPriority, int64(pri))
		r.putInt(AttrSyslogFacility, int64(pri/8))
		r.putInt(AttrSyslogSeverity, int64(pri%8))
		r.level, r.hasLevel = syslogSeverity[pri%8], true
	}
	return true
}

func parseBSDSyslog(s string, r *result) bool {
	var t time.Time
	switch {
	case len(s) > 16 && s[3] == ' ' && s[6] == ' ' && s[9] == ':' && s[15] == ' ':
		// "Jan  2 15:04:05" has no year: the latest one not in the future.
		ts, err := time.ParseInLocation("Jan _2 15:04:05", s[:15], time.Local)
		if err != nil {
			return false
		}
		now := time.Now()
		t = time.Date(now.Year(), ts.Month(), ts.Day(), ts.Hour(), ts.Minute(), ts.Second(), 0, time.Local)
		if t.After(now.Add(24 * time.Hour)) {
			t = t.AddDate(-1, 0, 0)
		}
		s = s[16:]
	case len(s) > 20 && s[4] == '-' && s[10] == 'T':
		ts, rest, _ := cutSpace(s)
		var err error
		if t, err = time.Parse(time.RFC3339Nano, ts); err != nil {
			return false
		}
		s = rest
	default:
		return false
	}
	host, rest, ok := cutSpace(s)
	if !ok || host == "" {
		return false
	}
	r.time, r.hasTime = t, true
	r.putStr(AttrSyslogHostname, host)
	// The tag ends at "[" (pid follows) or ":"; a line without one is all
	// message.
	tagEnd := strings.IndexAny(rest, "[: ")
	if tagEnd > 0 && (rest[tagEnd] == '[' || rest[tagEnd] == ':') {
		r.putStr(AttrSyslogAppName, rest[:tagEnd])
		rest = rest[tagEnd:]
		if rest[0] == '[' {
			if end := strings.IndexByte(rest, ']'); end > 0 {
				r.putAuto(AttrSyslogProcID, rest[1:end])
				rest = rest[end+1:]
			}
		}
		rest = strings.TrimPrefix(rest, ":")
		rest = strings.TrimPrefix(rest, " ")
	}
	r.putStr(FieldMessage, rest)
	return true
}

// parseRFC5424 reads "TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG".
func parseRFC5424(s string, r *result) bool {
	var parts [5]string
	for i := range parts {
		var ok bool
		if parts[i], s, ok = cutSpace(s); !ok {
			return false
		}
	}
	if parts[0] != "-" {
		t, err := time.Parse(time.RFC3339Nano, parts[0])
		if err != nil {
			return false
		}
		r.time, r.hasTime = t, true
	}
	put := func(k, v string) {
		if v != "-" {
			r.putStr(k, v)
		}
	}
	put(AttrSyslogHostname, parts[1])
	put(AttrSyslogAppName, parts[2])
	if parts[3] != "-" {
		r.putAuto(AttrSyslogProcID, parts[3])
	}
	put(AttrSyslogMsgID, parts[4])
	// Structured data: "-" or [id k="v" …][…]; kept in the body only.
	if strings.HasPrefix(s, "-") {
		s = s[1:]
	} else {
		for strings.HasPrefix(s, "[") {
			i := 1
			for i < len(s) && s[i] != ']' {
				if s[i] == '"' { // a quoted PARAM-VALUE may hold ] and \"
					for i++; i < len(s) && s[i] != '"'; i++ {
						if s[i] == '\\' {
							i++
						}
					}
				}
				i++
			}
			if i >= len(s) {
				return false
			}
			s = s[i+1:]
		}
	}
	s = strings.TrimPrefix(s, " ")
	s = strings.TrimPrefix(s, "\xef\xbb\xbf") // the BOM RFC 5424 allows before MSG
	r.putStr(FieldMessage, s)
	return true
}

// javaHeaders are the common layouts of Java application logs (logback,
// log4j2, Spring Boot): a date and time, then the level before or after
// the [thread], a logger, and " - " or " : " before the message, which
// runs to the end of the record (stack trace included).
var javaHeaders = []*regexp.Regexp{
	// 2026-11-24 12:00:00.123 ERROR [thread] logger - message
	// 2026-11-24T12:00:00.123+09:00  INFO 1234 --- [app] [main] o.s.Logger : message (Spring Boot)
	regexp.MustCompile(`(?s)^(?P<time>` + javaTime + `)\s+(?P<level>[A-Za-z]+)\s+(?:(?P<pid>\d+)\s+---\s+)?(?:\[(?P<b1>[^\]]*)\]\s+)?(?:\[(?P<b2>[^\]]*)\]\s+)?(?P<logger>\S+?)\s*(?:\s-|:)\s(?P<message>.*)$`),
	// 2026-11-24 12:00:00.123 [thread] ERROR logger - message (logback's default order)
	regexp.MustCompile(`(?s)^(?P<time>` + javaTime + `)\s+\[(?P<b1>[^\]]*)\]\s+(?P<level>[A-Za-z]+)\s+(?P<logger>\S+?)\s*(?:\s-|:)\s(?P<message>.*)$`),
}

const javaTime = `(?:\d{4}-\d{2}-\d{2}[ T])?\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?`

type javaParser struct{}

func (javaParser) parse(s string, r *result) bool {
	for _, re := range javaHeaders {
		m := re.FindStringSubmatchIndex(s)
		if m == nil {
			continue
		}
		get := func(name string) string {
			i := re.SubexpIndex(name)
			if i < 0 || m[2*i] < 0 {
				return ""
			}
			return s[m[2*i]:m[2*i+1]]
		}
		level := get("level")
		if normLevel(level) == "" {
			continue
		}
		if t, ok := parseJavaTime(get("time")); ok {
			r.time, r.hasTime = t, true
		}
		r.level, r.hasLevel = level, true
		if pid := get("pid"); pid != "" {
			r.putAuto(AttrProcessPID, pid)
		}
		thread := get("b1")
		if b2 := get("b2"); b2 != "" {
			thread = b2 // [app] [thread]
		}
		if thread = strings.TrimSpace(thread); thread != "" {
			r.putStr(AttrThreadName, thread)
		}
		r.putStr(AttrLogger, get("logger"))
		r.putStr(FieldMessage, get("message"))
		return true
	}
	return false
}

func parseJavaTime(s string) (time.Time, bool) {
	s = strings.Replace(s, ",", ".", 1)
	if len(s) >= 8 && s[2] == ':' {
		// Time of day only: today.
		t, err := time.ParseInLocation("15:04:05.999999999", s, time.Local)
		if err != nil {
			return time.Time{}, false
		}
		now := time.Now()
		return time.Date(now.Year(), now.Month(), now.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.Local), true
	}
	for _, l := range []string{
		"2006-01-02 15:04:05.999999999",
		"2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02T15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999Z0700",
		"2006-01-02T15:04:05.999999999Z0700",
	} {
		if t, err := time.ParseInLocation(l, s, time.Local); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
