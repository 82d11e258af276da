package logtail

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/unicode"

	"github.com/osprey-monitoring/osprey/internal/wire"
)

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no sources", Config{Enabled: true}, "no sources"},
		{"no paths", Config{Enabled: true, Sources: []Source{{Category: "x"}}}, "source 0: no paths"},
		{"bad glob", Config{Enabled: true, Sources: []Source{{Paths: []string{"/var/log/[x.log"}}}}, "syntax error in pattern"},
		{"partial **", Config{Enabled: true, Sources: []Source{{Paths: []string{"/var/log/a**/x.log"}}}}, "whole path segment"},
		{"encoding", Config{Enabled: true, Sources: []Source{{Paths: []string{"/x"}, Encoding: "utf-32"}}}, `unknown encoding "utf-32"`},
		{"start_at", Config{Enabled: true, Sources: []Source{{Paths: []string{"/x"}, StartAt: "middle"}}}, "start_at"},
		{"multiline", Config{Enabled: true, Sources: []Source{{Paths: []string{"/x"}, Multiline: &Multiline{Start: "("}}}}, "multiline start"},
		{"parser", Config{Enabled: true, Sources: []Source{{Paths: []string{"/x"}, Parsers: []Parser{{Type: "json"}, {Type: "grok", Pattern: "%{NOPE}"}}}}}, "source 0: parser 1 (grok): grok: unknown pattern %{NOPE} at offset 0"},
		{"duplicate", Config{Enabled: true, Sources: []Source{{Paths: []string{"/x"}}, {Paths: []string{"/x"}, Category: "y"}}}, "source 1: same paths as source 0"},
		{"all reported", Config{Enabled: true, Sources: []Source{{}, {Paths: []string{"/x"}, Encoding: "ebcdic"}}}, "source 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, t.TempDir(), testIdent, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error with %q", err, tc.want)
			}
		})
	}
	if _, err := New(Config{}, "", nil, nil); err != nil {
		t.Fatalf("disabled: %v", err)
	}
	if _, err := New(Config{Enabled: true, Sources: []Source{{Paths: []string{"/x"}}}}, "", testIdent, nil); err == nil {
		t.Fatal("no state dir accepted")
	}
}

// TestRecord checks what a record carries: identity on the resource, the
// file attributes, parsed fields with their types, static fields, the
// parsed time and the severity.
func TestRecord(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	writeFile(t, path, "")
	s := &sink{}
	startModule(t, fastConfig(Source{
		Paths: []string{path}, Category: "nginx-access", Parsers: []Parser{{Type: "nginx"}},
		Fields: map[string]string{"service.name": "shop", "env": "prod"},
	}), filepath.Join(dir, "state"), s)
	time.Sleep(100 * time.Millisecond)
	line := `10.0.0.1 - - [24/Nov/2026:12:00:00 +0000] "GET /cart?id=1 HTTP/1.1" 500 12 "-" "ERROR-bot/1.0" 0.250`
	appendFile(t, path, line+"\nnot an access line ERROR\n")
	waitUntil(t, 5*time.Second, "two records", func() bool { return s.count() == 2 })

	if want := map[string]any{
		wire.AttrAgentID: "agent-1", wire.AttrAgentName: "web-1", wire.AttrAgentGroup: "web",
		wire.AttrAgentKind: "host", wire.AttrHostName: "web-1",
	}; len(diffFields(want, s.resource)) > 0 {
		t.Errorf("resource: %v", diffFields(want, s.resource))
	}
	fi, _ := os.Stat(path)
	id := fileKeyOf(fi).String()
	recs := s.all()
	r := recs[0]
	want := map[string]any{
		AttrFilePath: path, AttrFileName: "access.log", AttrCategory: "nginx-access", AttrFileID: id, AttrRecordOffset: int64(0),
		"service.name": "shop", "env": "prod",
		AttrClientAddress: "10.0.0.1", AttrHTTPMethod: "GET", AttrURLPath: "/cart", AttrURLQuery: "id=1",
		AttrProtocolVersion: "1.1", AttrHTTPStatus: int64(500), AttrHTTPBodySize: int64(12),
		AttrUserAgent: "ERROR-bot/1.0", AttrHTTPRequestDuration: 0.25,
	}
	for _, d := range diffFields(want, r.attrs) {
		t.Error(d)
	}
	if r.body != line {
		t.Errorf("body %q", r.body)
	}
	if !r.ts.Equal(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)) || time.Since(r.observed) > time.Minute {
		t.Errorf("time %v, observed %v", r.ts, r.observed)
	}
	if r.sevNum != plog.SeverityNumberUnspecified {
		t.Errorf("an access line got severity %v %q", r.sevNum, r.sevText)
	}
	// The second line matches no parser: the read time, a level from its
	// words, and a parse miss.
	r = recs[1]
	if r.sevText != "ERROR" || r.sevNum != plog.SeverityNumberError || r.attrs[AttrRecordOffset] != int64(len(line)+1) {
		t.Errorf("second record: %q %v %v", r.sevText, r.sevNum, r.attrs)
	}
	if !r.ts.Equal(r.observed) {
		t.Errorf("unparsed record time %v != observed %v", r.ts, r.observed)
	}
	if _, ok := r.attrs[AttrClientAddress]; ok {
		t.Error("fields of the first record leaked into the second")
	}
}

