package logtail

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	// readChunk is how much is read from a file at once.
	readChunk = 256 << 10
	// readBudget bounds what one file may read in one poll, so a file with
	// a large backlog does not hold up the others.
	readBudget = 8 << 20
	// rotatedIdle is how long a file that left its path (renamed or
	// deleted) is kept open after it stopped growing: a writer may still be
	// writing to it until it reopens its log (nginx until USR1).
	rotatedIdle = 5 * time.Second
	// siblingScans bounds the attempts to list a directory while it changes.
	siblingScans = 10
	// mtimeSlack allows for file times coming from the kernel's coarse
	// clock, which lags the wall clock by up to a tick.
	mtimeSlack = 20 * time.Millisecond
)

// group is one path a source's globs matched, with the files that were at
// that path and are still being read, oldest first: the file at the path
// now is last; before it come files rotated away (renamed, or the copies
// of a file truncated in place) whose end has not been read yet. Files of
// a group are read strictly in order, so the lines of a log arrive in the
// order they were written across rotations.
type group struct {
	path       string
	dir, base  string
	src        *source
	files      []*tracker
	startAtEnd bool // the first file found starts at its end (start_at: end, first start)
}

func newGroup(path string, src *source) *group {
	return &group{path: path, dir: filepath.Dir(path), base: filepath.Base(path), src: src}
}

func (g *group) head() *tracker {
	if len(g.files) == 0 {
		return nil
	}
	return g.files[len(g.files)-1]
}

// tracker is one file being read. Offsets are byte offsets in the file:
//
//	committed ≤ safe ≤ done ≤ pos
//
// done ends the last complete line handed on (pos-done bytes of a line in
// progress wait in carry); safe is done, or the start of the multi-line
// record in progress; committed is what safe was at the last emit, and is
// what the positions file holds.
type tracker struct {
	key       fileKey
	id        string
	path      string
	g         *group
	f         *os.File // nil once closed, or when the file could not be found
	pos       int64
	done      int64
	committed int64
	carry     []byte
	inLong    bool // the line at done is the rest of one split for length
	fp        []byte
	rotated   bool // no longer at the group's path
	closed    bool // rotated and read to its end
	suspect   bool // the content may have changed under the offset: check before reading
	atEOF     bool
	lastSize  int64
	lastMod   time.Time
	lastData  time.Time // when data was last read
	// freshSince is set while nothing of the file was read since it was
	// found empty or truncated: copies made after it are newer content.
	freshSince time.Time
	ml         *joiner
	out        emitFunc
}

func (t *tracker) safe() int64 {
	if t.ml != nil && t.ml.active {
		return t.ml.start
	}
	return t.done
}

// sibling is a file next to a group's path whose name is the path's plus
// a rotation suffix (access.log.1, app.log-20261124).
type sibling struct {
	name, path string
	key        fileKey
	size       int64
	mod        time.Time
}

