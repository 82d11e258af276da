// Package stacks samples the stacks of goroutines that run transactions.
// Handler and Do label a transaction's goroutine with its span id (a pprof
// label); the goroutine profile carries labels, so one profile tells what
// every running transaction is doing without stopping it for longer than
// the runtime's own goroutine profile does.
package stacks

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/google/pprof/profile"
)

// Label is the pprof label key whose value is the hex span id of the
// transaction (or step) a goroutine works for.
const Label = "osprey.span"

// maxFrames bounds one stack text; deeper frames add little and a
// runaway recursion would make every snapshot large.
const maxFrames = 64

// Stack is a sampled stack: its text, formatted like a Go panic trace
// ("function\n\tfile:line" per frame, innermost first), and the text's
// hash in 16 hex digits.
type Stack struct {
	Hash string
	Text string
}

// Sampler takes goroutine profiles. It reuses its buffer and keeps the
// text of stacks it has formatted before, so a steady state allocates
// little; it is not safe for concurrent use.
type Sampler struct {
	buf bytes.Buffer
	// known maps a stack's location ids key to its formatted Stack. The
	// ids are only stable within one profile, so the key is built from
	// addresses and function lines instead.
	known map[string]Stack
}

// maxKnown bounds the formatted-stack cache; it is cleared when full.
const maxKnown = 4096

// Sample returns, for each label value that want accepts, the stack of a
// goroutine carrying it. When several goroutines carry the same value the
// deepest stack wins: it is the one doing the work (the others are usually
// waiting for it).
func (s *Sampler) Sample(want func(label string) bool) (map[string]Stack, error) {
	s.buf.Reset()
	p := pprof.Lookup("goroutine")
	if p == nil {
		return nil, fmt.Errorf("no goroutine profile")
	}
	if err := p.WriteTo(&s.buf, 0); err != nil {
		return nil, fmt.Errorf("write goroutine profile: %w", err)
	}
	prof, err := profile.Parse(&s.buf)
	if err != nil {
		return nil, fmt.Errorf("parse goroutine profile: %w", err)
	}
	if s.known == nil || len(s.known) > maxKnown {
		s.known = make(map[string]Stack)
	}
	out := make(map[string]Stack)
	depth := make(map[string]int)
	var key strings.Builder
	for _, smp := range prof.Sample {
		vals := smp.Label[Label]
		if len(vals) == 0 || !want(vals[0]) {
			continue
		}
		label := vals[0]
		if d, ok := depth[label]; ok && d >= len(smp.Location) {
			continue
		}
		key.Reset()
		for _, loc := range smp.Location {
			key.WriteString(strconv.FormatUint(loc.Address, 16))
			key.WriteByte(',')
		}
		k := key.String()
		st, ok := s.known[k]
		if !ok {
			st = format(smp.Location)
			s.known[k] = st
		}
		out[label] = st
		depth[label] = len(smp.Location)
	}
	return out, nil
}

// format turns a sample's locations into text and hash. Inlined calls
// appear as their own frames, as in a panic trace.
func format(locs []*profile.Location) Stack {
	var b strings.Builder
	frames := 0
outer:
	for _, loc := range locs {
		for _, ln := range loc.Line {
			if frames == maxFrames {
				b.WriteString("...additional frames elided...\n")
				break outer
			}
			name, file := "?", "?"
			if ln.Function != nil {
				name, file = ln.Function.Name, ln.Function.Filename
			}
			b.WriteString(name)
			b.WriteString("\n\t")
			b.WriteString(file)
			b.WriteByte(':')
			b.WriteString(strconv.FormatInt(ln.Line, 10))
			b.WriteByte('\n')
			frames++
		}
	}
	text := strings.TrimSuffix(b.String(), "\n")
	return Stack{Hash: Hash(text), Text: text}
}

// Hash is the 16-hex-digit FNV-1a hash of a stack text. It is the same in
// every process, so the server's dictionary shares equal stacks.
func Hash(text string) string {
	h := fnv.New64a()
	h.Write([]byte(text))
	return fmt.Sprintf("%016x", h.Sum64())
}