// TestFutureTimestamp: a parsed time far ahead of the read time is a
// misreading; the record keeps the read time so the server takes it.
func TestFutureTimestamp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, `{"time":"2999-01-01T00:00:00Z","msg":"x"}`+"\n")
	s := &sink{}
	startModule(t, fastConfig(Source{Paths: []string{path}, StartAt: "beginning", Parsers: []Parser{{Type: "json"}}}), filepath.Join(dir, "state"), s)
	waitUntil(t, 5*time.Second, "the record", func() bool { return s.count() == 1 })
	if r := s.all()[0]; !r.ts.Equal(r.observed) {
		t.Fatalf("time %v", r.ts)
	}
}

func TestMultiline(t *testing.T) {
	const start = `^\d{4}-\d{2}-\d{2} `
	trace := "2026-11-24 12:00:00.123 ERROR [main] c.e.Orders - order failed\n" +
		"java.lang.IllegalStateException: boom\n" +
		"\tat c.e.Orders.place(Orders.java:42)\n" +
		"\tat c.e.Main.main(Main.java:7)\n" +
		"Caused by: java.io.IOException: disk\n" +
		"\t... 2 more\n"
	t.Run("joined, last one flushed by the timeout", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "app.log")
		writeFile(t, path, "stray line before any record\n"+trace+"2026-11-24 12:00:01.000 INFO [main] c.e.Orders - next\n")
		s := &sink{}
		startModule(t, fastConfig(Source{
			Paths: []string{path}, StartAt: "beginning",
			Multiline: &Multiline{Start: start, Timeout: 300 * time.Millisecond},
			Parsers:   []Parser{{Type: "java"}},
		}), filepath.Join(dir, "state"), s)
		waitUntil(t, 5*time.Second, "two records", func() bool { return s.count() == 2 })
		began := time.Now()
		waitUntil(t, 5*time.Second, "the last record", func() bool { return s.count() == 3 })
		if waited := time.Since(began); waited < 100*time.Millisecond {
			t.Errorf("the last record came %v after the others: before its timeout", waited)
		}
		recs := s.all()
		if recs[0].body != "stray line before any record" {
			t.Errorf("first record %q", recs[0].body)
		}
		if recs[1].body != strings.TrimSuffix(trace, "\n") {
			t.Errorf("trace record %q", recs[1].body)
		}
		if recs[1].sevNum != plog.SeverityNumberError || !strings.HasSuffix(recs[1].attrs[FieldMessage].(string), "\t... 2 more") {
			t.Errorf("trace record: %v %v", recs[1].sevNum, recs[1].attrs)
		}
		if recs[1].attrs[AttrRecordOffset] != int64(len("stray line before any record\n")) {
			t.Errorf("offset %v", recs[1].attrs[AttrRecordOffset])
		}
		if recs[2].sevNum != plog.SeverityNumberInfo {
			t.Errorf("last record %v", recs[2])
		}
	})
	t.Run("max lines", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "app.log")
		writeFile(t, path, "2026-11-24 start\n1\n2\n3\n4\n5\n6\n2026-11-24 next\n")
		s := &sink{}
		startModule(t, fastConfig(Source{
			Paths: []string{path}, StartAt: "beginning",
			Multiline: &Multiline{Start: start, Timeout: 100 * time.Millisecond, MaxLines: 3},
		}), filepath.Join(dir, "state"), s)
		waitUntil(t, 5*time.Second, "four records", func() bool { return s.count() == 4 })
		var got []string
		for _, r := range s.all() {
			got = append(got, fmt.Sprintf("%q %v", r.body, r.attrs[AttrTruncated]))
		}
		want := []string{`"2026-11-24 start\n1\n2" true`, `"3\n4\n5" true`, `"6" true`, `"2026-11-24 next" <nil>`}
		if !slices.Equal(got, want) {
			t.Errorf("records\n got %q\nwant %q", got, want)
		}
	})
	t.Run("open record across a restart", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "app.log")
		state := filepath.Join(dir, "state")
		writeFile(t, path, "2026-11-24 one\n2026-11-24 two\n\tat x\n")
		cfg := fastConfig(Source{Paths: []string{path}, StartAt: "beginning", Multiline: &Multiline{Start: start, Timeout: time.Hour}})
		s := &sink{}
		r := startModule(t, cfg, state, s)
		waitUntil(t, 5*time.Second, "the first record", func() bool { return s.count() == 1 })
		time.Sleep(100 * time.Millisecond)
		r.stop()
		appendFile(t, path, "\tat y\n2026-11-24 three\n")
		r = startModule(t, cfg, state, s)
		waitUntil(t, 5*time.Second, "the second record", func() bool { return s.count() == 2 })
		time.Sleep(100 * time.Millisecond)
		r.stop()
		if got := s.bodies(); !slices.Equal(got, []string{"2026-11-24 one", "2026-11-24 two\n\tat x\n\tat y"}) {
			t.Errorf("records %q", got)
		}
	})
}

