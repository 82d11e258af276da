package logpattern

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestMasking(t *testing.T) {
	cases := []struct{ line, want string }{
		{"took 15ms", "took <*>"},
		{"took 1.5s to answer", "took <*> to answer"},
		{"connected to 10.0.0.12:5432", "connected to <*>"},
		{"peer fe80::1ff:fe23:4567:890a gone", "peer <*> gone"},
		{"request 550e8400-e29b-41d4-a716-446655440000 failed", "request <*> failed"},
		{"commit deadbeef1234 pushed", "commit <*> pushed"},
		{"word deadbeef stays", "word deadbeef stays"}, // hex letters only: a word
		{"user=42 action=login", "user=<*> action=login"},
		{`msg="user not found" code=7`, "msg=<*> code=<*>"},
		{"said 'hello there' twice", "said <*> twice"},
		{"don't stop", "don't stop"},
		{"GET /api/v1/users/123 200", "GET <*> <*>"},
		{"GET /healthz", "GET /healthz"},
		{"[2024-05-01T10:00:00Z] started", "[<*>] started"},
		{"retry (attempt 3) in 5s.", "retry (attempt <*>) in <*>."},
		{"items: 1, 2, 3", "items: <*>, <*>, <*>"},
		{`{"level":"info","msg":"started","port":8080}`, `{"level":<*>,"msg":<*>,"port":<*>}`},
		{"token eyJhbGciOiJIUzI1NiJ9abc", "token <*>"},
		{"offset -12 applied", "offset <*> applied"},
		{"  spaced\tout  ", "spaced out"},
		{"", ""},
	}
	for _, c := range cases {
		t.Run(c.line, func(t *testing.T) {
			_, got := New(Options{}).Add(c.line)
			if got != c.want {
				t.Fatalf("template %q, want %q", got, c.want)
			}
		})
	}
}

func TestClustering(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
		want  []string // templates, most lines first
	}{
		{
			name: "ids and numbers",
			lines: []string{
				"user 1234 logged in from 10.0.0.1",
				"user 98 logged in from 192.168.1.20",
				"user 7 logged in from 10.1.1.1",
			},
			want: []string{"user <*> logged in from <*>"},
		},
		{
			name: "differing words merge into a wildcard",
			lines: []string{
				"cache miss for key sessions",
				"cache miss for key users",
				"cache miss for key orders",
			},
			want: []string{"cache miss for key <*>"},
		},
		{
			name: "different messages stay apart",
			lines: []string{
				"connection refused by upstream",
				"payment declined for order 12",
				"connection refused by upstream",
				"disk almost full on /var",
			},
			want: []string{"connection refused by upstream", "payment declined for order <*>", "disk almost full on /var"},
		},
		{
			name: "same length different leading token",
			lines: []string{
				"started worker pool",
				"stopped worker pool",
			},
			want: []string{"started worker pool", "stopped worker pool"},
		},
		{
			name: "below threshold stays apart",
			lines: []string{
				"a b c d",
				"a x y z",
			},
			want: []string{"a b c d", "a x y z"},
		},
		{
			name: "key value pairs",
			lines: []string{
				"level=info msg=done user=bob",
				"level=info msg=done user=alice",
				"level=info msg=done user=carol took=12ms",
			},
			want: []string{"level=info msg=done user=<*>", "level=info msg=done user=carol took=<*>"},
		},
		{
			name: "leading id routes through the wildcard branch",
			lines: []string{
				"req42 finished ok",
				"req43 finished ok",
			},
			want: []string{"<*> finished ok"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := New(Options{})
			ids := map[string]int{}
			for _, l := range c.lines {
				id, _ := m.Add(l)
				if prev, ok := ids[l]; ok && prev != id {
					t.Fatalf("same line %q in clusters %d and %d", l, prev, id)
				}
				ids[l] = id
			}
			var got []string
			total := 0
			for _, cl := range m.Clusters() {
				got = append(got, cl.Template)
				total += cl.Count
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("templates %q, want %q", got, c.want)
			}
			if total != len(c.lines) {
				t.Fatalf("counts add up to %d, want %d", total, len(c.lines))
			}
		})
	}
}

func TestSampleAndIDs(t *testing.T) {
	m := New(Options{MaxSampleBytes: 10})
	id1, _ := m.Add("first line is here ünïcode")
	id2, _ := m.Add("second 2")
	id3, tmpl := m.Add("first line is there ünïcode")
	if id1 != 1 || id2 != 2 || id3 != 1 {
		t.Fatalf("ids %d %d %d", id1, id2, id3)
	}
	if tmpl != "first line is <*> ünïcode" {
		t.Fatalf("template %q", tmpl)
	}
	cl := m.Clusters()
	if cl[0].Sample != "first line" || cl[0].Count != 2 {
		t.Fatalf("cluster %+v", cl[0])
	}
	// A cut never splits a rune.
	m = New(Options{MaxSampleBytes: 2})
	m.Add("üx")
	if s := m.Clusters()[0].Sample; s != "ü" {
		t.Fatalf("sample %q", s)
	}
}

