// Package logtail is the agent's log module: it tails files by glob,
// follows them through rotation, joins multi-line records, decodes legacy
// encodings, parses lines into fields (JSON, regexp, GROK, and presets for
// nginx, Apache, syslog and Java logs) and hands OpenTelemetry log records
// to the agent, which spools them to disk before they are sent.
//
//	modules:
//	  logs:
//	    enabled: true
//	    sources:
//	      - paths: [/var/log/nginx/access.log]
//	        category: nginx-access
//	        parsers: [{type: nginx}]
//	      - paths: [/srv/shop/logs/**/*.log]
//	        exclude: ["*.debug.log"]
//	        category: shop
//	        multiline: {start: '^\d{4}-\d{2}-\d{2} '}
//	        parsers: [{type: json}, {type: java}]
//	      - paths: [/var/log/legacy/*.log]
//	        encoding: euc-kr
//	        start_at: beginning
//	        parsers:
//	          - type: grok
//	            pattern: '%{IPORHOST:client.address} %{WORD:http.request.method} %{NUMBER:duration:float}'
//
// # Records
//
// One ResourceLogs per batch carries the agent identity (osprey.agent.*,
// host.name). Each record's body is the line (or the lines of a
// multi-line record); its time is the parsed timestamp, else the read
// time (also the observed time); its severity comes from the parsed level
// or else the first level word (ERROR, WARN, …) on its first line. Its
// attributes are log.file.path, log.file.name, log.category, log.file.id,
// log.record.offset, log.truncated when cut, the source's static fields
// and the parsed fields, typed (see the Attr constants and FieldMessage).
//
// # Delivery
//
// Every file read keeps a committed offset in <state_dir>/logtail-positions.json:
// the start of the first line not yet handed to emit. The module calls
// emit with a batch and only when emit has returned (the agent has
// spooled the batch) does it advance the offsets of that batch and save
// them (write to a temporary file, fsync, rename, fsync the directory).
// Hence:
//
//   - stop and start (ctx cancelled, then a new Module on the same state
//     directory): no line is lost or sent twice. Stopping finishes the
//     batch in hand (emit, save); a line not yet complete, or a multi-line
//     record still open, is read again whole after the start.
//   - a crash (kill -9, power loss) between emit and saving the offsets
//     sends that last batch again after the start; nothing is lost. Each
//     record carries log.file.id and log.record.offset, so a consumer can
//     tell such repeats apart.
//
// # Rotation
//
// Files are known by device and inode (and the fingerprint of their first
// 256 bytes, against reuse of an inode number). Files are looked at every
// poll_interval with stat and pread; no inotify is needed.
//
//   - rename (logrotate's default, create): the renamed file stays open and
//     is read to its end before the new file at the path is started; files
//     rotated more than once since the last look (or while the agent was
//     stopped) are found next to the path by their rotation suffix (.1,
//     -20261124) and read in order. A renamed file is closed after it has
//     not grown for 5 s. Files compressed before they were read are lost.
//   - copytruncate: the file's size falls below the offset (or its first
//     bytes change). The rest of the old content is read from the copy,
//     found next to the path by its fingerprint, then the file from 0.
//     Lines written after the copy was taken and before the truncation are
//     in neither file and are lost: that window is inherent to copytruncate
//     (it is empty when the writer is paused during the rotation).
//   - a file deleted and created again is a new file, read from its start.
//
// New files matching a source's globs are read from their start; at the
// first start of a source (no position known for it) files already there
// start at their end unless start_at is beginning. A file whose name is a
// followed file's name plus a rotation suffix is not a new file but part
// of that file's rotation, even when a glob matches it.
//
// Limits: rotated names must start with the file's name (app.log.1,
// app.log-20261124; not app-20261124.log); ** globs are walked at every
// look for new files (each second, or poll_interval if longer), so a huge
// tree under one costs; a
// record is at most 64 KiB, a line at most 64 KiB (the rest follows as
// further records marked log.truncated); off Unix there are no inodes, so
// the tail of a file renamed away is not followed.
package logtail

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// Stats counts the module's work since New.
type Stats struct {
	LinesRead      uint64 // lines read (each piece of a line split for length counts)
	RecordsEmitted uint64 // records handed to emit
	BytesRead      uint64
	FilesOpen      int
	TruncatedLines uint64 // line pieces cut at the length limit
	ParseMisses    uint64 // records none of their source's parsers matched
	Rotations      uint64 // files replaced at their path (rename, or delete and create)
	Truncations    uint64 // files truncated in place (copytruncate)
}