func TestEncodings(t *testing.T) {
	lines := []string{"한국어 로그: 디스크 사용량 91%", "plain ascii", "Grüße, naïve café"}
	for _, tc := range []struct {
		name string
		enc  encoding.Encoding
		bom  []byte
		text []string
	}{
		{"utf-16le", unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), []byte{0xff, 0xfe}, append(lines, "日本語のログ")},
		{"utf-16be", unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), []byte{0xfe, 0xff}, append(lines, "日本語のログ")},
		{"euc-kr", korean.EUCKR, nil, lines[:2]},
		{"shift_jis", japanese.ShiftJIS, nil, []string{"日本語のログ：エラー", "ascii"}},
		{"iso-8859-1", charmap.ISO8859_1, nil, []string{"Grüße, naïve café", "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "app.log")
			raw := append([]byte(nil), tc.bom...)
			for i, l := range tc.text {
				nl := "\n"
				if i == 1 {
					nl = "\r\n" // CRLF is a newline too
				}
				b, err := tc.enc.NewEncoder().Bytes([]byte(l + nl))
				if err != nil {
					t.Fatal(err)
				}
				raw = append(raw, b...)
			}
			if err := os.WriteFile(path, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			s := &sink{}
			startModule(t, fastConfig(Source{Paths: []string{path}, StartAt: "beginning", Encoding: tc.name}), filepath.Join(dir, "state"), s)
			waitUntil(t, 5*time.Second, "all lines", func() bool { return s.count() == len(tc.text) })
			if got := s.bodies(); !slices.Equal(got, tc.text) {
				t.Fatalf("decoded %q\nwant    %q", got, tc.text)
			}
			// Offsets are byte offsets in the file.
			recs := s.all()
			second := int64(len(tc.bom))
			first, _ := tc.enc.NewEncoder().Bytes([]byte(tc.text[0] + "\n"))
			second += int64(len(first))
			if recs[1].attrs[AttrRecordOffset] != second {
				t.Errorf("second record at %v, want %d", recs[1].attrs[AttrRecordOffset], second)
			}
		})
	}
}

