package logtail

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
)

// grokBase holds the base GROK patterns, in the spirit of Logstash's
// grok-patterns but written for RE2 (Go's regexp has no look-around or
// atomic groups). It is read-only after package initialisation.
var grokBase = map[string]string{
	"USERNAME":          `[a-zA-Z0-9._-]+`,
	"USER":              `%{USERNAME}`,
	"EMAILLOCALPART":    "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+)*",
	"EMAILADDRESS":      `%{EMAILLOCALPART}@%{HOSTNAME}`,
	"HTTPDUSER":         `(?:%{EMAILADDRESS}|%{USER})`,
	"INT":               `[+-]?[0-9]+`,
	"BASE10NUM":         `[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)`,
	"NUMBER":            `%{BASE10NUM}`,
	"BASE16NUM":         `0[xX]?[0-9a-fA-F]+`,
	"POSINT":            `\b[1-9][0-9]*\b`,
	"NONNEGINT":         `\b[0-9]+\b`,
	"WORD":              `\b\w+\b`,
	"NOTSPACE":          `\S+`,
	"SPACE":             `\s*`,
	"DATA":              `.*?`,
	"GREEDYDATA":        `.*`,
	"QUOTEDSTRING":      "\"(?:\\\\.|[^\\\\\"])*\"|'(?:\\\\.|[^\\\\'])*'|`(?:\\\\.|[^\\\\`])*`",
	"QS":                `%{QUOTEDSTRING}`,
	"UUID":              `[A-Fa-f0-9]{8}-(?:[A-Fa-f0-9]{4}-){3}[A-Fa-f0-9]{12}`,
	"CISCOMAC":          `(?:[A-Fa-f0-9]{4}\.){2}[A-Fa-f0-9]{4}`,
	"WINDOWSMAC":        `(?:[A-Fa-f0-9]{2}-){5}[A-Fa-f0-9]{2}`,
	"COMMONMAC":         `(?:[A-Fa-f0-9]{2}:){5}[A-Fa-f0-9]{2}`,
	"MAC":               `%{CISCOMAC}|%{WINDOWSMAC}|%{COMMONMAC}`,
	"IPV4OCTET":         `25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]`,
	"IPV4":              `%{IPV4OCTET}\.%{IPV4OCTET}\.%{IPV4OCTET}\.%{IPV4OCTET}`,
	"IPV6":              ipv6Pattern,
	"IP":                `%{IPV6}|%{IPV4}`,
	"HOSTNAME":          `\b[0-9A-Za-z][0-9A-Za-z-]{0,62}(?:\.[0-9A-Za-z][0-9A-Za-z-]{0,62})*\.?`,
	"IPORHOST":          `%{IP}|%{HOSTNAME}`,
	"HOSTPORT":          `%{IPORHOST}:%{POSINT}`,
	"UNIXPATH":          `(?:/[\w_%!$@:.,+~-]*)+`,
	"WINPATH":           `(?:[A-Za-z]+:|\\)(?:\\[^\\?*]*)+`,
	"PATH":              `%{UNIXPATH}|%{WINPATH}`,
	"URIPROTO":          `[A-Za-z][A-Za-z0-9+\-.]+`,
	"URIHOST":           `%{IPORHOST}(?::%{POSINT})?`,
	"URIPATH":           `(?:/[A-Za-z0-9$.+!*'(){},~:;=@#%&_\-]*)+`,
	"URIQUERY":          `[A-Za-z0-9$.+!*'|(){},~@#%&/=:;_?\-\[\]<>]*`,
	"URIPARAM":          `\?%{URIQUERY}`,
	"URIPATHPARAM":      `%{URIPATH}(?:%{URIPARAM})?`,
	"URI":               `%{URIPROTO}://(?:%{USER}(?::[^@]*)?@)?(?:%{URIHOST})?(?:%{URIPATHPARAM})?`,
	"MONTH":             `\b(?:[Jj]an(?:uary)?|[Ff]eb(?:ruary)?|[Mm]ar(?:ch)?|[Aa]pr(?:il)?|[Mm]ay|[Jj]un(?:e)?|[Jj]ul(?:y)?|[Aa]ug(?:ust)?|[Ss]ep(?:tember)?|[Oo]ct(?:ober)?|[Nn]ov(?:ember)?|[Dd]ec(?:ember)?)\b`,
	"MONTHNUM":          `0?[1-9]|1[0-2]`,
	"MONTHNUM2":         `0[1-9]|1[0-2]`,
	"MONTHDAY":          `0[1-9]|[12][0-9]|3[01]|[1-9]`,
	"DAY":               `Mon(?:day)?|Tue(?:sday)?|Wed(?:nesday)?|Thu(?:rsday)?|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?`,
	"YEAR":              `(?:\d\d){1,2}`,
	"HOUR":              `2[0123]|[01]?[0-9]`,
	"MINUTE":            `[0-5][0-9]`,
	"SECOND":            `(?:[0-5]?[0-9]|60)(?:[:.,][0-9]+)?`,
	"TIME":              `%{HOUR}:%{MINUTE}:%{SECOND}`,
	"DATE_US":           `%{MONTHNUM}[/-]%{MONTHDAY}[/-]%{YEAR}`,
	"DATE_EU":           `%{MONTHDAY}[./-]%{MONTHNUM}[./-]%{YEAR}`,
	"DATE":              `%{DATE_US}|%{DATE_EU}`,
	"DATESTAMP":         `%{DATE}[- ]%{TIME}`,
	"TZ":                `[APMCE][SD]T|UTC|GMT`,
	"ISO8601_TIMEZONE":  `Z|[+-]%{HOUR}(?::?%{MINUTE})`,
	"ISO8601_SECOND":    `%{SECOND}`,
	"TIMESTAMP_ISO8601": `%{YEAR}-%{MONTHNUM}-%{MONTHDAY}[T ]%{HOUR}:?%{MINUTE}(?::?%{SECOND})?%{ISO8601_TIMEZONE}?`,
	"DATESTAMP_RFC822":  `%{DAY} %{MONTH} %{MONTHDAY} %{YEAR} %{TIME} %{TZ}`,
	"DATESTAMP_RFC2822": `%{DAY}, %{MONTHDAY} %{MONTH} %{YEAR} %{TIME} %{ISO8601_TIMEZONE}`,
	"SYSLOGTIMESTAMP":   `%{MONTH} +%{MONTHDAY} %{TIME}`,
	"PROG":              `[\x21-\x5a\x5c\x5e-\x7e]+`,
	"SYSLOGPROG":        `%{PROG}(?:\[%{POSINT}\])?`,
	"SYSLOGHOST":        `%{IPORHOST}`,
	"SYSLOGFACILITY":    `<%{NONNEGINT}.%{NONNEGINT}>`,
	"HTTPDATE":          `%{MONTHDAY}/%{MONTH}/%{YEAR}:%{TIME} %{INT}`,
	"LOGLEVEL":          `[Aa]lert|ALERT|[Tt]race|TRACE|[Dd]ebug|DEBUG|[Nn]otice|NOTICE|[Ii]nfo?(?:rmation)?|INFO?(?:RMATION)?|[Ww]arn?(?:ing)?|WARN?(?:ING)?|[Ee]rr?(?:or)?|ERR?(?:OR)?|[Cc]rit?(?:ical)?|CRIT?(?:ICAL)?|[Ff]atal|FATAL|[Ss]evere|SEVERE|EMERG(?:ENCY)?|[Ee]merg(?:ency)?`,
}