// Module tails the configured files. Run once; Stats from any goroutine.
type Module struct {
	cfg      Config
	sources  []*source
	posPath  string
	stateDir string
	ident    *agentpb.AgentIdentity
	logger   *slog.Logger

	// Run's state, touched by its goroutine only.
	emitFn    func(plog.Logs)
	groups    []*group
	byPath    map[string]*group
	byKey     map[fileKey]*tracker
	batch     batch
	res       result
	buf       []byte
	fpBuf     []byte
	now       time.Time
	dirty     bool // the positions file is behind
	saveErrAt time.Time

	stats struct {
		lines, records, bytes, truncatedLines, parseMisses, rotations, truncations atomic.Uint64
		filesOpen                                                                  atomic.Int64
	}
}

// New validates the config (no paths, a bad glob, a regexp or GROK pattern
// that does not compile, with where it fails, an unknown parser type or
// encoding) and prepares the module; it does not open files. A disabled
// config gives a module whose Run returns at once.
func New(cfg Config, stateDir string, ident *agentpb.AgentIdentity, logger *slog.Logger) (*Module, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	m := &Module{
		cfg:      cfg,
		stateDir: stateDir,
		posPath:  filepath.Join(stateDir, PositionsFile),
		ident:    ident,
		logger:   logger,
	}
	if !cfg.Enabled {
		return m, nil
	}
	if stateDir == "" {
		return nil, errors.New("logtail: a state directory is required")
	}
	if ident == nil {
		return nil, errors.New("logtail: the agent identity is required")
	}
	srcs, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	m.sources = srcs
	return m, nil
}

// Stats returns the counters.
func (m *Module) Stats() Stats {
	return Stats{
		LinesRead:      m.stats.lines.Load(),
		RecordsEmitted: m.stats.records.Load(),
		BytesRead:      m.stats.bytes.Load(),
		FilesOpen:      int(m.stats.filesOpen.Load()),
		TruncatedLines: m.stats.truncatedLines.Load(),
		ParseMisses:    m.stats.parseMisses.Load(),
		Rotations:      m.stats.rotations.Load(),
		Truncations:    m.stats.truncations.Load(),
	}
}

// Run tails until ctx is done. emit is called from Run's goroutine with
// each batch and must return only when the batch is durable (the agent
// spools it); the offsets of the batch are saved after it returns. When
// ctx is done Run hands on the batch in progress, saves the offsets,
// closes the files and returns.
func (m *Module) Run(ctx context.Context, emit func(plog.Logs)) {
	if len(m.sources) == 0 {
		return
	}
	m.init(emit)
	if err := os.MkdirAll(m.stateDir, 0o700); err != nil {
		m.logger.Error("create the state directory: positions cannot be saved", "err", err)
	}
	m.restore()
	defer m.shutdown()

	discoverEvery := max(m.cfg.PollInterval, time.Second)
	var nextDiscover time.Time
	wait := time.NewTimer(0)
	defer wait.Stop()
	for {
		m.now = time.Now()
		if !m.now.Before(nextDiscover) {
			m.discover()
			nextDiscover = m.now.Add(discoverEvery)
		}
		busy := false
		for _, g := range m.groups {
			if ctx.Err() != nil {
				break
			}
			m.reconcile(g)
			if m.readGroup(ctx, g) {
				busy = true
			}
			m.closeIdle(g)
		}
		m.now = time.Now()
		m.flushExpired()
		if m.batch.n > 0 && m.now.Sub(m.batch.first) >= m.cfg.FlushInterval {
			m.emit()
		}
		if m.batch.n == 0 {
			m.syncIdle()
		}
		m.countOpen()
		if ctx.Err() != nil {
			return
		}
		if busy {
			continue
		}
		wait.Reset(m.cfg.PollInterval)
		select {
		case <-ctx.Done():
			return
		case <-wait.C:
		}
	}
}

func (m *Module) init(emit func(plog.Logs)) {
	m.emitFn = emit
	m.byPath = map[string]*group{}
	m.byKey = map[fileKey]*tracker{}
	m.buf = make([]byte, 0, readChunk+MaxLineBytes)
	m.fpBuf = make([]byte, fingerprintLen)
	m.now = time.Now()
	m.newBatch()
}