// TestDiscovery: files created later under a ** glob are read from their
// start, excluded and compressed ones are not, and a file deleted and
// created again is read again from its start.
func TestDiscovery(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	writeFile(t, filepath.Join(logs, "old.log"), "old line, before the first start\n")
	s := &sink{}
	startModule(t, fastConfig(Source{
		Paths:   []string{filepath.Join(logs, "**", "*.log")},
		Exclude: []string{"*.debug.log", filepath.Join(logs, "skip", "**")},
	}), filepath.Join(dir, "state"), s)
	time.Sleep(200 * time.Millisecond)
	appendFile(t, filepath.Join(logs, "old.log"), "old appended\n")
	writeFile(t, filepath.Join(logs, "a", "b", "deep.log"), "deep 1\ndeep 2\n")
	writeFile(t, filepath.Join(logs, "x.debug.log"), "excluded by name\n")
	writeFile(t, filepath.Join(logs, "skip", "s.log"), "excluded by path\n")
	writeFile(t, filepath.Join(logs, "top.log.gz"), "compressed\n")
	writeFile(t, filepath.Join(logs, "other.txt"), "not matched\n")
	waitUntil(t, 5*time.Second, "new files", func() bool { return s.count() == 3 })

	path := filepath.Join(logs, "a", "b", "deep.log")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	writeFile(t, path, "recreated 1\n")
	waitUntil(t, 5*time.Second, "the recreated file", func() bool { return s.count() == 4 })
	time.Sleep(1500 * time.Millisecond) // a discovery round or more
	got := s.bodies()
	slices.Sort(got)
	if want := []string{"deep 1", "deep 2", "old appended", "recreated 1"}; !slices.Equal(got, want) {
		t.Fatalf("records %q, want %q", got, want)
	}
}

// TestStartAt: at the first start, files already there start at their end
// (default) or beginning; files that appear while the agent is stopped are
// read whole at the next start.
func TestStartAt(t *testing.T) {
	for _, startAt := range []string{"", "end", "beginning"} {
		t.Run(startAt, func(t *testing.T) {
			dir := t.TempDir()
			state := filepath.Join(dir, "state")
			writeFile(t, filepath.Join(dir, "a.log"), "a1\na2\npartial")
			cfg := fastConfig(Source{Paths: []string{filepath.Join(dir, "*.log")}, StartAt: startAt})
			s := &sink{}
			r := startModule(t, cfg, state, s)
			time.Sleep(150 * time.Millisecond)
			appendFile(t, filepath.Join(dir, "a.log"), " line\na3\n")
			want := []string{"partial line", "a3"}
			if startAt == "beginning" {
				want = []string{"a1", "a2", "partial line", "a3"}
			}
			waitUntil(t, 5*time.Second, "a.log", func() bool { return s.count() == len(want) })
			r.stop()
			writeFile(t, filepath.Join(dir, "b.log"), "b1\n")
			appendFile(t, filepath.Join(dir, "a.log"), "a4\n")
			r = startModule(t, cfg, state, s)
			want = append(want, "a4", "b1")
			waitUntil(t, 5*time.Second, "b.log", func() bool { return s.count() == len(want) })
			time.Sleep(100 * time.Millisecond)
			r.stop()
			if got := s.bodies(); !slices.Equal(got, want) {
				t.Fatalf("records %q, want %q", got, want)
			}
		})
	}
}

// TestRestartNoLossNoRepeat stops the module between a line's halves and
// at random points of a steady stream: every line arrives once.
func TestRestartNoLossNoRepeat(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	state := filepath.Join(dir, "state")
	writeFile(t, path, "")
	cfg := fastConfig(Source{Paths: []string{path}})
	cfg.BatchLines = 7
	s := &sink{}
	n := 0
	for round := range 5 {
		r := startModule(t, cfg, state, s)
		if round == 0 {
			waitUntil(t, 5*time.Second, "the file open", func() bool { return r.m.Stats().FilesOpen == 1 })
		}
		for range 40 {
			n++
			appendFile(t, path, fmt.Sprintf("line %d\nline %d", n, n+1))
			n++
			appendFile(t, path, " end\n")
		}
		if round%2 == 0 {
			waitUntil(t, 5*time.Second, "the lines so far", func() bool { return s.count() == n })
		}
		time.Sleep(time.Duration(round*13) * time.Millisecond)
		r.stop()
	}
	r := startModule(t, cfg, state, s)
	waitUntil(t, 5*time.Second, "every line", func() bool { return s.count() >= n })
	time.Sleep(100 * time.Millisecond)
	r.stop()
	got := s.bodies()
	if len(got) != n {
		t.Fatalf("%d records for %d lines", len(got), n)
	}
	for i, b := range got {
		want := fmt.Sprintf("line %d", i+1)
		if i%2 == 1 {
			want += " end"
		}
		if b != want {
			t.Fatalf("record %d = %q, want %q", i, b, want)
		}
	}
	if s.maxBatch > 7 {
		t.Errorf("a batch of %d records, limit 7", s.maxBatch)
	}
}