// isRotationSuffix accepts the suffixes logrotate and friends give:
// .1, -1, _1, -20261124, .2026-11-24 (compressed ones are left out
// elsewhere).
func isRotationSuffix(s string) bool {
	if len(s) < 2 || !strings.ContainsRune(".-_", rune(s[0])) || s[1] < '0' || s[1] > '9' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// rotatedOlder orders two rotated siblings of base: numbered ones by
// number (higher is older, as logrotate shifts them), dated ones by name,
// others by modification time.
func rotatedOlder(base string, a, b sibling) bool {
	sa, sb := a.name[len(base):], b.name[len(base):]
	na, okA := rotationNumber(sa)
	nb, okB := rotationNumber(sb)
	switch {
	case okA && okB && na != nb:
		return na > nb
	case !okA && !okB && sa != sb:
		return sa < sb
	case !a.mod.Equal(b.mod):
		return a.mod.Before(b.mod)
	}
	return a.name < b.name
}

func rotationNumber(suffix string) (int, bool) {
	if len(suffix) < 2 || len(suffix) > 7 {
		return 0, false
	}
	n, err := strconv.Atoi(suffix[1:])
	return n, err == nil
}

// listSiblings lists the rotated siblings of g's path. Rotation renames
// files while the directory is listed, so a listing counts only when two
// in a row agree (and no name vanished between listing and stat).
func (m *Module) listSiblings(g *group) []sibling {
	var prev []sibling
	for range siblingScans {
		cur, ok := scanSiblings(g)
		if !ok {
			prev = nil
			continue
		}
		if prev != nil && slices.EqualFunc(prev, cur, func(a, b sibling) bool {
			return a.name == b.name && a.key == b.key && a.size == b.size && a.mod.Equal(b.mod)
		}) {
			return cur
		}
		prev = cur
	}
	if prev == nil {
		m.logger.Warn("directory kept changing while listing rotated files", "path", g.path)
	}
	return prev
}

func scanSiblings(g *group) ([]sibling, bool) {
	out := []sibling{}
	entries, err := os.ReadDir(g.dir)
	if err != nil {
		return out, true
	}
	seen := map[fileKey]bool{}
	for _, e := range entries {
		name := e.Name()
		if name == g.base || !strings.HasPrefix(name, g.base) || isCompressed(name) || !isRotationSuffix(name[len(g.base):]) {
			continue
		}
		p := filepath.Join(g.dir, name)
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false
		}
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		k := fileKeyOf(fi)
		if seen[k] {
			return nil, false
		}
		seen[k] = true
		out = append(out, sibling{name: name, path: p, key: k, size: fi.Size(), mod: fi.ModTime()})
	}
	return out, true
}

// openAs opens path if it is still the file key names.
func openAs(path string, key fileKey) (*os.File, os.FileInfo) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil
	}
	fi, err := f.Stat()
	if err != nil || fileKeyOf(fi) != key || !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil
	}
	return f, fi
}

// addTracker starts reading the file key at path from off, as the newest
// file of g; nil when the file is no longer there.
func (m *Module) addTracker(g *group, key fileKey, path string, off int64, rotated bool) *tracker {
	f, fi := openAs(path, key)
	if f == nil {
		return nil
	}
	t := m.newTracker(g, key, path)
	t.f = f
	t.rotated = rotated
	t.lastSize, t.lastMod = fi.Size(), fi.ModTime()
	if off == 0 && fi.Size() == 0 {
		t.freshSince = m.now
	}
	if off > 0 {
		t.pos, t.done, t.committed = off, off, off
		t.fp = readPrefix(f, min(off, fingerprintLen))
	}
	g.files = append(g.files, t)
	m.byKey[key] = t
	m.dirty = true
	m.logger.Debug("reading file", "path", path, "file_id", t.id, "offset", off)
	return t
}

func (m *Module) newTracker(g *group, key fileKey, path string) *tracker {
	t := &tracker{key: key, id: key.String(), path: path, g: g}
	if g.src.ml != nil {
		t.ml = &joiner{spec: g.src.ml}
	}
	t.out = func(body []byte, off int64, truncated bool) { m.addRecord(t, body, off, truncated) }
	return t
}

// readPrefix reads up to n bytes from the start of f.
func readPrefix(f *os.File, n int64) []byte {
	b := make([]byte, n)
	k, _ := f.ReadAt(b, 0)
	return b[:k]
}

// fpMatches reports whether f still starts with fp.
func (m *Module) fpMatches(f *os.File, fp []byte) bool {
	if len(fp) == 0 {
		return true
	}
	b := m.fpBuf[:len(fp)]
	n, _ := f.ReadAt(b, 0)
	return n == len(fp) && bytes.Equal(b, fp)
}

// startOfLastLine is where reading a file from its end begins: after the
// last newline, so a line being written now is read whole.
func startOfLastLine(f *os.File, size int64, enc *textEncoding) int64 {
	from := max(0, size-MaxLineBytes)
	if enc.unit == 2 {
		from &^= 1
	}
	buf := make([]byte, size-from)
	n, _ := f.ReadAt(buf, from)
	buf = buf[:n]
	last := int64(-1)
	for i := 0; ; {
		_, next := enc.lineEnd(buf[i:])
		if next < 0 {
			break
		}
		i += next
		last = int64(i)
	}
	switch {
	case last >= 0:
		return from + last
	case from == 0:
		return 0
	}
	// A line longer than the limit is being written: skip it.
	return size &^ int64(enc.unit-1)
}

