package event

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/VictoriaMetrics/VictoriaLogs/lib/logstorage"
)

// Filter matches one field. Op is "=" (exact), "!=" (not exact), "~"
// (substring) or "!~" (no substring). An empty Value with "=" matches rows
// without the field.
type Filter struct {
	Field string
	Op    string
	Value string
}

// In matches rows whose Field equals one of Values (an empty value matches
// rows without the field), e.g. level in (error, fatal).
type In struct {
	Field  string
	Values []string
}

// Range matches rows whose Field holds a number in [Min, Max), e.g. the
// response times of a hitmap box. An infinite bound leaves that side open.
type Range struct {
	Field    string
	Min, Max float64
}

// Query selects records. Start/End are inclusive; zero End means now and
// zero Start means End-1h.
type Query struct {
	Start, End time.Time
	Type       string   // "" = any
	Filters    []Filter // all must match
	In         []In     // each must match: the field equals one of its values
	Ranges     []Range  // each must match
	Text       string   // full-text over _msg: words and "quoted phrases", all must match
	Limit      int      // default 100, max 10000
	Cursor     string   // opaque, from a previous Result
	Fields     []string // nil = all fields
}

// Record is one result row. It includes "_time" (RFC3339Nano) and "_msg".
type Record map[string]string

// Result is one page of records, newest first.
type Result struct {
	Records    []Record
	NextCursor string // "" when there is nothing older
	Partial    bool   // the search stopped early; Reason says why
	Reason     string
}

const (
	defaultLimit = 100
	maxLimit     = 10000
	// First search window; windows then grow by windowGrowth so sparse
	// data over long ranges needs few queries while dense recent data is
	// answered from a small slice.
	firstWindow  = 10 * time.Second
	windowGrowth = 8
)

// ErrBadQuery wraps validation errors, which callers can show to users.
var ErrBadQuery = errors.New("bad query")

func badQuery(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadQuery, fmt.Sprintf(format, args...))
}

type cursor struct {
	ts  int64 // rows older than (ts, seq) in (time desc, seq desc) order remain
	seq int64
}

func (c cursor) encode() string {
	b := make([]byte, 0, 40)
	b = strconv.AppendInt(b, c.ts, 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, c.seq, 10)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, badQuery("invalid cursor")
	}
	tsStr, seqStr, ok := strings.Cut(string(b), ".")
	if !ok {
		return cursor{}, badQuery("invalid cursor")
	}
	ts, err1 := strconv.ParseInt(tsStr, 10, 64)
	seq, err2 := strconv.ParseInt(seqStr, 10, 64)
	if err1 != nil || err2 != nil {
		return cursor{}, badQuery("invalid cursor")
	}
	return cursor{ts: ts, seq: seq}, nil
}

// normalized holds a validated query.
type normalized struct {
	start, end int64
	filter     string // LogsQL filter expression without time bounds
	limit      int
	cur        *cursor
	fields     []string
}

func (s *Store) normalize(q Query, now time.Time) (normalized, error) {
	var n normalized
	end := q.End
	if end.IsZero() {
		end = now
	}
	start := q.Start
	if start.IsZero() {
		start = end.Add(-time.Hour)
	}
	if start.After(end) {
		return n, badQuery("start %s is after end %s", start.Format(time.RFC3339Nano), end.Format(time.RFC3339Nano))
	}
	n.start, n.end = start.UnixNano(), end.UnixNano()
	switch {
	case q.Limit == 0:
		n.limit = defaultLimit
	case q.Limit < 0:
		return n, badQuery("limit must be positive")
	case q.Limit > maxLimit:
		n.limit = maxLimit
	default:
		n.limit = q.Limit
	}
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor)
		if err != nil {
			return n, err
		}
		n.cur = &c
	}
	f, err := buildFilter(q)
	if err != nil {
		return n, err
	}
	n.filter = f
	for _, name := range q.Fields {
		if name == "" {
			return n, badQuery("empty field name in fields")
		}
	}
	n.fields = q.Fields
	return n, nil
}

