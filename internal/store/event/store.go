// Package event stores wide event records (spans, logs, snapshots, URL
// results, alert events) in the embedded VictoriaLogs storage engine, one
// engine tenant per project. It hides the engine's global flags, its panics
// and its delayed visibility behind a small error-returning API, and it
// builds every LogsQL query itself so user input is always quoted.
package event

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/VictoriaLogs/lib/logstorage"
)

// Field names the store itself gives meaning to.
const (
	FieldType = "type"
	FieldMsg  = "_msg"
	FieldTime = "_time"
	// FieldSeq is a per-row tie-breaker so that paging is exact even when
	// many rows share a timestamp. It is hidden from results unless asked
	// for in Query.Fields.
	FieldSeq = "osprey.seq"
)

// streamFields group rows into engine streams; rows of one stream are
// stored together, so these should be few and low-cardinality.
var streamFields = []string{FieldType, "service.name"}

const (
	defaultRetention     = 7 * 24 * time.Hour
	defaultMaxMemory     = 512 << 20
	defaultMaxFutureSkew = 10 * time.Minute
	defaultSearchTimeout = 10 * time.Second
	defaultMaxScanRows   = 200_000_000

	// Engine limits (lib/logstorage/consts.go); rows over them would be
	// dropped silently by the engine, so we reject and count them instead.
	maxFieldsPerRow  = 2000 - 2 // leave room for _msg and osprey.seq
	maxFieldNameLen  = 128
	maxRowJSONLength = 2 << 20
)

// Options configures Open.
type Options struct {
	Dir            string        // <data-dir>/events
	Retention      time.Duration // default 7 days when zero; engine minimum is 1 day
	MaxMemoryBytes int64         // cap for the engine's caches; default 512 MiB (process-wide, first Open wins)
	MaxFutureSkew  time.Duration // rows newer than now+skew are rejected; default 10m
	Logger         *slog.Logger

	// SearchTimeout bounds a Search or Count whose context has no deadline;
	// default 10 s.
	SearchTimeout time.Duration
	// MaxScanRows is the row budget of one Search: once the engine has
	// scanned this many rows, Search returns what it found with Partial
	// set. Default 200M.
	MaxScanRows uint64
}

// Field is one name/value pair of a row.
type Field struct{ Name, Value string }

// Row is one event. Fields must contain "type" (span|log|snapshot|...);
// "_msg" is the free text searched by Query.Text.
type Row struct {
	Time   time.Time
	Fields []Field
}

// Store is an open event store. All methods are safe for concurrent use.
type Store struct {
	dir  string
	opts Options
	log  *slog.Logger
	st   *logstorage.Storage

	// closeMu lets Close wait for in-flight calls and makes calls after
	// Close fail instead of touching a closed engine (which panics).
	closeMu sync.RWMutex
	closed  bool

	flushMu   sync.Mutex // serialises Flush
	bg        sync.WaitGroup
	dirtyMu   sync.Mutex
	dirtyDays map[int64]struct{} // days with rows added since the last Flush

	seq atomic.Int64
}

// ErrClosed is returned by calls on a closed Store.
var ErrClosed = errors.New("event store is closed")