// reconcile compares a group's newest file with what is at its path now:
// the same file (maybe truncated in place), a new file (the old one was
// rotated away, or deleted), or nothing.
func (m *Module) reconcile(g *group) {
	head := g.head()
	fi, err := os.Stat(g.path)
	if err != nil || !fi.Mode().IsRegular() {
		if head != nil && !head.rotated {
			head.rotated = true
			m.dirty = true
		}
		return
	}
	key := fileKeyOf(fi)
	if head != nil && head.key == key {
		if head.rotated {
			// Moved back to its path (and maybe closed meanwhile).
			head.rotated, head.path, m.dirty = false, g.path, true
			if head.f == nil {
				if head.f, _ = openAs(g.path, key); head.f != nil {
					head.closed = false
				}
			}
		}
		if head.f != nil {
			m.checkTruncate(g, head, fi)
		}
		return
	}
	if m.byKey[key] != nil {
		return // read as part of another path's rotation
	}
	if head != nil {
		head.rotated = true
		m.stats.rotations.Add(1)
		m.followRotation(g, head)
	}
	var off int64
	if g.startAtEnd && head == nil {
		if f, _ := openAs(g.path, key); f != nil {
			off = startOfLastLine(f, fi.Size(), g.src.enc)
			f.Close()
		}
	}
	if m.addTracker(g, key, g.path, off, false) != nil {
		g.startAtEnd = false
	}
}

// followRotation finds, after the file at g's path was replaced, the files
// rotated since prev (the newest file read): more than one rotation may
// have happened since the last look, or while the agent was stopped. They
// are the siblings not being read yet that are newer than prev, and are
// read from their start, oldest first, before the new file.
func (m *Module) followRotation(g *group, prev *tracker) {
	sibs := m.listSiblings(g)
	var prevSib *sibling
	for i := range sibs {
		if t := m.byKey[sibs[i].key]; t != nil && t.g == g {
			if t.path != sibs[i].path {
				t.path = sibs[i].path
				m.dirty = true
			}
			if t == prev {
				prevSib = &sibs[i]
			}
		}
	}
	var newer []sibling
	for _, s := range sibs {
		if m.byKey[s.key] != nil {
			continue
		}
		if prevSib != nil && rotatedOlder(g.base, *prevSib, s) ||
			// prev is gone (deleted, or not named like a rotated file):
			// what changed since prev was last seen is newer.
			prevSib == nil && !s.mod.Before(prev.lastMod) {
			newer = append(newer, s)
		}
	}
	m.addRotated(g, newer)
}

// addRotated starts reading rotated files from their start, oldest
// first, and says how many it could open.
func (m *Module) addRotated(g *group, files []sibling) int {
	slices.SortFunc(files, func(a, b sibling) int {
		switch {
		case rotatedOlder(g.base, a, b):
			return -1
		case rotatedOlder(g.base, b, a):
			return 1
		}
		return 0
	})
	n := 0
	for _, s := range files {
		if m.addTracker(g, s.key, m.locate(g, s.key, s.path), 0, true) != nil {
			m.logger.Info("reading rotated file", "path", s.path, "group", g.path)
			n++
		} else {
			m.logger.Warn("rotated file cannot be read: its lines are lost", "path", s.path, "group", g.path)
		}
	}
	return n
}

// checkTruncate looks for a file truncated in place (copytruncate): its
// size fell below the read offset, or its first bytes changed because it
// was truncated and written past the offset before this look.
func (m *Module) checkTruncate(g *group, t *tracker, fi os.FileInfo) {
	size, mod := fi.Size(), fi.ModTime()
	if !t.suspect && size == t.lastSize && mod.Equal(t.lastMod) {
		return
	}
	t.lastSize, t.lastMod = size, mod
	t.suspect = false
	if size >= t.pos && m.fpMatches(t.f, t.fp) {
		return
	}
	m.handleTruncate(g, t)
}

