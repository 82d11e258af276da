package event

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openTest(t testing.TB, dir string) *Store {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s, err := Open(context.Background(), Options{Dir: dir, Logger: quietLogger(), MaxMemoryBytes: 256 << 20})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func row(ts time.Time, typ, msg string, kv ...string) Row {
	r := Row{Time: ts, Fields: []Field{{FieldType, typ}, {FieldMsg, msg}}}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Fields = append(r.Fields, Field{kv[i], kv[i+1]})
	}
	return r
}

func mustAdd(t testing.TB, s *Store, project int64, rows ...Row) {
	t.Helper()
	acc, rej, err := s.Add(context.Background(), project, rows)
	if err != nil || rej != 0 || acc != len(rows) {
		t.Fatalf("Add: accepted=%d rejected=%d err=%v", acc, rej, err)
	}
}

func search(t testing.TB, s *Store, project int64, q Query) Result {
	t.Helper()
	res, err := s.Search(context.Background(), project, q)
	if err != nil {
		t.Fatalf("Search(%+v): %v", q, err)
	}
	return res
}

func msgs(res Result) []string {
	var out []string
	for _, r := range res.Records {
		out = append(out, r[FieldMsg])
	}
	return out
}

func TestRoundTripAndFlush(t *testing.T) {
	s := openTest(t, "")
	now := time.Now()
	mustAdd(t, s, 1,
		row(now.Add(-3*time.Second), "log", "first line", "service.name", "api", "level", "info"),
		row(now.Add(-2*time.Second), "log", "second line", "service.name", "api", "level", "error"),
		row(now.Add(-1*time.Second), "span", "GET /users", "service.name", "web", "http.route", "/users"),
	)
	// Flush must make rows visible at once (the engine alone needs ~1 s).
	s.Flush()
	res := search(t, s, 1, Query{})
	if got, want := msgs(res), []string{"GET /users", "second line", "first line"}; !slices.Equal(got, want) {
		t.Fatalf("records = %q, want %q", got, want)
	}
	r := res.Records[0]
	if r["http.route"] != "/users" || r["type"] != "span" || r["service.name"] != "web" {
		t.Fatalf("record fields: %v", r)
	}
	if _, err := time.Parse(time.RFC3339Nano, r[FieldTime]); err != nil {
		t.Fatalf("_time %q: %v", r[FieldTime], err)
	}
	if _, ok := r[FieldSeq]; ok {
		t.Fatalf("hidden seq field leaked: %v", r)
	}
	if res.NextCursor != "" || res.Partial {
		t.Fatalf("unexpected cursor/partial: %+v", res)
	}
	if got := msgs(search(t, s, 1, Query{Type: "log"})); len(got) != 2 {
		t.Fatalf("type filter: %q", got)
	}
	n, err := s.Count(context.Background(), 1, Query{Type: "log"})
	if err != nil || n != 2 {
		t.Fatalf("Count = %d, %v", n, err)
	}
	res = search(t, s, 1, Query{Fields: []string{"http.route"}, Type: "span"})
	if len(res.Records) != 1 || len(res.Records[0]) != 2 || res.Records[0]["http.route"] != "/users" {
		t.Fatalf("fields projection: %v", res.Records)
	}
	if s.DiskBytes() <= 0 {
		t.Fatalf("DiskBytes = %d", s.DiskBytes())
	}
}

func TestTenancy(t *testing.T) {
	s := openTest(t, "")
	now := time.Now()
	mustAdd(t, s, 1, row(now, "log", "secret of A"))
	mustAdd(t, s, 2, row(now, "log", "public of B"))
	s.Flush()
	if got := msgs(search(t, s, 1, Query{})); !slices.Equal(got, []string{"secret of A"}) {
		t.Fatalf("project 1 sees %q", got)
	}
	if got := msgs(search(t, s, 2, Query{Text: "secret"})); len(got) != 0 {
		t.Fatalf("project 2 sees A's rows: %q", got)
	}
	if got := msgs(search(t, s, 3, Query{})); len(got) != 0 {
		t.Fatalf("project 3 sees %q", got)
	}
	if _, err := s.Search(context.Background(), -1, Query{}); err == nil {
		t.Fatal("negative project accepted")
	}
}