// quote renders s as a LogsQL quoted string. LogsQL unquotes "..." with
// strconv.Unquote, so Go quoting round-trips any byte sequence, including
// quotes, backslashes, newlines, pipes and invalid UTF-8.
func quote(s string) string { return strconv.Quote(s) }

func buildFilter(q Query) (string, error) {
	var parts []string
	if q.Type != "" {
		parts = append(parts, quote(FieldType)+":="+quote(q.Type))
	}
	for _, f := range q.Filters {
		if f.Field == "" {
			return "", badQuery("filter without field name")
		}
		switch f.Field {
		case FieldTime, "_stream", "_stream_id":
			return "", badQuery("cannot filter on %s; use start/end", f.Field)
		}
		field := quote(f.Field)
		switch f.Op {
		case "=":
			parts = append(parts, field+":="+quote(f.Value))
		case "!=":
			parts = append(parts, "-"+field+":="+quote(f.Value))
		case "~", "!~":
			if f.Value == "" {
				return "", badQuery("empty substring for %s", f.Field)
			}
			if !utf8.ValidString(f.Value) {
				return "", badQuery("substring for %s is not valid UTF-8", f.Field)
			}
			// A regexp of the escaped literal is LogsQL's substring match.
			expr := field + ":~" + quote(regexp.QuoteMeta(f.Value))
			if f.Op == "!~" {
				expr = "-" + expr
			}
			parts = append(parts, expr)
		default:
			return "", badQuery("unsupported filter operator %q for %s", f.Op, f.Field)
		}
	}
	for _, in := range q.In {
		expr, err := inFilter(in)
		if err != nil {
			return "", err
		}
		parts = append(parts, expr)
	}
	for _, r := range q.Ranges {
		expr, err := rangeFilter(r)
		if err != nil {
			return "", err
		}
		parts = append(parts, expr)
	}
	terms, err := splitText(q.Text)
	if err != nil {
		return "", err
	}
	for _, t := range terms {
		// A quoted string is a word/phrase filter on _msg.
		parts = append(parts, quote(FieldMsg)+":"+quote(t))
	}
	if len(parts) == 0 {
		return "*", nil
	}
	return strings.Join(parts, " "), nil
}

// splitText splits full-text input into words and "quoted phrases".
// Inside quotes, \" and \\ escape.
func splitText(text string) ([]string, error) {
	var terms []string
	var b strings.Builder
	inQuote, escaped := false, false
	flush := func() {
		if t := strings.TrimSpace(b.String()); t != "" {
			terms = append(terms, t)
		}
		b.Reset()
	}
	for _, r := range text {
		switch {
		case escaped:
			b.WriteRune(r)
			escaped = false
		case inQuote && r == '\\':
			escaped = true
		case r == '"':
			flush()
			inQuote = !inQuote
		case !inQuote && (r == ' ' || r == '\t' || r == '\n' || r == '\r'):
			flush()
		default:
			b.WriteRune(r)
		}
	}
	if inQuote {
		return nil, badQuery("unterminated quote in text")
	}
	flush()
	return terms, nil
}

