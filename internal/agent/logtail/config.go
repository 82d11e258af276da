package logtail

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Defaults of Config, Source and Multiline.
const (
	DefaultPollInterval      = 250 * time.Millisecond
	DefaultBatchLines        = 2000
	DefaultFlushInterval     = time.Second
	DefaultCategory          = "default"
	DefaultMultilineTimeout  = time.Second
	DefaultMultilineMaxLines = 1000
	// MaxRecordBytes bounds a multi-line record; MaxLineBytes a single
	// line (longer lines are split and marked log.truncated).
	MaxRecordBytes = 64 << 10
	MaxLineBytes   = 64 << 10
)

// Config is the `modules.logs` section of the agent configuration.
type Config struct {
	Enabled       bool          `yaml:"enabled"`
	Sources       []Source      `yaml:"sources"`
	PollInterval  time.Duration `yaml:"poll_interval"`  // default 250ms
	BatchLines    int           `yaml:"batch_lines"`    // default 2000: emit at most this many records per batch
	FlushInterval time.Duration `yaml:"flush_interval"` // default 1s: emit at least this often when there is data
}

// Source is a set of files read alike.
type Source struct {
	Paths     []string          `yaml:"paths"`    // globs (filepath.Glob syntax plus ** for any depth)
	Exclude   []string          `yaml:"exclude"`  // globs; a pattern without a slash matches the base name
	Category  string            `yaml:"category"` // default "default"
	Encoding  string            `yaml:"encoding"` // utf-8 (default), utf-16le, utf-16be, euc-kr, shift_jis, iso-8859-1
	StartAt   string            `yaml:"start_at"` // end (default) or beginning, for files found at first start
	Multiline *Multiline        `yaml:"multiline"`
	Parsers   []Parser          `yaml:"parsers"`
	Fields    map[string]string `yaml:"fields"` // static attributes added to every record
}

// Multiline joins lines into records: a line matching Start begins a
// record, other lines are appended to the one in progress.
type Multiline struct {
	Start    string        `yaml:"start"`
	Timeout  time.Duration `yaml:"timeout"`   // default 1s: flush a record this long after its last line
	MaxLines int           `yaml:"max_lines"` // default 1000
}

// Parser turns a record into fields. A source's parsers are tried in order
// and the first that matches wins.
type Parser struct {
	Type       string `yaml:"type"`        // json, regex, grok, nginx, apache, nginx_error, syslog, java
	Pattern    string `yaml:"pattern"`     // regex or grok pattern
	TimeField  string `yaml:"time_field"`  // field holding the record time (optional)
	TimeFormat string `yaml:"time_format"` // Go layout or "rfc3339", "unix", "unix_ms" (optional)
}

// source is a validated Source.
type source struct {
	idx        int
	key        string // identifies the source in the positions file: its globs
	paths      []string
	exclude    []string
	category   string
	enc        *textEncoding
	dec        *decoder // used by Run's goroutine only
	startAtEnd bool
	ml         *multilineSpec
	parsers    []parser
	fields     [][2]string // sorted by key, so records are alike
	// firstScan is true until the source's globs were expanded once in a
	// run that did not know the source; files found then start at
	// startAtEnd, later ones at the beginning.
	firstScan bool
}

type multilineSpec struct {
	start    *regexp.Regexp
	timeout  time.Duration
	maxLines int
}

func (c Config) withDefaults() Config {
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.BatchLines <= 0 {
		c.BatchLines = DefaultBatchLines
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	return c
}

// validate compiles every source, reporting all problems at once.
func (c Config) validate() ([]*source, error) {
	var errs []error
	var out []*source
	if len(c.Sources) == 0 {
		errs = append(errs, errors.New("logtail: no sources"))
	}
	keys := map[string]int{}
	for i, s := range c.Sources {
		src, err := s.compile(i)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if j, dup := keys[src.key]; dup {
			errs = append(errs, fmt.Errorf("logtail: source %d: same paths as source %d", i, j))
			continue
		}
		keys[src.key] = i
		out = append(out, src)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func (s Source) compile(i int) (*source, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("logtail: source %d: %s", i, fmt.Sprintf(format, args...))
	}
	src := &source{idx: i, category: s.Category}
	if src.category == "" {
		src.category = DefaultCategory
	}
	for _, p := range s.Paths {
		if strings.TrimSpace(p) == "" {
			continue
		}
		if err := checkGlob(p); err != nil {
			return nil, fail("path %q: %v", p, err)
		}
		src.paths = append(src.paths, filepath.Clean(p))
	}
	if len(src.paths) == 0 {
		return nil, fail("no paths")
	}
	for _, p := range s.Exclude {
		if err := checkGlob(p); err != nil {
			return nil, fail("exclude %q: %v", p, err)
		}
		src.exclude = append(src.exclude, p)
	}
	enc, err := lookupEncoding(s.Encoding)
	if err != nil {
		return nil, fail("%v", err)
	}
	src.enc = enc
	src.dec = newDecoder(enc)
	switch strings.ToLower(s.StartAt) {
	case "", "end":
		src.startAtEnd = true
	case "beginning":
	default:
		return nil, fail("start_at %q: want end or beginning", s.StartAt)
	}
	if s.Multiline != nil {
		if s.Multiline.Start == "" {
			return nil, fail("multiline: no start pattern")
		}
		re, err := regexp.Compile(s.Multiline.Start)
		if err != nil {
			return nil, fail("multiline start: %v", regexpError(s.Multiline.Start, err))
		}
		ml := &multilineSpec{start: re, timeout: s.Multiline.Timeout, maxLines: s.Multiline.MaxLines}
		if ml.timeout <= 0 {
			ml.timeout = DefaultMultilineTimeout
		}
		if ml.maxLines <= 0 {
			ml.maxLines = DefaultMultilineMaxLines
		}
		src.ml = ml
	}
	for j, pc := range s.Parsers {
		p, err := newParser(pc)
		if err != nil {
			return nil, fail("parser %d (%s): %v", j, pc.Type, err)
		}
		src.parsers = append(src.parsers, p)
	}
	for k, v := range s.Fields {
		if k == "" {
			return nil, fail("fields: empty name")
		}
		src.fields = append(src.fields, [2]string{k, v})
	}
	slices.SortFunc(src.fields, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	// The key leaves out everything but the globs, so editing a parser or
	// the category does not make the source new (and start_at apply again).
	key := slices.Clone(src.paths)
	slices.Sort(key)
	src.key = strings.Join(key, "\x00")
	return src, nil
}
