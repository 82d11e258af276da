package logtail

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
)

func nginxLine(i int) string {
	return fmt.Sprintf(`10.%d.%d.%d - - [24/Nov/2026:12:%02d:%02d +0900] "GET /api/orders/%d?page=%d HTTP/1.1" %d %d "https://shop.example.com/cart" "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0" 0.%03d`,
		i%256, (i/256)%256, i%200, (i/60)%60, i%60, i, i%7, []int{200, 200, 200, 404, 500}[i%5], 512+i%4096, i%1000)
}

func plainLine(i int) string {
	return fmt.Sprintf("2026-11-24T12:00:00.%06dZ worker %d processed job %d in %d ms, queue depth %d", i%1000000, i%16, i, i%250, i%97)
}

// BenchmarkTailParse measures the module's work per line: read from a
// file (page cache), split, parse, level, plog record. Saving positions is
// left out (see BenchmarkRun); one op is one line.
func BenchmarkTailParse(b *testing.B) {
	for _, bc := range []struct {
		name    string
		parsers []Parser
		line    func(int) string
	}{
		{"nginx", []Parser{{Type: "nginx"}}, nginxLine},
		{"plain", nil, plainLine},
		{"json", []Parser{{Type: "json"}}, func(i int) string {
			return fmt.Sprintf(`{"time":"2026-11-24T12:00:00Z","level":"info","msg":"processed job","job":{"id":%d,"ms":%d},"worker":%d}`, i, i%250, i%16)
		}},
		{"grok", []Parser{{Type: "grok", Pattern: `^%{TIMESTAMP_ISO8601:time} worker %{INT:worker} processed job %{INT:job} in %{INT:ms} ms`}}, plainLine},
	} {
		b.Run(bc.name, func(b *testing.B) {
			const fileLines = 20_000
			dir := b.TempDir()
			path := filepath.Join(dir, "access.log")
			var sb strings.Builder
			for i := range fileLines {
				sb.WriteString(bc.line(i))
				sb.WriteByte('\n')
			}
			if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
				b.Fatal(err)
			}
			m, err := New(Config{Enabled: true, Sources: []Source{{Paths: []string{path}, Parsers: bc.parsers}}}, dir, testIdent, nil)
			if err != nil {
				b.Fatal(err)
			}
			emitted := 0
			m.init(func(ld plog.Logs) { emitted += ld.LogRecordCount() })
			m.posPath = filepath.Join(dir, "no-such-dir", PositionsFile) // saving fails fast: not measured here
			m.saveErrAt = time.Now()
			g := newGroup(path, m.sources[0])
			m.addGroup(g)
			fi, _ := os.Stat(path)
			tr := m.addTracker(g, fileKeyOf(fi), path, 0, false)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			lines := 0
			for lines < b.N {
				tr.pos, tr.done, tr.committed, tr.carry = 0, 0, 0, tr.carry[:0]
				if !m.readFile(ctx, tr) {
					b.Fatal("read stopped early")
				}
				lines += fileLines
			}
			m.emit()
			b.StopTimer()
			if emitted != lines {
				b.Fatalf("%d records for %d lines", emitted, lines)
			}
			if bc.parsers != nil && m.Stats().ParseMisses > 0 {
				b.Fatalf("%d parse misses", m.Stats().ParseMisses)
			}
			b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// BenchmarkRun is the whole module on a file of b.N nginx lines: polling,
// batches of 2000, and the positions file saved (fsync) after each.
func BenchmarkRun(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "access.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	var buf []byte
	for i := range b.N {
		buf = append(buf, nginxLine(i)...)
		buf = append(buf, '\n')
		if len(buf) > 1<<20 {
			f.Write(buf)
			buf = buf[:0]
		}
	}
	f.Write(buf)
	f.Close()
	m, err := New(Config{Enabled: true, Sources: []Source{{Paths: []string{path}, StartAt: "beginning", Parsers: []Parser{{Type: "nginx"}}}}}, filepath.Join(dir, "state"), testIdent, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		defer close(done)
		m.Run(ctx, func(plog.Logs) {})
	}()
	for m.Stats().LinesRead < uint64(b.N) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
