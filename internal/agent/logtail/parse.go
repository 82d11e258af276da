package logtail

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"
)

// Field names shared by the parsers.
const (
	// FieldMessage holds the message part of a record when a parser can
	// tell it from the rest (json msg/message/log, the text after the
	// header in nginx_error, syslog and java).
	FieldMessage = "message"
	// FieldLevel is the field a parser stores a record's level in; it
	// becomes the record's severity rather than an attribute.
	FieldLevel = "level"
)

// kind is a parsed value's type.
type kind uint8

const (
	kindStr kind = iota
	kindInt
	kindFloat
	kindBool
)

type field struct {
	key  string
	kind kind
	s    string
	i    int64
	f    float64
}

// result is what a parser found in one record. The module reuses one
// result for every record, so parsing does not allocate a map each time.
type result struct {
	fields   []field
	time     time.Time
	hasTime  bool
	level    string // as written
	hasLevel bool
	// noLevel says the format has no level, so none is guessed from words
	// in it (an access log line's URL or user agent may hold "ERROR").
	noLevel bool
}

func (r *result) reset() {
	r.fields = r.fields[:0]
	r.time = time.Time{}
	r.hasTime = false
	r.level = ""
	r.hasLevel = false
	r.noLevel = false
}

func (r *result) putStr(k, v string) { r.fields = append(r.fields, field{key: k, s: v}) }
func (r *result) putInt(k string, v int64) {
	r.fields = append(r.fields, field{key: k, kind: kindInt, i: v})
}
func (r *result) putFloat(k string, v float64) {
	r.fields = append(r.fields, field{key: k, kind: kindFloat, f: v})
}
func (r *result) putBool(k string, v bool) {
	var i int64
	if v {
		i = 1
	}
	r.fields = append(r.fields, field{key: k, kind: kindBool, i: i})
}

// auto stores v as an int or a float when it is written as a plain number
// (no leading zeros, which mark codes rather than quantities), else as a
// string.
func (r *result) putAuto(k, v string) {
	if looksNumeric(v) {
		if i, err := strconv.ParseInt(v, 10, 64); err == nil {
			r.putInt(k, i)
			return
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsInf(f, 0) {
			r.putFloat(k, f)
			return
		}
	}
	r.putStr(k, v)
}

func looksNumeric(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	i := 0
	if s[0] == '-' || s[0] == '+' {
		i++
	}
	digits := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n := i - digits
	if n == 0 || (n > 1 && s[digits] == '0') {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		m := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == m {
			return false
		}
	}
	return i == len(s)
}

// take removes and returns the first string field named one of keys.
func (r *result) take(keys ...string) (string, bool) {
	for _, k := range keys {
		for i, f := range r.fields {
			if f.key == k && f.kind == kindStr {
				r.fields = append(r.fields[:i], r.fields[i+1:]...)
				return f.s, true
			}
		}
	}
	return "", false
}

func (r *result) takeField(k string) (field, bool) {
	for i, f := range r.fields {
		if f.key == k {
			r.fields = append(r.fields[:i], r.fields[i+1:]...)
			return f, true
		}
	}
	return field{}, false
}

// parser recognises one format; parse reports whether s is in it and
// fills r (which it may leave dirty when it is not).
type parser interface {
	parse(s string, r *result) bool
}

func newParser(pc Parser) (parser, error) {
	tp, err := newTimeParser(pc.TimeFormat)
	if err != nil {
		return nil, err
	}
	var p parser
	timed := pc.TimeField != "" || pc.TimeFormat != ""
	timeFields := []string{pc.TimeField}
	switch strings.ToLower(pc.Type) {
	case "json":
		p = &jsonParser{autoTime: !timed}
		if pc.TimeField == "" {
			timeFields = jsonTimeKeys
		}
	case "regex":
		if pc.Pattern == "" {
			return nil, errors.New("no pattern")
		}
		re, err := regexp.Compile(pc.Pattern)
		if err != nil {
			return nil, fmt.Errorf("pattern: %w", regexpError(pc.Pattern, err))
		}
		p = newRegexParser(re)
	case "grok":
		if pc.Pattern == "" {
			return nil, errors.New("no pattern")
		}
		g, err := compileGrok(pc.Pattern)
		if err != nil {
			return nil, err
		}
		p = g
	case "nginx":
		p = &accessParser{nginx: true}
	case "apache":
		p = &accessParser{}
	case "nginx_error":
		p = nginxErrorParser{}
	case "syslog":
		p = syslogParser{}
	case "java", "logback":
		p = javaParser{}
	case "":
		return nil, errors.New("no type")
	default:
		return nil, fmt.Errorf("unknown type %q (want json, regex, grok, nginx, apache, nginx_error, syslog or java)", pc.Type)
	}
	if !timed {
		return p, nil
	}
	if timeFields[0] == "" {
		timeFields = []string{"time", "timestamp"}
	}
	return &timedParser{p: p, fields: timeFields, tp: tp}, nil
}

// timedParser takes the record time from a configured field (the first
// present of fields), in place of what the parser found.
type timedParser struct {
	p      parser
	fields []string
	tp     timeParser
}

func (t *timedParser) parse(s string, r *result) bool {
	if !t.p.parse(s, r) {
		return false
	}
	for _, name := range t.fields {
		for i, f := range r.fields {
			if f.key != name {
				continue
			}
			if ts, ok := t.tp.parseField(f); ok {
				r.time, r.hasTime = ts, true
				r.fields = append(r.fields[:i], r.fields[i+1:]...)
			}
			return true
		}
	}
	return true
}

// timeParser reads a time field in a configured format ("" guesses).
type timeParser struct {
	layout string // a Go layout, or one of the names below
}

const (
	tfAuto    = ""
	tfRFC3339 = "rfc3339"
	tfUnix    = "unix"
	tfUnixMs  = "unix_ms"
	tfUnixUs  = "unix_us"
	tfUnixNs  = "unix_ns"
)

func newTimeParser(format string) (timeParser, error) {
	switch strings.ToLower(format) {
	case tfAuto, tfRFC3339, tfUnix, tfUnixMs, tfUnixUs, tfUnixNs:
		return timeParser{layout: strings.ToLower(format)}, nil
	}
	// A layout must at least render a reference time it can read back.
	if _, err := time.Parse(format, time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC).Format(format)); err != nil {
		return timeParser{}, fmt.Errorf("time_format %q: %w", format, err)
	}
	return timeParser{layout: format}, nil
}