// handleTruncate continues after t's file was truncated in place. The
// lines not read yet went into the copy the rotation made (found by the
// fingerprint of the old content): t switches to the copy at the same
// offset, copies made by later rotations follow from their start, and the
// file itself is read again from 0. Lines written between the copy and
// the truncation are in neither and are lost: copytruncate cannot avoid
// that.
func (m *Module) handleTruncate(g *group, t *tracker) {
	m.stats.truncations.Add(1)
	var anchor *sibling
	var sibs []sibling
	if len(t.fp) > 0 {
		sibs = m.listSiblings(g)
		// A copy older than a rotated file already read is a stale one
		// that merely starts alike (a banner, a header).
		newest := m.newestKnown(g, sibs)
		for i, s := range sibs {
			if m.byKey[s.key] != nil || s.size < int64(len(t.fp)) || newest != nil && !rotatedOlder(g.base, *newest, s) {
				continue
			}
			if anchor != nil && !rotatedOlder(g.base, *anchor, s) {
				continue
			}
			if f, _ := openAs(s.path, s.key); f != nil {
				if m.fpMatches(f, t.fp) {
					anchor = &sibs[i]
				}
				f.Close()
			}
		}
	}
	liveKey, liveFile := t.key, t.f
	var copyFile *os.File
	if anchor != nil {
		anchor.path = m.locate(g, anchor.key, anchor.path)
		anchor.name = filepath.Base(anchor.path)
		copyFile, _ = openAs(anchor.path, anchor.key)
	}
	if copyFile == nil {
		m.logger.Warn("file truncated in place and no copy of its old content found: lines not read yet are lost",
			"path", g.path, "offset", t.done)
		if len(t.carry) > 0 {
			m.ensureRoom(recordsFor(t, len(t.carry)))
			m.processPiece(t, t.carry, t.done, true)
		}
		m.ensureRoom(1)
		if t.ml != nil {
			t.ml.flush(t.out)
		}
		t.pos, t.done, t.carry, t.inLong, t.fp = 0, 0, t.carry[:0], false, nil
		t.lastSize = -1
		t.freshSince = m.now
		m.dirty = true
		return
	}
	m.logger.Info("file truncated in place; reading the rest of its old content from the copy",
		"path", g.path, "copy", anchor.path, "offset", t.done)
	// t now reads the copy: same offsets, same record in progress.
	t.key, t.id, t.path, t.f, t.rotated = anchor.key, anchor.key.String(), anchor.path, copyFile, true
	t.pos, t.carry = t.done, t.carry[:0]
	t.lastSize, t.lastMod, t.atEOF = anchor.size, anchor.mod, false
	delete(m.byKey, liveKey)
	m.byKey[anchor.key] = t
	var newer []sibling
	for _, s := range sibs {
		if m.byKey[s.key] == nil && rotatedOlder(g.base, *anchor, s) {
			newer = append(newer, s)
		}
	}
	m.addRotated(g, newer)
	nt := m.newTracker(g, liveKey, g.path)
	nt.f = liveFile
	nt.lastSize = -1
	nt.freshSince = m.now
	g.files = append(g.files, nt)
	m.byKey[liveKey] = nt
	m.dirty = true
}

// locate is where the rotated file key is now: at path, or renamed since
// by a later rotation (found by listing the siblings again).
func (m *Module) locate(g *group, key fileKey, path string) string {
	for range 3 {
		if f, _ := openAs(path, key); f != nil {
			f.Close()
			return path
		}
		found := false
		for _, s := range m.listSiblings(g) {
			if s.key == key {
				path, found = s.path, true
				break
			}
		}
		if !found {
			break
		}
	}
	return path
}