// Open opens (creating if needed) the store in opts.Dir.
func Open(ctx context.Context, opts Options) (s *Store, err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open event store: %w", err)
	}
	if opts.Dir == "" {
		return nil, errors.New("open event store: Options.Dir is empty")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("open event store %s: %w", opts.Dir, err)
	}
	if opts.Retention <= 0 {
		opts.Retention = defaultRetention
	}
	if opts.Retention < 24*time.Hour {
		return nil, fmt.Errorf("open event store %s: retention %s is below the engine minimum of 24h", dir, opts.Retention)
	}
	if opts.MaxMemoryBytes <= 0 {
		opts.MaxMemoryBytes = defaultMaxMemory
	}
	if opts.MaxFutureSkew <= 0 {
		opts.MaxFutureSkew = defaultMaxFutureSkew
	}
	if opts.SearchTimeout <= 0 {
		opts.SearchTimeout = defaultSearchTimeout
	}
	if opts.MaxScanRows == 0 {
		opts.MaxScanRows = defaultMaxScanRows
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	log := opts.Logger.With("component", "event-store")

	if err := initEngine(opts.MaxMemoryBytes, log); err != nil {
		return nil, fmt.Errorf("open event store %s: %w", dir, err)
	}
	if err := claimDir(dir); err != nil {
		return nil, fmt.Errorf("open event store: %w", err)
	}
	defer func() {
		if err != nil {
			releaseDir(dir)
		}
	}()

	cfg := &logstorage.StorageConfig{
		Retention: opts.Retention,
		// The engine's own future limit has a 1-day minimum; the real
		// check (MaxFutureSkew) happens in Add.
		FutureRetention: 24 * time.Hour,
		// Data reaches disk at least this often even without Flush.
		FlushInterval:         time.Second,
		MinFreeDiskSpaceBytes: 10e6,
		// Flush's snapshots are dropped right away; this only sweeps one
		// left behind by a crash between creating and dropping it.
		SnapshotsMaxAge: time.Hour,
	}
	start := time.Now()
	var st *logstorage.Storage
	err = func() (err error) {
		defer recoverAsError(&err, "open engine storage")
		st = logstorage.MustOpenStorage(dir, cfg)
		return nil
	}()
	if err != nil {
		return nil, fmt.Errorf("open event store %s: %w", dir, err)
	}
	s = &Store{dir: dir, opts: opts, log: log, st: st, dirtyDays: make(map[int64]struct{})}
	// seq values are microsecond timestamps pushed forward per row (see
	// nextSeqs), so a restart continues above the previous process's values.
	s.seq.Store(time.Now().UnixMicro())
	log.Info("event store opened", "dir", dir, "retention", opts.Retention, "took", time.Since(start))
	return s, nil
}

// Close flushes everything to disk and closes the store.
func (s *Store) Close() (err error) {
	s.bg.Wait()
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	defer releaseDir(s.dir)
	defer recoverAsError(&err, "close event store "+s.dir)
	s.st.MustClose()
	return nil
}

// Dir is the store's absolute directory.
func (s *Store) Dir() string { return s.dir }

// tenantFor maps a project to its engine tenant.
func tenantFor(project int64) (logstorage.TenantID, error) {
	if project < 0 || project > math.MaxUint32 {
		return logstorage.TenantID{}, fmt.Errorf("project id %d out of range", project)
	}
	return logstorage.TenantID{AccountID: uint32(project)}, nil
}

// nextSeqs reserves n consecutive seq values. Seq is a hybrid clock: at
// least the current Unix microsecond, so values stay unique across restarts
// unless the previous process added more than a million rows per second
// for longer than the downtime. It stays below 2^53 (until year 2255), so
// the engine's numeric filters compare it exactly.
func (s *Store) nextSeqs(n int) int64 {
	now := time.Now().UnixMicro()
	for {
		old := s.seq.Load()
		base := max(old, now)
		if s.seq.CompareAndSwap(old, base+int64(n)) {
			return base
		}
	}
}

var rowsPool = sync.Pool{New: func() any { return new(addBuf) }}

type addBuf struct {
	fields []logstorage.Field
	seq    []byte
}