// ensureRoom emits the batch when k more records might not fit. It is
// called only between lines, where every record in the batch lies below
// its file's safe offset and nothing above it is in the batch.
func (m *Module) ensureRoom(k int) {
	if m.batch.n > 0 && m.batch.n+k > m.cfg.BatchLines {
		m.emit()
	}
}

// emit hands the batch on and, once that returned, commits and saves the
// offsets it covers.
func (m *Module) emit() {
	if m.batch.n == 0 {
		return
	}
	n := m.batch.n
	m.emitFn(m.batch.logs)
	m.stats.records.Add(uint64(n))
	m.newBatch()
	m.commit()
	m.persist()
}

// commit takes every file's safe offset as committed: only right after an
// emit, or when the batch is empty.
func (m *Module) commit() bool {
	changed := false
	for _, g := range m.groups {
		for _, t := range g.files {
			if s := t.safe(); s != t.committed {
				t.committed = s
				changed = true
			}
		}
	}
	return changed
}

// syncIdle saves the positions when something changed with no batch in
// hand (a file started at its end, a rotation followed, a file closed).
func (m *Module) syncIdle() {
	if m.commit() || m.dirty {
		m.persist()
	}
}

func (m *Module) persist() {
	p := positions{Version: 1, Sources: []string{}, Files: []posEntry{}}
	for _, s := range m.sources {
		if !s.firstScan {
			p.Sources = append(p.Sources, s.key)
		}
	}
	for _, g := range m.groups {
		for _, t := range g.files {
			var mod int64
			if !t.lastMod.IsZero() {
				mod = t.lastMod.UnixNano()
			}
			e := posEntry{
				ID: t.id, Path: t.path, Group: g.path, Offset: t.committed,
				FP: encodeFP(t.fp), ModTime: mod, Rotated: t.rotated, Closed: t.closed,
			}
			if !t.freshSince.IsZero() {
				e.FreshSince = t.freshSince.UnixNano()
			}
			p.Files = append(p.Files, e)
		}
	}
	if err := savePositions(m.posPath, p); err != nil {
		// Keep going: a later save may work, and a restart before it
		// repeats lines rather than losing them.
		if m.now.Sub(m.saveErrAt) >= time.Minute {
			m.logger.Error("save log positions", "err", err)
			m.saveErrAt = m.now
		}
		m.dirty = true
		return
	}
	m.dirty = false
}

func (m *Module) countOpen() {
	n := 0
	for _, g := range m.groups {
		for _, t := range g.files {
			if t.f != nil {
				n++
			}
		}
	}
	m.stats.filesOpen.Store(int64(n))
}

func (m *Module) shutdown() {
	m.now = time.Now()
	m.emit()
	m.syncIdle()
	for _, g := range m.groups {
		for _, t := range g.files {
			if t.f != nil {
				t.f.Close()
				t.f = nil
			}
		}
	}
	m.stats.filesOpen.Store(0)
}

func (m *Module) addGroup(g *group) {
	m.groups = append(m.groups, g)
	m.byPath[g.path] = g
}

// sourceFor is the first source whose globs cover path.
func (m *Module) sourceFor(path string) *source {
	for _, s := range m.sources {
		if s.matches(path) && !excluded(s.exclude, path) {
			return s
		}
	}
	return nil
}

// rotatedName reports whether path is a followed file's rotated name;
// byDir holds the groups by directory.
func rotatedName(byDir map[string][]*group, path string) bool {
	dir, name := filepath.Split(path)
	for _, g := range byDir[filepath.Clean(dir)] {
		if len(name) > len(g.base) && name[:len(g.base)] == g.base && isRotationSuffix(name[len(g.base):]) {
			return true
		}
	}
	return false
}