func (tp timeParser) parseField(f field) (time.Time, bool) {
	switch f.kind {
	case kindInt:
		return tp.number(float64(f.i), f.i, true)
	case kindFloat:
		return tp.number(f.f, 0, false)
	case kindStr:
		return tp.parse(f.s)
	}
	return time.Time{}, false
}

func (tp timeParser) parse(s string) (time.Time, bool) {
	switch tp.layout {
	case tfAuto:
		return guessTime(s)
	case tfRFC3339:
		t, err := time.Parse(time.RFC3339Nano, s)
		return t, err == nil
	case tfUnix, tfUnixMs, tfUnixUs, tfUnixNs:
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return tp.number(float64(i), i, true)
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return tp.number(f, 0, false)
		}
		return time.Time{}, false
	}
	t, err := time.ParseInLocation(tp.layout, s, time.Local)
	return t, err == nil
}

func (tp timeParser) number(f float64, i int64, isInt bool) (time.Time, bool) {
	unit := tp.layout
	if unit == tfAuto || unit == tfRFC3339 {
		// Guess by magnitude: seconds until 5138, then ms, µs, ns.
		switch a := math.Abs(f); {
		case a < 1e11:
			unit = tfUnix
		case a < 1e14:
			unit = tfUnixMs
		case a < 1e17:
			unit = tfUnixUs
		default:
			unit = tfUnixNs
		}
	}
	if isInt {
		switch unit {
		case tfUnix:
			return time.Unix(i, 0), true
		case tfUnixMs:
			return time.UnixMilli(i), true
		case tfUnixUs:
			return time.UnixMicro(i), true
		default:
			return time.Unix(0, i), true
		}
	}
	var ns float64
	switch unit {
	case tfUnix:
		ns = f * 1e9
	case tfUnixMs:
		ns = f * 1e6
	case tfUnixUs:
		ns = f * 1e3
	default:
		ns = f
	}
	if math.IsNaN(ns) || math.Abs(ns) > math.MaxInt64 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(ns)), true
}

// guessLayouts are tried for a time field with no format.
var guessLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999 Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05,999999999",
	"02/Jan/2006:15:04:05 -0700",
	"2006/01/02 15:04:05",
	time.RFC1123Z,
	time.RFC1123,
}