// newestKnown is the newest of sibs that is one of g's files (being read,
// or the closed one kept for this purpose), or nil.
func (m *Module) newestKnown(g *group, sibs []sibling) *sibling {
	var newest *sibling
	for i, s := range sibs {
		if k := m.byKey[s.key]; k != nil && k.g == g && (newest == nil || rotatedOlder(g.base, *newest, s)) {
			newest = &sibs[i]
		}
	}
	return newest
}

// queueMissedCopies guards the first read of a file that was empty or
// just truncated: if it was filled and truncated in place (copytruncate)
// again before this read, the copies made meanwhile hold lines never
// read, older than what the read got (head). They are queued before the
// file, which is read again after them. A copy of head itself is not
// missed: the file rotated after the read, and the copy is where its rest
// will be found.
func (m *Module) queueMissedCopies(t *tracker, head []byte) bool {
	g := t.g
	sibs := m.listSiblings(g)
	if slices.ContainsFunc(sibs, func(s sibling) bool { return s.key == t.key }) {
		// Renamed away (rotation by rename): the files after it are newer,
		// and followRotation takes them in turn.
		return false
	}
	newest := m.newestKnown(g, sibs)
	var missed []sibling
	for _, s := range sibs {
		if m.byKey[s.key] != nil || s.size == 0 {
			continue
		}
		if newest != nil && !rotatedOlder(g.base, *newest, s) ||
			newest == nil && s.mod.Before(t.freshSince.Add(-mtimeSlack)) {
			continue
		}
		if f, _ := openAs(s.path, s.key); f != nil {
			p := readPrefix(f, int64(min(len(head), fingerprintLen)))
			f.Close()
			if len(p) > 0 && bytes.Equal(p, head[:len(p)]) {
				continue
			}
		}
		missed = append(missed, s)
	}
	if len(missed) == 0 {
		return false
	}
	m.stats.truncations.Add(1)
	m.logger.Info("file was truncated in place again before it was read; reading the copies first", "path", g.path, "copies", len(missed))
	i := slices.Index(g.files, t)
	g.files = slices.Delete(g.files, i, i+1)
	added := m.addRotated(g, missed)
	g.files = append(g.files, t)
	return added > 0 // else there is nothing to read first
}

// readGroup reads g's files in order; a rotated file must be read to its
// end before the next one is started. busy reports that reading stopped
// at the budget, not at the end.
func (m *Module) readGroup(ctx context.Context, g *group) (busy bool) {
	for _, t := range g.files {
		if t.f == nil {
			continue
		}
		if !m.readFile(ctx, t) {
			return true
		}
		if !t.rotated {
			break
		}
	}
	return false
}

// readFile reads t until the end of the file (true) or the budget or ctx
// stops it (false).
func (m *Module) readFile(ctx context.Context, t *tracker) bool {
	enc := t.g.src.enc
	for budget := readBudget; budget > 0; {
		if ctx.Err() != nil {
			return false
		}
		buf := m.buf[:cap(m.buf)]
		nc := copy(buf, t.carry)
		n, err := t.f.ReadAt(buf[nc:nc+readChunk], t.pos)
		if n == 0 {
			if err != nil && err != io.EOF {
				m.logger.Warn("read log file", "path", t.path, "err", err)
			}
			t.atEOF = true
			return true
		}
		if !t.rotated && len(t.fp) > 0 && !m.fpMatches(t.f, t.fp) {
			// Truncated while being read: what was read may be the new
			// content at the old offset. Leave it to the next look.
			t.suspect = true
			t.atEOF = true
			return true
		}
		if t.pos == 0 && len(t.fp) == 0 && !t.freshSince.IsZero() && !t.rotated {
			if m.queueMissedCopies(t, buf[nc:nc+n]) {
				t.atEOF = true
				return true
			}
			t.freshSince = time.Time{}
		}
		t.atEOF = false
		m.now = time.Now()
		t.lastData = m.now
		t.pos += int64(n)
		budget -= n
		m.stats.bytes.Add(uint64(n))
		data := buf[:nc+n]
		base := t.done
		if l := int64(len(t.fp)); l < fingerprintLen && t.pos > l {
			t.fp = append(t.fp, data[l-base:min(t.pos, fingerprintLen)-base]...)
		}
		i := 0
		for {
			end, next := enc.lineEnd(data[i:])
			if end < 0 {
				break
			}
			raw := data[i : i+end]
			off := base + int64(i)
			i += next
			m.ensureRoom(recordsFor(t, len(raw)))
			t.done = base + int64(i)
			trunc := t.inLong
			t.inLong = false
			m.processLine(t, raw, off, trunc)
		}
		rest := data[i:]
		// A line still open at the length limit is cut now: its pieces
		// are marked truncated.
		for len(rest) >= MaxLineBytes {
			c := enc.cut(rest, MaxLineBytes)
			m.ensureRoom(recordsFor(t, c))
			off := t.done
			t.done += int64(c)
			t.inLong = true
			m.processPiece(t, rest[:c], off, true)
			rest = rest[c:]
		}
		t.carry = append(t.carry[:0], rest...)
		if n < readChunk {
			t.atEOF = true
			return true
		}
	}
	return false
}