// TestPositionsAfterEmit checks the order that makes delivery exact: when
// emit is called, the saved offset is still before the batch; after it
// returns the offset covers it.
func TestPositionsAfterEmit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	state := filepath.Join(dir, "state")
	var content strings.Builder
	for i := range 50 {
		fmt.Fprintf(&content, "line %d\n", i)
	}
	writeFile(t, path, content.String())
	cfg := fastConfig(Source{Paths: []string{path}, StartAt: "beginning"})
	cfg.Enabled, cfg.BatchLines = true, 10
	m, err := New(cfg, state, testIdent, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	var problems []string
	saved := func() int64 {
		b, err := os.ReadFile(filepath.Join(state, PositionsFile))
		if err != nil {
			return 0
		}
		var p positions
		if err := json.Unmarshal(b, &p); err != nil || len(p.Files) == 0 {
			return 0
		}
		return p.Files[0].Offset
	}
	emit := func(ld plog.Logs) {
		first := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
		off, _ := first.Attributes().Get(AttrRecordOffset)
		if got := saved(); got > off.Int() {
			problems = append(problems, fmt.Sprintf("saved offset %d past the batch at %d before emit returned", got, off.Int()))
		}
		s.emit(ld)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx, emit) }()
	waitUntil(t, 5*time.Second, "every line", func() bool { return s.count() == 50 })
	cancel()
	<-done
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if got := saved(); got != int64(content.Len()) {
		t.Fatalf("saved offset %d, want %d", got, content.Len())
	}
	if s.batches != 5 {
		t.Errorf("%d batches, want 5", s.batches)
	}
}

func TestLongLines(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	long := strings.Repeat("é", 75<<10) // 150 KiB, two-byte characters
	writeFile(t, path, long+"\nshort\n"+long[:70<<10])
	s := &sink{}
	startModule(t, fastConfig(Source{Paths: []string{path}, StartAt: "beginning"}), filepath.Join(dir, "state"), s)
	waitUntil(t, 5*time.Second, "the pieces", func() bool { return s.count() == 5 })
	recs := s.all()
	var joined strings.Builder
	for i, r := range recs[:3] {
		if len(r.body) > MaxLineBytes || r.attrs[AttrTruncated] != true {
			t.Errorf("piece %d: %d bytes, truncated %v", i, len(r.body), r.attrs[AttrTruncated])
		}
		joined.WriteString(r.body)
	}
	if joined.String() != long {
		t.Error("the pieces do not make the line")
	}
	if recs[3].body != "short" || recs[3].attrs[AttrTruncated] != nil {
		t.Errorf("line after: %q %v", recs[3].body, recs[3].attrs[AttrTruncated])
	}
	// An unfinished line over the limit is cut without waiting for its end.
	if len(recs[4].body) != MaxLineBytes || recs[4].attrs[AttrTruncated] != true {
		t.Errorf("open long line: %d bytes", len(recs[4].body))
	}
	if got := recs[4].attrs[AttrRecordOffset]; got != int64(len(long)+len("\nshort\n")) {
		t.Errorf("offset %v", got)
	}
}