const ipv6Pattern = `(?:(?:[0-9A-Fa-f]{1,4}:){7}(?:[0-9A-Fa-f]{1,4}|:)|` +
	`(?:[0-9A-Fa-f]{1,4}:){6}(?::[0-9A-Fa-f]{1,4}|%{IPV4}|:)|` +
	`(?:[0-9A-Fa-f]{1,4}:){5}(?:(?::[0-9A-Fa-f]{1,4}){1,2}|:%{IPV4}|:)|` +
	`(?:[0-9A-Fa-f]{1,4}:){4}(?:(?::[0-9A-Fa-f]{1,4}){1,3}|(?::[0-9A-Fa-f]{1,4})?:%{IPV4}|:)|` +
	`(?:[0-9A-Fa-f]{1,4}:){3}(?:(?::[0-9A-Fa-f]{1,4}){1,4}|(?::[0-9A-Fa-f]{1,4}){0,2}:%{IPV4}|:)|` +
	`(?:[0-9A-Fa-f]{1,4}:){2}(?:(?::[0-9A-Fa-f]{1,4}){1,5}|(?::[0-9A-Fa-f]{1,4}){0,3}:%{IPV4}|:)|` +
	`(?:[0-9A-Fa-f]{1,4}:)(?:(?::[0-9A-Fa-f]{1,4}){1,6}|(?::[0-9A-Fa-f]{1,4}){0,4}:%{IPV4}|:)|` +
	`:(?:(?::[0-9A-Fa-f]{1,4}){1,7}|(?::[0-9A-Fa-f]{1,4}){0,5}:%{IPV4}|:))(?:%[0-9A-Za-z.]+)?`