// recordsFor is the most records a raw line of n bytes can add to the
// batch: its pieces, and the record in progress it may end.
func recordsFor(t *tracker, n int) int {
	k := 1
	if n > 0 {
		k = (n + MaxLineBytes - 1) / MaxLineBytes
	}
	if t.ml != nil {
		k++
	}
	return k
}

// processLine hands on a complete line, split when over the length limit.
func (m *Module) processLine(t *tracker, raw []byte, off int64, truncated bool) {
	for len(raw) > MaxLineBytes {
		c := t.g.src.enc.cut(raw, MaxLineBytes)
		m.processPiece(t, raw[:c], off, true)
		raw, off = raw[c:], off+int64(c)
		truncated = true
	}
	m.processPiece(t, raw, off, truncated)
}

func (m *Module) processPiece(t *tracker, raw []byte, off int64, truncated bool) {
	m.stats.lines.Add(1)
	if truncated {
		m.stats.truncatedLines.Add(1)
	}
	text := t.g.src.dec.decode(raw, off == 0)
	if t.ml != nil {
		t.ml.add(text, off, m.now, truncated, t.out)
		return
	}
	m.addRecord(t, text, off, truncated)
}

// closeIdle closes rotated files read to their end that stopped growing.
// A closed file is forgotten once a newer rotated file of its group is
// known: the newest one stays (closed, without a descriptor) because it
// is what tells rotated files not read yet from those already read.
func (m *Module) closeIdle(g *group) {
	for i := 0; i < len(g.files); i++ {
		t := g.files[i]
		if t.rotated && t.f != nil && t.atEOF && m.now.Sub(t.lastData) >= rotatedIdle {
			m.closeRotated(t)
		}
		if t.f == nil && t.rotated && t != g.head() && slices.ContainsFunc(g.files[i+1:], func(n *tracker) bool { return n.rotated }) {
			delete(m.byKey, t.key)
			g.files = slices.Delete(g.files, i, i+1)
			i--
			m.dirty = true
		}
	}
}

func (m *Module) closeRotated(t *tracker) {
	// Whatever is left is complete now: the writer moved on.
	if len(t.carry) > 0 {
		m.ensureRoom(recordsFor(t, len(t.carry)))
		off := t.done
		t.done = t.pos
		m.processPiece(t, t.carry, off, false)
		t.carry = t.carry[:0]
	}
	if t.ml != nil && t.ml.active {
		m.ensureRoom(1)
		t.ml.flush(t.out)
	}
	t.f.Close()
	t.f = nil
	t.closed = true
	m.dirty = true
	m.logger.Debug("closed rotated file", "path", t.path, "group", t.g.path)
}

// flushExpired ends multi-line records whose last line is older than the
// timeout.
func (m *Module) flushExpired() {
	for _, g := range m.groups {
		for _, t := range g.files {
			if t.ml != nil && t.ml.expired(m.now) {
				m.ensureRoom(1)
				t.ml.flush(t.out)
			}
		}
	}
}