func guessTime(s string) (time.Time, bool) {
	if s == "" || s[0] < '0' || s[0] > '9' && !strings.ContainsRune("MTWFS", rune(s[0])) {
		return time.Time{}, false
	}
	if looksNumeric(s) {
		return timeParser{}.parse(s)
	}
	for _, l := range guessLayouts {
		if t, err := time.ParseInLocation(l, s, time.Local); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// jsonParser reads a record that is one JSON object: its fields, nested
// objects flattened to dotted names, arrays kept as JSON text. The message
// (msg, message or log), level (level, lvl, severity, log.level) and time
// (@timestamp, timestamp, time, ts) are recognised by name.
type jsonParser struct {
	p        fastjson.Parser
	autoTime bool // false when the source names the time field
}

var (
	jsonMessageKeys = []string{"msg", "message", "log"}
	jsonLevelKeys   = []string{"level", "lvl", "severity", "log.level", "loglevel"}
	jsonTimeKeys    = []string{"@timestamp", "timestamp", "time", "ts"}
)

func (j *jsonParser) parse(s string, r *result) bool {
	t := strings.TrimSpace(s)
	if len(t) < 2 || t[0] != '{' || t[len(t)-1] != '}' {
		return false
	}
	v, err := j.p.Parse(t)
	if err != nil {
		return false
	}
	o, err := v.Object()
	if err != nil {
		return false
	}
	flattenJSON(r, "", o)
	if msg, ok := r.take(jsonMessageKeys...); ok {
		r.fields = append(r.fields, field{key: FieldMessage, s: msg})
	}
	for _, k := range jsonLevelKeys {
		if f, ok := r.takeField(k); ok {
			r.level, r.hasLevel = fieldText(f), true
			break
		}
	}
	if j.autoTime {
		for _, k := range jsonTimeKeys {
			f, ok := r.takeField(k)
			if !ok {
				continue
			}
			if ts, ok := (timeParser{}).parseField(f); ok {
				r.time, r.hasTime = ts, true
			} else {
				r.fields = append(r.fields, f) // keep what could not be read
			}
			break
		}
	}
	return true
}

func flattenJSON(r *result, prefix string, o *fastjson.Object) {
	o.Visit(func(k []byte, v *fastjson.Value) {
		key := string(k)
		if prefix != "" {
			key = prefix + "." + key
		}
		switch v.Type() {
		case fastjson.TypeObject:
			sub, _ := v.Object()
			flattenJSON(r, key, sub)
		case fastjson.TypeString:
			b, _ := v.StringBytes()
			r.putStr(key, string(b))
		case fastjson.TypeNumber:
			raw := v.String()
			if !strings.ContainsAny(raw, ".eE") {
				if i, err := strconv.ParseInt(raw, 10, 64); err == nil {
					r.putInt(key, i)
					return
				}
			}
			f, _ := v.Float64()
			r.putFloat(key, f)
		case fastjson.TypeTrue:
			r.putBool(key, true)
		case fastjson.TypeFalse:
			r.putBool(key, false)
		case fastjson.TypeArray:
			r.putStr(key, v.String())
		}
	})
}

func fieldText(f field) string {
	switch f.kind {
	case kindInt:
		return strconv.FormatInt(f.i, 10)
	case kindFloat:
		return strconv.FormatFloat(f.f, 'g', -1, 64)
	case kindBool:
		return strconv.FormatBool(f.i != 0)
	}
	return f.s
}

// regexParser maps a Go regexp's named groups to fields. Group names
// cannot hold dots, so a double underscore stands for one:
// (?P<client__address>\S+) fills client.address. Plain numbers become
// ints or floats; a group named level sets the severity.
type regexParser struct {
	re    *regexp.Regexp
	names []string // per group index; "" for unnamed groups
}

func newRegexParser(re *regexp.Regexp) *regexParser {
	p := &regexParser{re: re, names: re.SubexpNames()}
	for i, n := range p.names {
		p.names[i] = strings.ReplaceAll(n, "__", ".")
	}
	return p
}

func (p *regexParser) parse(s string, r *result) bool {
	m := p.re.FindStringSubmatchIndex(s)
	if m == nil {
		return false
	}
	for i := 1; i < len(p.names); i++ {
		name := p.names[i]
		if name == "" || m[2*i] < 0 {
			continue
		}
		v := s[m[2*i]:m[2*i+1]]
		if name == FieldLevel {
			r.level, r.hasLevel = v, true
			continue
		}
		r.putAuto(name, v)
	}
	return true
}