func TestFiltersAndText(t *testing.T) {
	s := openTest(t, "")
	now := time.Now()
	mustAdd(t, s, 1,
		row(now.Add(-4*time.Second), "log", "connection refused by upstream", "service.name", "api", "level", "error"),
		row(now.Add(-3*time.Second), "log", "upstream connection established", "service.name", "api", "level", "info"),
		row(now.Add(-2*time.Second), "log", "user login ok", "service.name", "auth", "level", "info", "enduser.id", "alice@example.com"),
		row(now.Add(-1*time.Second), "log", "refused login", "service.name", "auth", "level", "warn"),
	)
	s.Flush()
	cases := []struct {
		name string
		q    Query
		want []string
	}{
		{"eq", Query{Filters: []Filter{{"service.name", "=", "auth"}}}, []string{"refused login", "user login ok"}},
		{"ne", Query{Filters: []Filter{{"service.name", "!=", "auth"}}}, []string{"upstream connection established", "connection refused by upstream"}},
		{"substring", Query{Filters: []Filter{{"enduser.id", "~", "@example."}}}, []string{"user login ok"}},
		{"not substring", Query{Filters: []Filter{{"level", "!~", "nf"}}}, []string{"refused login", "connection refused by upstream"}},
		{"missing field", Query{Filters: []Filter{{"enduser.id", "=", ""}, {"level", "=", "info"}}}, []string{"upstream connection established"}},
		{"words all must match", Query{Text: "refused upstream"}, []string{"connection refused by upstream"}},
		{"word", Query{Text: "login"}, []string{"refused login", "user login ok"}},
		{"phrase", Query{Text: `"connection refused"`}, []string{"connection refused by upstream"}},
		{"phrase order matters", Query{Text: `"refused connection"`}, nil},
		{"phrase and word", Query{Text: `"user login" ok`}, []string{"user login ok"}},
		{"combined", Query{Type: "log", Text: "login", Filters: []Filter{{"level", "=", "warn"}}}, []string{"refused login"}},
		{"other type", Query{Type: "span"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := msgs(search(t, s, 1, c.q)); !slices.Equal(got, c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestHostileInput(t *testing.T) {
	s := openTest(t, "")
	now := time.Now()
	hostile := []string{
		`a"b`, `" | delete`, `x | stats count()`, `*`, `foo:*`, `a:b`, `back\slash\`, "new\nline",
		`'single'`, "`tick`", `_time:5m`, `(a or b)`, `-neg`, `!bang`, `"`, `\"`, `{}`, "tab\there", "\xff\xfe", "or", "AND", "not", "-", "!", "in(a,b)", "$", "~",
	}
	for i, v := range hostile {
		mustAdd(t, s, 1, row(now.Add(time.Duration(i-len(hostile))*time.Millisecond), "log", "msg "+strconv.Itoa(i),
			"weird", v, "weird field: | \"name\"", v))
	}
	mustAdd(t, s, 1, row(now, "log", "decoy", "weird", "plain"))
	s.Flush()
	for i, v := range hostile {
		for _, field := range []string{"weird", "weird field: | \"name\""} {
			res, err := s.Search(context.Background(), 1, Query{Filters: []Filter{{field, "=", v}}})
			if err != nil {
				t.Fatalf("exact %q on %q: %v", v, field, err)
			}
			if got := msgs(res); !slices.Equal(got, []string{"msg " + strconv.Itoa(i)}) {
				t.Errorf("exact %q on %q: got %q", v, field, got)
			}
		}
		res, err := s.Search(context.Background(), 1, Query{Filters: []Filter{{"weird", "~", v}}})
		if !utf8.ValidString(v) {
			if !errors.Is(err, ErrBadQuery) {
				t.Fatalf("substring with invalid UTF-8: want ErrBadQuery, got %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("substring %q: %v", v, err)
		}
		if !slices.Contains(msgs(res), "msg "+strconv.Itoa(i)) || slices.Contains(msgs(res), "decoy") {
			t.Errorf("substring %q: got %q", v, msgs(res))
		}
		// As text it must never error nor match everything.
		res, err = s.Search(context.Background(), 1, Query{Text: strconv.Quote(v)})
		if err != nil {
			t.Fatalf("text %q: %v", v, err)
		}
		if len(res.Records) > 2 {
			t.Errorf("text %q matched %d rows", v, len(res.Records))
		}
		// Raw, unquoted user text: a bad-query error at worst, never a
		// broader match.
		res, err = s.Search(context.Background(), 1, Query{Text: v})
		if err != nil && !errors.Is(err, ErrBadQuery) {
			t.Fatalf("raw text %q: %v", v, err)
		}
		if len(res.Records) > 0 {
			t.Errorf("raw text %q matched %q", v, msgs(res))
		}
		if _, err := s.Count(context.Background(), 1, Query{Type: v, Fields: []string{v}}); err != nil {
			t.Fatalf("count with type %q: %v", v, err)
		}
		if _, err := s.Search(context.Background(), 1, Query{Type: v, Fields: []string{v}}); err != nil {
			t.Fatalf("search with fields %q: %v", v, err)
		}
	}
	if _, err := s.Search(context.Background(), 1, Query{Filters: []Filter{{"a", "|", "b"}}}); !errors.Is(err, ErrBadQuery) {
		t.Fatalf("bad op: %v", err)
	}
	if _, err := s.Search(context.Background(), 1, Query{Text: `"open`}); !errors.Is(err, ErrBadQuery) {
		t.Fatalf("unterminated quote: %v", err)
	}
}

func TestPagingEqualTimestamps(t *testing.T) {
	s := openTest(t, "")
	base := time.Now().Add(-time.Minute).Truncate(time.Second)
	var rows []Row
	const n = 2500
	for i := range n {
		// Bursts of 500 rows share one timestamp, spread over hours so the
		// windowed walk crosses window boundaries too.
		ts := base.Add(-time.Duration(i/500) * 17 * time.Minute)
		rows = append(rows, row(ts, "span", fmt.Sprintf("row-%05d", i)))
	}
	// Insert in several batches, as ingest would.
	for i := 0; i < n; i += 700 {
		mustAdd(t, s, 7, rows[i:min(i+700, n)]...)
	}
	s.Flush()
	seen := map[string]bool{}
	q := Query{Start: base.Add(-3 * time.Hour), End: base, Limit: 333}
	pages := 0
	var prevTs string
	for {
		res := search(t, s, 7, q)
		pages++
		for _, r := range res.Records {
			m := r[FieldMsg]
			if seen[m] {
				t.Fatalf("duplicate %s on page %d", m, pages)
			}
			seen[m] = true
			if prevTs != "" && recordTs(r) > recordTsString(prevTs) {
				t.Fatalf("not newest first: %s after %s", r[FieldTime], prevTs)
			}
			prevTs = r[FieldTime]
		}
		if res.NextCursor == "" {
			break
		}
		q.Cursor = res.NextCursor
		if pages > 100 {
			t.Fatal("paging does not terminate")
		}
	}
	if len(seen) != n {
		t.Fatalf("saw %d distinct rows over %d pages, want %d", len(seen), pages, n)
	}
	if _, err := s.Search(context.Background(), 7, Query{Cursor: "!!"}); !errors.Is(err, ErrBadQuery) {
		t.Fatalf("bad cursor: %v", err)
	}
}

func recordTsString(s string) int64 { return recordTs(Record{FieldTime: s}) }

func TestPartialOnBudget(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), Options{Dir: dir, Logger: quietLogger(), MaxScanRows: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	var rows []Row
	for i := range 50 {
		rows = append(rows, row(now.Add(-time.Duration(i)*time.Minute), "log", "line "+strconv.Itoa(i)))
	}
	mustAdd(t, s, 1, rows...)
	s.Flush()

	// Row budget: the first window scans rows, so the walk stops early.
	res := search(t, s, 1, Query{Limit: 1000})
	if !res.Partial || res.Reason == "" || res.NextCursor == "" {
		t.Fatalf("row budget: want partial with reason and cursor, got %+v", res)
	}
	if len(res.Records) >= 50 {
		t.Fatalf("row budget: got all %d rows", len(res.Records))
	}
	// Resuming from the cursor must eventually yield every row exactly once.
	seen := map[string]bool{}
	for _, r := range res.Records {
		seen[r[FieldMsg]] = true
	}
	q := Query{Limit: 1000, Cursor: res.NextCursor}
	for i := 0; q.Cursor != "" && i < 2000; i++ {
		r2 := search(t, s, 1, q)
		for _, r := range r2.Records {
			if seen[r[FieldMsg]] {
				t.Fatalf("duplicate %s after resume", r[FieldMsg])
			}
			seen[r[FieldMsg]] = true
		}
		q.Cursor = r2.NextCursor
	}
	if len(seen) != 50 {
		t.Fatalf("resumed search saw %d rows, want 50", len(seen))
	}

	// Time budget: an expired deadline gives a partial, not an error.
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	res, err = s.Search(ctx, 1, Query{})
	if err != nil {
		t.Fatalf("expired deadline: %v", err)
	}
	if !res.Partial || res.Reason != "time budget exceeded" {
		t.Fatalf("expired deadline: %+v", res)
	}
}

func TestRejects(t *testing.T) {
	s := openTest(t, "")
	now := time.Now()
	many := Row{Time: now, Fields: []Field{{FieldType, "log"}}}
	for i := range 2100 {
		many.Fields = append(many.Fields, Field{"f" + strconv.Itoa(i), "v"})
	}
	rows := []Row{
		row(now, "log", "ok"),
		{Time: now, Fields: []Field{{FieldMsg, "no type"}}},
		row(now.Add(time.Hour), "log", "future"),
		row(now.Add(-30*24*time.Hour), "log", "too old"),
		many,
		row(time.Time{}, "log", "zero time means now"),
	}
	acc, rej, err := s.Add(context.Background(), 1, rows)
	if err != nil || acc != 2 || rej != 4 {
		t.Fatalf("Add = %d, %d, %v; want 2, 4, nil", acc, rej, err)
	}
	s.Flush()
	if got := msgs(search(t, s, 1, Query{})); len(got) != 2 {
		t.Fatalf("stored %q", got)
	}
}

func TestReopenKeepsDataAndDoubleOpen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), Options{Dir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), Options{Dir: dir, Logger: quietLogger()}); err == nil {
		t.Fatal("second Open of the same dir succeeded")
	}
	now := time.Now()
	mustAdd(t, s, 5, row(now, "log", "persisted"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Add(context.Background(), 5, []Row{row(now, "log", "x")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Add after Close: %v", err)
	}
	s2 := openTest(t, dir)
	if got := msgs(search(t, s2, 5, Query{})); !slices.Equal(got, []string{"persisted"}) {
		t.Fatalf("after reopen: %q", got)
	}
}