// Add stores rows for a project. Rows are rejected (and counted) when they
// lack a type, are older than the retention, newer than now+MaxFutureSkew,
// or exceed the engine's size limits. err is set only when the store as a
// whole could not take the batch; then accepted is 0.
// Rows become searchable within about a second, or at once after Flush.
func (s *Store) Add(ctx context.Context, project int64, rows []Row) (accepted, rejected int, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, fmt.Errorf("add events: %w", err)
	}
	tenant, err := tenantFor(project)
	if err != nil {
		return 0, 0, fmt.Errorf("add events: %w", err)
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return 0, 0, fmt.Errorf("add events: %w", ErrClosed)
	}
	if s.st.IsReadOnly() {
		return 0, 0, fmt.Errorf("add events to %s: storage is read-only (free disk space below limit)", s.dir)
	}

	now := time.Now()
	minTs := now.Add(-s.opts.Retention).UnixNano()
	maxTs := now.Add(s.opts.MaxFutureSkew).UnixNano()

	buf := rowsPool.Get().(*addBuf)
	defer rowsPool.Put(buf)
	lr := logstorage.GetLogRows(streamFields, nil, nil, nil, "")
	defer logstorage.PutLogRows(lr)

	seq := s.nextSeqs(len(rows))
	var lastDay int64 = -1
	days := make([]int64, 0, 1)

	err = func() (err error) {
		defer recoverAsError(&err, "add events to "+s.dir)
		for i := range rows {
			r := &rows[i]
			ts := r.Time.UnixNano()
			if r.Time.IsZero() {
				ts = now.UnixNano()
			}
			if ts < minTs || ts > maxTs || !validRow(r.Fields) {
				rejected++
				continue
			}
			fs := buf.fields[:0]
			for _, f := range r.Fields {
				switch f.Name {
				case FieldSeq, FieldTime, "_stream", "_stream_id":
					// Reserved: set by the store or the engine.
					continue
				}
				fs = append(fs, logstorage.Field{Name: f.Name, Value: f.Value})
			}
			buf.seq = strconv.AppendInt(buf.seq[:0], seq+int64(i), 10)
			// MustAdd copies names and values, so the scratch buffers can
			// be reused for the next row.
			fs = append(fs, logstorage.Field{Name: FieldSeq, Value: unsafeString(buf.seq)})
			// The engine sorts every row's fields by name with sort.Sort;
			// a generic sort here is cheaper and leaves it a sorted input,
			// which its pdqsort only scans.
			slices.SortFunc(fs, func(a, b logstorage.Field) int { return strings.Compare(a.Name, b.Name) })
			if logstorage.EstimatedJSONRowLen(fs) > maxRowJSONLength {
				buf.fields = fs
				rejected++
				continue
			}
			lr.MustAdd(tenant, ts, fs, -1)
			buf.fields = fs
			accepted++
			if day := ts / int64(24*time.Hour); day != lastDay {
				lastDay = day
				days = append(days, day)
			}
			if lr.NeedFlush() {
				s.st.MustAddRows(lr)
				lr.ResetKeepSettings()
			}
		}
		if lr.RowsCount() > 0 {
			s.st.MustAddRows(lr)
		}
		return nil
	}()
	if err != nil {
		return 0, len(rows), err
	}
	if len(days) > 0 {
		s.dirtyMu.Lock()
		for _, d := range days {
			s.dirtyDays[d] = struct{}{}
		}
		s.dirtyMu.Unlock()
	}
	return accepted, rejected, nil
}

func validRow(fields []Field) bool {
	if len(fields) > maxFieldsPerRow {
		return false
	}
	hasType := false
	for i := range fields {
		n := fields[i].Name
		if len(n) > maxFieldNameLen || n == "" {
			return false
		}
		if n == FieldType && fields[i].Value != "" {
			hasType = true
		}
	}
	return hasType
}

// Flush makes every row added before the call searchable and durable: when
// it returns, the rows are in fsynced part files that survive kill -9.
// It costs a few milliseconds plus the write of the buffered rows, so call
// it at checkpoints, not per batch.
func (s *Store) Flush() {
	if err := s.FlushErr(); err != nil {
		s.log.Error("event store flush failed", "err", err)
	}
}

// FlushErr is Flush that reports failure.
func (s *Store) FlushErr() (err error) {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return fmt.Errorf("flush events: %w", ErrClosed)
	}
	s.flushMu.Lock()
	defer s.flushMu.Unlock()

	s.dirtyMu.Lock()
	days := s.dirtyDays
	s.dirtyDays = make(map[int64]struct{}, len(days))
	s.dirtyMu.Unlock()

	defer recoverAsError(&err, "flush event store "+s.dir)
	// Pending rows -> in-memory parts: searchable.
	s.st.DebugFlush()
	// The engine has no public "flush to disk" call. Creating a partition
	// snapshot writes the partition's in-memory parts (data and index) to
	// fsynced files first; the snapshot itself (hard links) is then dropped.
	var snaps []string
	for day := range days {
		prefix := time.Unix(0, day*int64(24*time.Hour)).UTC().Format("20060102")
		snaps = append(snaps, s.st.PartitionSnapshotMustCreate(prefix)...)
	}
	if len(snaps) > 0 {
		// Dropping the snapshot is not needed for durability; keep it off
		// the caller's path. Close waits for it.
		s.bg.Go(func() { s.dropSnapshots(snaps) })
	}
	return nil
}

func (s *Store) dropSnapshots(paths []string) {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return
	}
	var err error
	defer func() {
		if err != nil {
			s.log.Warn("event store: drop flush snapshot", "err", err)
		}
	}()
	defer recoverAsError(&err, "drop flush snapshot")
	for _, p := range paths {
		if err := s.st.PartitionSnapshotDelete(p); err != nil {
			s.log.Warn("event store: drop flush snapshot", "path", p, "err", err)
		}
	}
}

// DiskBytes is the size of the store's files on disk.
func (s *Store) DiskBytes() int64 {
	var n int64
	_ = filepath.WalkDir(s.dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			// Parts come and go during merges; a vanished file is not an error.
			return nil
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
