// Package logpattern groups log lines into patterns ("templates") with an
// online Drain-style clusterer (He et al., "Drain: An Online Log Parsing
// Approach with Fixed Depth Tree", ICWS 2017).
//
// A line is tokenised on whitespace and on the punctuation that glues keys
// to values (= : , ; brackets); obvious variables (numbers, durations, hex
// ids, UUIDs, IP addresses, quoted strings, paths with digits, long mixed
// identifiers) are masked as <*> first. The line is then routed through a
// fixed-depth prefix tree by its token count and leading tokens, and joins
// the most similar cluster of that leaf when at least Options.SimThreshold
// of its tokens equal the cluster's template; positions where they differ
// become <*>. Otherwise it starts a new cluster. The number of clusters is
// capped: beyond Options.MaxClusters the least recently used one is
// forgotten, so memory stays bounded on unbounded input.
//
// A Miner is deterministic (same lines in the same order, same clusters and
// ids) and keeps no global state. It is not safe for concurrent use.
package logpattern

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// Wildcard stands for a variable part of a template.
const Wildcard = "<*>"

// Options tunes a Miner; zero values take the defaults.
type Options struct {
	// Depth of the prefix tree counting the root and the leaf level, as in
	// the paper: Depth-2 leading tokens route a line. Default 4, min 3.
	Depth int
	// SimThreshold is the share of a template's positions a line must
	// match to join it. Default 0.5; must be in (0, 1].
	SimThreshold float64
	// MaxChildren caps the children of one tree node; further tokens
	// share a <*> child. Default 100.
	MaxChildren int
	// MaxClusters caps live clusters; the least recently used is evicted
	// beyond it. Default 1000.
	MaxClusters int
	// MaxTokens caps the tokens of a line; the rest becomes one trailing
	// <*>. Default 64, min 2.
	MaxTokens int
	// MaxLineBytes: only this much of a line is looked at. Default 8192.
	MaxLineBytes int
	// MaxSampleBytes caps a cluster's sample line. Default 1024.
	MaxSampleBytes int
	// OnEvict, when set, is called with the id of each evicted cluster, so
	// callers keeping data per cluster can drop it and stay bounded too.
	OnEvict func(clusterID int)
}

func (o Options) withDefaults() Options {
	if o.Depth < 3 {
		o.Depth = 4
	}
	if o.SimThreshold <= 0 || o.SimThreshold > 1 {
		o.SimThreshold = 0.5
	}
	if o.MaxChildren <= 0 {
		o.MaxChildren = 100
	}
	if o.MaxClusters <= 0 {
		o.MaxClusters = 1000
	}
	if o.MaxTokens < 2 {
		o.MaxTokens = 64
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = 8192
	}
	if o.MaxSampleBytes <= 0 {
		o.MaxSampleBytes = 1024
	}
	return o
}

// Cluster is one pattern: its template, how many lines joined it and the
// first of them.
type Cluster struct {
	ID       int
	Template string
	Count    int
	Sample   string
}

type token struct {
	s  string
	sp bool // preceded by whitespace; keeps "a=b" from rendering as "a = b"
}

type cluster struct {
	id     int
	toks   []string
	sp     []bool
	count  int
	sample string
	tmpl   string
	leaf   *node
	// LRU list, most recently used at Miner.head.
	prev, next *cluster
}

type node struct {
	children map[string]*node
	clusters []*cluster
}

// Miner clusters lines. Create it with New.
type Miner struct {
	opts       Options
	byLen      map[int]*node
	byID       map[int]*cluster
	head, tail *cluster
	nextID     int
	scratch    []token
}

// New returns an empty Miner.
func New(opts Options) *Miner {
	return &Miner{opts: opts.withDefaults(), byLen: map[int]*node{}, byID: map[int]*cluster{}, nextID: 1}
}

// Add files line under a cluster and returns the cluster's id and current
// template. Ids start at 1 and are never reused, also after eviction.
func (m *Miner) Add(line string) (clusterID int, template string) {
	toks := m.tokenize(line)
	leaf := m.route(toks)
	if c := m.match(leaf, toks); c != nil {
		c.count++
		if m.merge(c, toks) {
			c.tmpl = render(c.toks, c.sp)
		}
		m.touch(c)
		return c.id, c.tmpl
	}
	if len(m.byID) >= m.opts.MaxClusters {
		m.evict(m.tail)
	}
	c := &cluster{id: m.nextID, count: 1, leaf: leaf, sample: clip(line, m.opts.MaxSampleBytes)}
	m.nextID++
	c.toks = make([]string, len(toks))
	c.sp = make([]bool, len(toks))
	for i, t := range toks {
		// Tokens are substrings of the caller's line; do not keep it alive.
		c.toks[i], c.sp[i] = strings.Clone(t.s), t.sp
	}
	c.tmpl = render(c.toks, c.sp)
	leaf.clusters = append(leaf.clusters, c)
	m.byID[c.id] = c
	m.touch(c)
	return c.id, c.tmpl
}