// discover expands the globs for new files, and forgets paths that are
// gone with nothing left to read.
func (m *Module) discover() {
	byDir := map[string][]*group{}
	for _, g := range m.groups {
		byDir[g.dir] = append(byDir[g.dir], g)
	}
	for _, s := range m.sources {
		for _, pat := range s.paths {
			for _, p := range expandGlob(pat) {
				if m.byPath[p] != nil || excluded(s.exclude, p) || isCompressed(p) || rotatedName(byDir, p) {
					continue
				}
				fi, err := os.Stat(p)
				if err != nil || !fi.Mode().IsRegular() || m.byKey[fileKeyOf(fi)] != nil {
					continue
				}
				g := newGroup(p, s)
				g.startAtEnd = s.firstScan && s.startAtEnd
				m.addGroup(g)
				byDir[g.dir] = append(byDir[g.dir], g)
			}
		}
		if s.firstScan {
			s.firstScan = false
			m.dirty = true
		}
	}
	m.groups = slices.DeleteFunc(m.groups, func(g *group) bool {
		for _, t := range g.files {
			if t.f != nil {
				return false
			}
		}
		if _, err := os.Stat(g.path); err == nil {
			return false
		}
		delete(m.byPath, g.path)
		for _, t := range g.files {
			delete(m.byKey, t.key)
		}
		m.dirty = true
		return true
	})
}

// restore loads the positions file and finds its files again, by inode,
// where rotation may have moved them.
func (m *Module) restore() {
	p, ok, err := loadPositions(m.posPath)
	if err != nil {
		// Unreadable state: set it aside for a human and start as on a
		// first start (start_at applies) rather than send every file again.
		m.logger.Error("log positions unreadable; starting without them", "err", err)
		if rerr := os.Rename(m.posPath, m.posPath+".corrupt"); rerr != nil {
			m.logger.Error("set the unreadable positions file aside", "err", rerr)
		}
	}
	known := map[string]bool{}
	for _, k := range p.Sources {
		known[k] = true
	}
	for _, s := range m.sources {
		s.firstScan = !ok || !known[s.key]
	}
	for _, e := range p.Files {
		key, err := parseFileKey(e.ID)
		if err != nil || m.byKey[key] != nil {
			continue
		}
		g := m.byPath[e.Group]
		if g == nil {
			src := m.sourceFor(e.Group)
			if src == nil {
				m.logger.Info("log file no longer configured; forgetting its position", "path", e.Group)
				m.dirty = true
				continue
			}
			g = newGroup(e.Group, src)
			m.addGroup(g)
		}
		t := m.newTracker(g, key, e.Path)
		t.pos, t.done, t.committed = e.Offset, e.Offset, e.Offset
		t.fp = decodeFP(e.FP)
		t.rotated = e.Rotated
		t.closed = e.Closed && e.Rotated
		t.lastSize = -1
		if e.ModTime != 0 {
			t.lastMod = time.Unix(0, e.ModTime)
		}
		if e.FreshSince != 0 {
			t.freshSince = time.Unix(0, e.FreshSince)
		}
		g.files = append(g.files, t)
		m.byKey[key] = t
	}
	for _, g := range m.groups {
		m.reopen(g)
	}
}

// reopen opens a restored group's files: at their last path, at the
// group's path, or among its rotated siblings.
func (m *Module) reopen(g *group) {
	var sibs []sibling
	listed := false
	kept := g.files[:0]
	last := len(g.files) - 1
	for i, t := range g.files {
		if t.closed {
			// Read to its end: kept only to order rotated files.
			kept = append(kept, t)
			continue
		}
		f, fi := openAs(t.path, t.key)
		if f == nil {
			if f, fi = openAs(g.path, t.key); f != nil {
				t.path = g.path
			}
		}
		if f == nil {
			if !listed {
				sibs, listed = m.listSiblings(g), true
			}
			for _, s := range sibs {
				if s.key == t.key {
					if f, fi = openAs(s.path, t.key); f != nil {
						t.path = s.path
					}
					break
				}
			}
		}
		if f == nil {
			if i == last {
				// Kept to order the files rotated after it.
				t.rotated = true
				kept = append(kept, t)
				continue
			}
			m.logger.Warn("rotated log file not found again: its unread lines are lost", "path", t.path, "group", g.path)
			delete(m.byKey, t.key)
			m.dirty = true
			continue
		}
		t.f = f
		t.rotated = t.path != g.path
		t.lastSize, t.lastMod = fi.Size(), fi.ModTime()
		if fi.Size() < t.done || !m.fpMatches(f, t.fp) {
			if !t.rotated {
				t.suspect = true // truncated in place while stopped: reconcile looks for the copy
			} else {
				m.logger.Warn("rotated log file changed content: not the file read before", "path", t.path, "group", g.path)
				f.Close()
				t.f = nil
				delete(m.byKey, t.key)
				m.dirty = true
				continue
			}
		}
		kept = append(kept, t)
	}
	clear(g.files[len(kept):])
	g.files = kept
}