func TestEvictionKeepsRecentlyUsed(t *testing.T) {
	var evicted []int
	m := New(Options{MaxClusters: 3, OnEvict: func(id int) { evicted = append(evicted, id) }})
	a, _ := m.Add("alpha one")
	m.Add("beta two words")
	m.Add("gamma three words here")
	m.Add("alpha one") // alpha is now the most recently used
	d, _ := m.Add("delta four words here now")
	if m.Len() != 3 || !slices.Equal(evicted, []int{2}) {
		t.Fatalf("%d clusters, evicted %v; want 3 and [2]", m.Len(), evicted)
	}
	var tmpls []string
	for _, c := range m.Clusters() {
		tmpls = append(tmpls, c.Template)
	}
	slices.Sort(tmpls)
	if want := []string{"alpha one", "delta four words here now", "gamma three words here"}; !slices.Equal(tmpls, want) {
		t.Fatalf("after eviction %q, want %q", tmpls, want)
	}
	// Ids are not reused, and an evicted pattern comes back under a new id.
	b, _ := m.Add("beta two words")
	if b <= d || b == a {
		t.Fatalf("re-added beta got id %d (alpha %d, delta %d)", b, a, d)
	}
}

func TestMaxTokens(t *testing.T) {
	m := New(Options{MaxTokens: 4})
	_, t1 := m.Add("a b c d e f g")
	_, t2 := m.Add("a b c x y")
	if t1 != "a b c <*>" || t2 != "a b c <*>" {
		t.Fatalf("templates %q %q", t1, t2)
	}
	if m.Len() != 1 {
		t.Fatalf("%d clusters", m.Len())
	}
}

func TestMaxChildren(t *testing.T) {
	m := New(Options{MaxChildren: 2, SimThreshold: 1})
	for _, l := range []string{"aa x", "bb x", "cc x", "dd x"} {
		m.Add(l)
	}
	// cc and dd share the <*> branch but, differing, stay two clusters.
	if m.Len() != 4 {
		t.Fatalf("%d clusters", m.Len())
	}
}

func TestDeterministic(t *testing.T) {
	lines := genLines(5000, 1)
	run := func() []Cluster {
		m := New(Options{MaxClusters: 50})
		for _, l := range lines {
			m.Add(l)
		}
		return m.Clusters()
	}
	if a, b := run(), run(); !slices.Equal(a, b) {
		t.Fatal("two runs over the same lines differ")
	}
}

// The generated lines come from 8 message shapes; the miner must find
// about that many patterns, not one per distinct line.
func TestRealisticLines(t *testing.T) {
	m := New(Options{})
	for _, l := range genLines(20000, 2) {
		m.Add(l)
	}
	cl := m.Clusters()
	if len(cl) < 8 || len(cl) > 12 {
		for _, c := range cl {
			t.Logf("%6d %s", c.Count, c.Template)
		}
		t.Fatalf("%d clusters for 8 message shapes", len(cl))
	}
}

func FuzzAdd(f *testing.F) {
	for _, s := range []string{"", "a", `"`, `'a b' "c`, `x="unterminated`, "{\"k\":\"v\"}", "1.2.3.4:5", "\xff\xfe", "<*> <*>", `a\"b"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		m := New(Options{MaxClusters: 4, MaxTokens: 8})
		id, tmpl := m.Add(line)
		id2, tmpl2 := m.Add(line)
		if id != id2 {
			t.Fatalf("same line, clusters %d and %d", id, id2)
		}
		if tmpl2 != tmpl {
			t.Fatalf("same line changed the template %q -> %q", tmpl, tmpl2)
		}
		if n := len(strings.Fields(tmpl)); n > 8*2 {
			t.Fatalf("template %q too long", tmpl)
		}
		m.Add(line + " more")
		m.Add("x " + line)
		if m.Len() > 4 {
			t.Fatalf("%d clusters over the cap", m.Len())
		}
		for _, c := range m.Clusters() {
			if !utf8.ValidString(line) {
				continue
			}
			if !utf8.ValidString(c.Sample) {
				t.Fatalf("sample %q is not valid UTF-8", c.Sample)
			}
		}
	})
}

// genLines makes n log lines of 8 shapes with variable ids, numbers,
// addresses and durations.
func genLines(n int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 99))
	paths := []string{"/api/v1/orders", "/api/v1/users", "/login", "/healthz"}
	out := make([]string, n)
	for i := range out {
		switch rng.IntN(8) {
		case 0:
			out[i] = fmt.Sprintf("GET %s/%d completed in %dms status=%d", paths[rng.IntN(len(paths))], rng.IntN(1e5), rng.IntN(900), []int{200, 404, 500}[rng.IntN(3)])
		case 1:
			out[i] = fmt.Sprintf("user %d logged in from 10.0.%d.%d", rng.IntN(5e4), rng.IntN(256), rng.IntN(256))
		case 2:
			out[i] = fmt.Sprintf("payment %x declined: insufficient funds", rng.Uint64())
		case 3:
			out[i] = fmt.Sprintf("connection to db-%d.internal:5432 refused, retrying in %ds", rng.IntN(4), rng.IntN(30))
		case 4:
			out[i] = fmt.Sprintf("worker %d processed job %d in %s", rng.IntN(16), i, time.Duration(rng.IntN(5e9)))
		case 5:
			out[i] = fmt.Sprintf("cache miss for key session:%x", rng.Uint64())
		case 6:
			out[i] = fmt.Sprintf(`level=warn msg="slow query" duration=%dms table=orders rows=%d`, rng.IntN(3000), rng.IntN(1e6))
		default:
			out[i] = fmt.Sprintf(`{"level":"error","msg":"upstream timeout","upstream":"10.1.2.%d:8080","elapsed_ms":%d}`, rng.IntN(256), rng.IntN(10000))
		}
	}
	return out
}

func BenchmarkAdd(b *testing.B) {
	lines := genLines(100_000, 3)
	m := New(Options{})
	i := 0
	var bytes int64
	for b.Loop() {
		l := lines[i%len(lines)]
		bytes += int64(len(l))
		m.Add(l)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	b.SetBytes(bytes / int64(b.N))
}