// TestRotationSimple walks through the cases one step at a time: rename
// with the old file still being written, copytruncate, deletion, and a
// rename while the module is stopped.
func TestRotationSimple(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	state := filepath.Join(dir, "state")
	writeFile(t, path, "")
	cfg := fastConfig(Source{Paths: []string{path}})
	s := &sink{}
	r := startModule(t, cfg, state, s)
	waitUntil(t, 5*time.Second, "the file open", func() bool { return r.m.Stats().FilesOpen == 1 })
	expect := func(what string, want ...string) {
		t.Helper()
		waitUntil(t, 5*time.Second, what, func() bool { return s.count() >= len(want) })
		time.Sleep(60 * time.Millisecond)
		if got := s.bodies(); !slices.Equal(got, want) {
			t.Fatalf("%s: records %q\nwant %q", what, got, want)
		}
	}

	// rename; the writer keeps its descriptor a little (nginx until USR1)
	old, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	old.WriteString("1\n")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	old.WriteString("2 after rename\n")
	writeFile(t, path, "3 new file\n")
	expect("rename", "1", "2 after rename", "3 new file")
	old.WriteString("4 late write to the old file\n")
	old.Close()
	expect("late write", "1", "2 after rename", "3 new file", "4 late write to the old file")

	// copytruncate, with lines not read yet
	r.stop()
	appendFile(t, path, "5 before copy\n")
	r = startModule(t, cfg, state, s)
	time.Sleep(100 * time.Millisecond)
	appendFile(t, path, "6 unread at copy\n")
	if err := shiftRotated(path, 1); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "7 after truncate\n")
	expect("copytruncate", "1", "2 after rename", "3 new file", "4 late write to the old file", "5 before copy", "6 unread at copy", "7 after truncate")

	// rename while stopped, twice
	r.stop()
	appendFile(t, path, "8\n")
	if err := shiftRotated(path, 2); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "9\n")
	if err := shiftRotated(path, 3); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "10\n")
	r = startModule(t, cfg, state, s)
	expect("rename while stopped", "1", "2 after rename", "3 new file", "4 late write to the old file", "5 before copy", "6 unread at copy", "7 after truncate", "8", "9", "10")
	if st := r.m.Stats(); st.Rotations != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestGlobMatchesRotated: a glob that also matches the rotated names
// (app.log*) does not make the renamed file a new one to read again.
func TestGlobMatchesRotated(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "")
	s := &sink{}
	r := startModule(t, fastConfig(Source{Paths: []string{filepath.Join(dir, "app.log*")}}), filepath.Join(dir, "state"), s)
	waitUntil(t, 5*time.Second, "the file open", func() bool { return r.m.Stats().FilesOpen == 1 })
	appendFile(t, path, "1\n2\n")
	waitUntil(t, 5*time.Second, "two lines", func() bool { return s.count() == 2 })
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "3\n")
	waitUntil(t, 5*time.Second, "the new file", func() bool { return s.count() == 3 })
	time.Sleep(2500 * time.Millisecond) // two discovery rounds
	if got := s.bodies(); !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Fatalf("records %q", got)
	}
}

// TestTruncatedWithoutCopy: a file emptied in place with no copy (say
// `: > app.log`) is read again from its start, shorter or longer.
func TestTruncatedWithoutCopy(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "")
	s := &sink{}
	r := startModule(t, fastConfig(Source{Paths: []string{path}}), filepath.Join(dir, "state"), s)
	waitUntil(t, 5*time.Second, "the file open", func() bool { return r.m.Stats().FilesOpen == 1 })
	appendFile(t, path, "first line\nsecond\n")
	waitUntil(t, 5*time.Second, "two lines", func() bool { return s.count() == 2 })
	writeFile(t, path, "x\n") // shorter than the offset
	waitUntil(t, 5*time.Second, "after the first truncation", func() bool { return s.count() == 3 })
	writeFile(t, path, "a line longer than what was there\n") // longer: the start changed
	waitUntil(t, 5*time.Second, "after the second truncation", func() bool { return s.count() == 4 })
	time.Sleep(100 * time.Millisecond)
	want := []string{"first line", "second", "x", "a line longer than what was there"}
	if got := s.bodies(); !slices.Equal(got, want) {
		t.Fatalf("records %q, want %q", got, want)
	}
	if st := r.m.Stats(); st.Truncations != 2 {
		t.Errorf("stats %+v", st)
	}
}