// Search returns records matching q, newest first (ties broken by insertion
// order, newest first). It walks the time range backwards in growing
// windows so a page of recent rows never sorts the whole range. The time
// budget is ctx's deadline (default Options.SearchTimeout) and the row
// budget Options.MaxScanRows; when either runs out, the rows found so far
// are returned with Partial set and a NextCursor to resume from.
func (s *Store) Search(ctx context.Context, project int64, q Query) (res Result, err error) {
	tenant, err := tenantFor(project)
	if err != nil {
		return res, fmt.Errorf("search events: %w", err)
	}
	n, err := s.normalize(q, time.Now())
	if err != nil {
		return res, err
	}
	ctx, cancel := s.withBudget(ctx)
	defer cancel()
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return res, fmt.Errorf("search events: %w", ErrClosed)
	}

	res.Records = make([]Record, 0, min(n.limit, 256))
	var scanned uint64
	hi := n.end
	if n.cur != nil {
		if n.cur.ts < n.start {
			return res, nil
		}
		if n.cur.ts <= n.end {
			// Rows at exactly the cursor's time with a smaller seq come first.
			expr := n.filter + " " + quote(FieldSeq) + ":<" + strconv.FormatInt(n.cur.seq, 10)
			recs, rows, err := s.runWindow(ctx, tenant, expr, n.cur.ts, n.cur.ts, n.limit, n.fields, false)
			scanned += rows
			if err != nil {
				return s.cutShort(ctx, res, n, err, n.cur.ts, n.cur.seq)
			}
			res.Records = append(res.Records, recs...)
		}
		hi = min(n.end, n.cur.ts-1)
	}
	w := int64(firstWindow)
	windows := 0
	for hi >= n.start && len(res.Records) < n.limit {
		lo := max(n.start, hi-w+1)
		if hi-w+1 > hi { // overflow guard for huge windows
			lo = n.start
		}
		// At least one window runs per call, so resuming always progresses.
		if windows > 0 && scanned >= s.opts.MaxScanRows {
			res.Partial = true
			res.Reason = fmt.Sprintf("row budget of %d scanned rows exhausted", s.opts.MaxScanRows)
			res.NextCursor = s.resumeCursor(res, hi+1, 0)
			s.stripHidden(res.Records, n.fields)
			return res, nil
		}
		windows++
		recs, rows, err := s.runWindow(ctx, tenant, n.filter, lo, hi, n.limit-len(res.Records), n.fields, false)
		scanned += rows
		if err != nil {
			return s.cutShort(ctx, res, n, err, hi+1, 0)
		}
		res.Records = append(res.Records, recs...)
		hi = lo - 1
		if w < int64(365*24*time.Hour) {
			w *= windowGrowth
		}
	}
	if len(res.Records) >= n.limit {
		res.Records = res.Records[:n.limit]
		last := res.Records[len(res.Records)-1]
		res.NextCursor = cursor{ts: recordTs(last), seq: recordSeq(last)}.encode()
	}
	s.stripHidden(res.Records, n.fields)
	return res, nil
}

// cutShort turns a time-budget error into a partial result; other errors
// are returned. boundTs/boundSeq describe what was fully scanned when no
// record was found yet.
func (s *Store) cutShort(ctx context.Context, res Result, n normalized, err error, boundTs, boundSeq int64) (Result, error) {
	if ctx.Err() == nil || errors.Is(err, errEnginePanic) {
		return Result{}, fmt.Errorf("search events: %w", err)
	}
	res.Partial = true
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		res.Reason = "time budget exceeded"
	} else {
		res.Reason = "search canceled"
	}
	res.NextCursor = s.resumeCursor(res, boundTs, boundSeq)
	s.stripHidden(res.Records, n.fields)
	return res, nil
}

func (s *Store) resumeCursor(res Result, boundTs, boundSeq int64) string {
	if k := len(res.Records); k > 0 {
		last := res.Records[k-1]
		return cursor{ts: recordTs(last), seq: recordSeq(last)}.encode()
	}
	return cursor{ts: boundTs, seq: boundSeq}.encode()
}

func (s *Store) stripHidden(recs []Record, fields []string) {
	keepSeq := slices.Contains(fields, FieldSeq)
	for _, r := range recs {
		if !keepSeq {
			delete(r, FieldSeq)
		}
		if fields == nil {
			delete(r, "_stream")
			delete(r, "_stream_id")
		}
	}
}

func recordTs(r Record) int64 {
	t, err := time.Parse(time.RFC3339Nano, r[FieldTime])
	if err != nil {
		return 0
	}
	return t.UnixNano()
}

func recordSeq(r Record) int64 {
	v, _ := strconv.ParseInt(r[FieldSeq], 10, 64)
	return v
}