// grokNumeric are the base patterns whose captures are numbers unless a
// type says otherwise.
var grokNumeric = []string{"INT", "POSINT", "NONNEGINT", "NUMBER", "BASE10NUM"}

// grokCapPrefix names the regexp groups the compiler makes for %{P:field}
// (Go group names cannot hold the dots of semantic-convention names).
const grokCapPrefix = "grokcap"

type grokType uint8

const (
	grokString grokType = iota
	grokAuto            // int when it reads as one, else float, else string
	grokInt
	grokFloat
)

type grokCapture struct {
	name string
	typ  grokType
}

// grokParser is a compiled GROK pattern.
type grokParser struct {
	re   *regexp.Regexp
	caps []grokCapture // per regexp group; name "" for groups that are not fields
}

// compileGrok expands %{PATTERN}, %{PATTERN:field} and
// %{PATTERN:field:int|float|string} into one regexp. Plain regexp syntax
// may sit around the references, including (?P<name>…) groups.
func compileGrok(pattern string) (*grokParser, error) {
	var c grokCompiler
	expr, err := c.expand(pattern, nil)
	if err != nil {
		return nil, fmt.Errorf("grok: %w", err)
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("grok: %w", regexpError(pattern, err))
	}
	g := &grokParser{re: re, caps: make([]grokCapture, re.NumSubexp()+1)}
	for i, name := range re.SubexpNames() {
		switch {
		case name == "":
		case strings.HasPrefix(name, grokCapPrefix):
			n, err := strconv.Atoi(name[len(grokCapPrefix):])
			if err != nil || n >= len(c.caps) {
				return nil, fmt.Errorf("grok: group name %q is reserved", name)
			}
			g.caps[i] = c.caps[n]
		default:
			g.caps[i] = grokCapture{name: strings.ReplaceAll(name, "__", "."), typ: grokAuto}
		}
	}
	return g, nil
}

type grokCompiler struct {
	caps []grokCapture
}