// Clusters returns the live clusters, most lines first (ties by id).
func (m *Miner) Clusters() []Cluster {
	out := make([]Cluster, 0, len(m.byID))
	for c := m.head; c != nil; c = c.next {
		out = append(out, Cluster{ID: c.id, Template: c.tmpl, Count: c.count, Sample: c.sample})
	}
	slices.SortFunc(out, func(a, b Cluster) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return a.ID - b.ID
	})
	return out
}

// Len is the number of live clusters.
func (m *Miner) Len() int { return len(m.byID) }

// route finds (creating) the leaf for toks: first by token count, then by
// up to Depth-2 leading tokens. Tokens with digits take the <*> branch, as
// in Drain, since they are likely variables the masking did not catch.
func (m *Miner) route(toks []token) *node {
	cur := m.byLen[len(toks)]
	if cur == nil {
		cur = &node{}
		m.byLen[len(toks)] = cur
	}
	for d := 0; d < m.opts.Depth-2 && d < len(toks); d++ {
		key := toks[d].s
		if hasDigit(key) {
			key = Wildcard
		}
		next := cur.children[key]
		if next == nil {
			if cur.children == nil {
				cur.children = map[string]*node{}
			}
			if key != Wildcard && len(cur.children) >= m.opts.MaxChildren {
				key = Wildcard
				next = cur.children[key]
			}
			if next == nil {
				next = &node{}
				cur.children[strings.Clone(key)] = next
			}
		}
		cur = next
	}
	return cur
}

// match returns the leaf's most similar cluster at or above the threshold:
// similarity is the share of positions where template and line tokens are
// equal; ties go to the template with more <*> (the more general one),
// then to the older cluster.
func (m *Miner) match(leaf *node, toks []token) *cluster {
	var best *cluster
	bestSim, bestParams := -1.0, -1
	for _, c := range leaf.clusters {
		eq, params := 0, 0
		for i, t := range c.toks {
			switch {
			case t == toks[i].s:
				eq++
			case t == Wildcard:
				params++
			}
		}
		sim := 1.0
		if len(toks) > 0 {
			sim = float64(eq) / float64(len(toks))
		}
		if sim > bestSim || (sim == bestSim && params > bestParams) {
			best, bestSim, bestParams = c, sim, params
		}
	}
	if best == nil || bestSim < m.opts.SimThreshold {
		return nil
	}
	return best
}

// merge turns the template's positions that differ from toks into <*> and
// reports whether it changed.
func (m *Miner) merge(c *cluster, toks []token) bool {
	changed := false
	for i, t := range c.toks {
		if t != Wildcard && t != toks[i].s {
			c.toks[i] = Wildcard
			changed = true
		}
	}
	return changed
}

func (m *Miner) touch(c *cluster) {
	if m.head == c {
		return
	}
	m.unlink(c)
	c.next = m.head
	if m.head != nil {
		m.head.prev = c
	}
	m.head = c
	if m.tail == nil {
		m.tail = c
	}
}

func (m *Miner) unlink(c *cluster) {
	if c.prev != nil {
		c.prev.next = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	}
	if m.head == c {
		m.head = c.next
	}
	if m.tail == c {
		m.tail = c.prev
	}
	c.prev, c.next = nil, nil
}

func (m *Miner) evict(c *cluster) {
	if c == nil {
		return
	}
	m.unlink(c)
	delete(m.byID, c.id)
	if i := slices.Index(c.leaf.clusters, c); i >= 0 {
		c.leaf.clusters = slices.Delete(c.leaf.clusters, i, i+1)
	}
	if m.opts.OnEvict != nil {
		m.opts.OnEvict(c.id)
	}
}

func render(toks []string, sp []bool) string {
	n := 0
	for _, t := range toks {
		n += len(t) + 1
	}
	var b strings.Builder
	b.Grow(n)
	for i, t := range toks {
		if i > 0 && sp[i] {
			b.WriteByte(' ')
		}
		b.WriteString(t)
	}
	return b.String()
}

// clip returns a copy of s cut to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return strings.Clone(s)
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.Clone(s[:n])
}