// runWindow returns up to limit newest records in [lo, hi] and the number
// of rows the engine scanned.
// runWindow reads up to limit rows in [lo, hi], newest first, or oldest
// first when asc.
func (s *Store) runWindow(ctx context.Context, tenant logstorage.TenantID, filter string, lo, hi int64, limit int, fields []string, asc bool) (recs []Record, scanned uint64, err error) {
	dir := " desc"
	if asc {
		dir = ""
	}
	var b strings.Builder
	b.WriteString(filter)
	b.WriteString(" | sort by (_time" + dir + ", ")
	b.WriteString(quote(FieldSeq))
	b.WriteString(dir + ") limit ")
	b.WriteString(strconv.Itoa(limit))
	if fields != nil {
		b.WriteString(" | fields _time, ")
		b.WriteString(quote(FieldSeq))
		for _, f := range fields {
			if f == FieldTime || f == FieldSeq {
				continue
			}
			b.WriteString(", ")
			b.WriteString(quote(f))
		}
	}
	q, err := logstorage.ParseQueryAtTimestamp(b.String(), hi)
	if err != nil {
		return nil, 0, fmt.Errorf("build LogsQL query: %w", err)
	}
	q.AddTimeFilter(lo, hi)

	var mu sync.Mutex
	var qs logstorage.QueryStats
	err = func() (err error) {
		defer recoverAsError(&err, "run event query")
		qctx := logstorage.NewQueryContext(ctx, &qs, []logstorage.TenantID{tenant}, q, false, nil)
		return s.st.RunQuery(qctx, func(_ uint, db *logstorage.DataBlock) {
			cols := db.GetColumns(false)
			rows := db.RowsCount()
			mu.Lock()
			defer mu.Unlock()
			for i := 0; i < rows; i++ {
				r := make(Record, len(cols))
				for _, c := range cols {
					if v := c.Values[i]; v != "" {
						// Block memory is reused after this callback.
						r[c.Name] = strings.Clone(v)
					}
				}
				recs = append(recs, r)
			}
		})
	}()
	scanned = qs.RowsProcessed
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, scanned, err
	}
	// Blocks may arrive from several workers; restore the sort order.
	slices.SortFunc(recs, func(a, b Record) int {
		c := cmp.Compare(recordTs(b), recordTs(a))
		if c == 0 {
			c = cmp.Compare(recordSeq(b), recordSeq(a))
		}
		if asc {
			return -c
		}
		return c
	})
	return recs, scanned, nil
}

// withBudget gives ctx the store's search time budget unless the caller
// set a deadline of its own.
func (s *Store) withBudget(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.opts.SearchTimeout)
}

// Count returns the number of records matching q (Limit, Cursor and Fields
// are ignored).
func (s *Store) Count(ctx context.Context, project int64, q Query) (uint64, error) {
	tenant, err := tenantFor(project)
	if err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	q.Cursor, q.Limit, q.Fields = "", 0, nil
	n, err := s.normalize(q, time.Now())
	if err != nil {
		return 0, err
	}
	ctx, cancel := s.withBudget(ctx)
	defer cancel()
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return 0, fmt.Errorf("count events: %w", ErrClosed)
	}
	lq, err := logstorage.ParseQueryAtTimestamp(n.filter+" | stats count() as n", n.end)
	if err != nil {
		return 0, fmt.Errorf("count events: build LogsQL query: %w", err)
	}
	lq.AddTimeFilter(n.start, n.end)
	var total uint64
	var mu sync.Mutex
	err = func() (err error) {
		defer recoverAsError(&err, "run event count")
		qctx := logstorage.NewQueryContext(ctx, &logstorage.QueryStats{}, []logstorage.TenantID{tenant}, lq, false, nil)
		return s.st.RunQuery(qctx, func(_ uint, db *logstorage.DataBlock) {
			c := db.GetColumnByName("n")
			if c == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, v := range c.Values {
				x, _ := strconv.ParseUint(v, 10, 64)
				total += x
			}
		})
	}()
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return total, nil
}

func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