// expand replaces the references in pat; stack holds the base patterns
// being expanded, to refuse cycles. Offsets in errors are byte offsets in
// the user's pattern.
func (c *grokCompiler) expand(pat string, stack []string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(pat); {
		j := strings.Index(pat[i:], "%{")
		if j < 0 {
			b.WriteString(pat[i:])
			break
		}
		start := i + j
		b.WriteString(pat[i:start])
		end := strings.IndexByte(pat[start:], '}')
		if end < 0 {
			return "", fmt.Errorf("unclosed %%{ at offset %d", start)
		}
		spec := pat[start+2 : start+end]
		parts := strings.Split(spec, ":")
		name := parts[0]
		if len(parts) > 3 || name == "" {
			return "", fmt.Errorf("bad reference %%{%s} at offset %d", spec, start)
		}
		def, ok := grokBase[name]
		if !ok {
			if len(stack) > 0 {
				return "", fmt.Errorf("pattern %s refers to unknown %%{%s}", stack[len(stack)-1], name)
			}
			return "", fmt.Errorf("unknown pattern %%{%s} at offset %d", name, start)
		}
		if slices.Contains(stack, name) {
			return "", fmt.Errorf("pattern %s refers to itself", name)
		}
		sub, err := c.expand(nonCapturing(def), append(stack, name))
		if err != nil {
			if len(stack) == 0 {
				return "", fmt.Errorf("%w (in %%{%s} at offset %d)", err, spec, start)
			}
			return "", err
		}
		if len(parts) >= 2 && parts[1] != "" {
			capture := grokCapture{name: parts[1]}
			if slices.Contains(grokNumeric, name) {
				capture.typ = grokAuto
			}
			if len(parts) == 3 {
				switch parts[2] {
				case "int", "long":
					capture.typ = grokInt
				case "float", "double":
					capture.typ = grokFloat
				case "string":
					capture.typ = grokString
				default:
					return "", fmt.Errorf("unknown type %q in %%{%s} at offset %d (want int, float or string)", parts[2], spec, start)
				}
			}
			fmt.Fprintf(&b, "(?P<%s%d>%s)", grokCapPrefix, len(c.caps), sub)
			c.caps = append(c.caps, capture)
		} else {
			b.WriteString("(?:" + sub + ")")
		}
		i = start + end + 1
	}
	return b.String(), nil
}

// nonCapturing turns the plain groups of a base pattern into
// non-capturing ones, so only named fields cost capture slots.
func nonCapturing(re string) string {
	if !strings.Contains(re, "(") {
		return re
	}
	var b strings.Builder
	inClass := false
	for i := 0; i < len(re); i++ {
		c := re[i]
		switch {
		case c == '\\' && i+1 < len(re):
			b.WriteByte(c)
			b.WriteByte(re[i+1])
			i++
			continue
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
			b.WriteByte(c)
			if i+1 < len(re) && re[i+1] == '^' {
				b.WriteByte('^')
				i++
			}
			if i+1 < len(re) && re[i+1] == ']' {
				b.WriteByte(']')
				i++
			}
			continue
		case c == '(' && (i+1 == len(re) || re[i+1] != '?'):
			b.WriteString("(?:")
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// regexpError adds where in pattern the offending part is, when it can be
// found there (Go's errors quote the part but not its offset).
func regexpError(pattern string, err error) error {
	var se *syntax.Error
	if errors.As(err, &se) && se.Expr != "" {
		if i := strings.Index(pattern, se.Expr); i >= 0 {
			return fmt.Errorf("%w (at offset %d)", err, i)
		}
	}
	return err
}

func (g *grokParser) parse(s string, r *result) bool {
	m := g.re.FindStringSubmatchIndex(s)
	if m == nil {
		return false
	}
	for i := 1; i < len(g.caps); i++ {
		c := g.caps[i]
		if c.name == "" || m[2*i] < 0 {
			continue
		}
		v := s[m[2*i]:m[2*i+1]]
		if c.name == FieldLevel {
			r.level, r.hasLevel = v, true
			continue
		}
		switch c.typ {
		case grokAuto:
			r.putAuto(c.name, v)
		case grokInt:
			if i, err := strconv.ParseInt(v, 10, 64); err == nil {
				r.putInt(c.name, i)
			} else {
				r.putStr(c.name, v)
			}
		case grokFloat:
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				r.putFloat(c.name, f)
			} else {
				r.putStr(c.name, v)
			}
		default:
			r.putStr(c.name, v)
		}
	}
	return true
}
