// Package spool is the agent's disk-backed FIFO of batches waiting to be
// sent. Everything the agent reports goes through it, so a server outage or
// an agent restart loses nothing until the size bound forces the oldest
// batches out.
//
// Layout: a directory of segment files named by a zero-padded sequence
// number (00000000000000000001.seg, ...). A segment is a run of records:
//
//	length  uint32 LE   bytes of type+payload
//	crc     uint32 LE   CRC-32C of type+payload
//	type    uint8       caller's tag (OTLP metrics, agent push, ...)
//	payload []byte
//
// Records are appended to the newest segment; the reader consumes from the
// oldest. The read position is kept in a small "cursor" file (segment,
// offset, CRC) rewritten on each Ack, so a restart resumes after the last
// acknowledged record (at worst resending the one in flight). At Open every
// segment is scanned: a record that is short or fails its checksum ends the
// segment (a crash mid-write), the rest of that file is cut off and counted
// as corrupt, and the spool carries on.
package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Type tags a record so batches of different kinds share one spool.
type Type uint8

const (
	headerSize   = 9
	segmentExt   = ".seg"
	cursorFile   = "cursor"
	cursorSize   = 20
	minSegment   = 64 << 10
	defaultMax   = 256 << 20
	segmentParts = 16 // max_bytes is split in this many segments
	compactAt    = 1 << 20
)

// ErrEmpty is returned by Peek when nothing is waiting.
var ErrEmpty = errors.New("spool is empty")

// ErrTooLarge is returned by Append for a record that cannot fit at all.
var ErrTooLarge = errors.New("record larger than the spool bound")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options bound and tune a spool.
type Options struct {
	// MaxBytes bounds the bytes on disk (default 256 MiB). When an append
	// would pass it, whole oldest segments are dropped first.
	MaxBytes int64
	// SegmentBytes is the size at which a new segment starts (default
	// MaxBytes/16, at least 64 KiB). It is also the granularity of drops.
	SegmentBytes int64
	Logger       *slog.Logger
}

// Record is one batch read from the spool.
type Record struct {
	Type Type
	Data []byte // valid until the next Peek with the same buffer
	seg  uint64
	off  int64
	next int64
}

// Stats describes the spool for the agent's own health metrics.
type Stats struct {
	Bytes   int64  // unacknowledged bytes on disk
	Records int64  // unacknowledged records
	Dropped uint64 // records dropped because the spool was full, since Open
	Corrupt uint64 // bytes cut off as corrupt at Open
}

type segment struct {
	id      uint64
	size    int64 // valid bytes
	records int64
}

// Spool is safe for one writer and one reader goroutine at a time (and any
// number of Stats callers).
type Spool struct {
	dir    string
	opts   Options
	logger *slog.Logger

	mu      sync.Mutex
	segs    []*segment // oldest first; the last one is written to
	w       *os.File   // the last segment, open for append
	r       *os.File   // the first segment, open for reading
	rSeg    uint64     // which segment r belongs to
	rOff    int64      // read position in segs[0]
	rDone   int64      // records consumed in segs[0]
	bytes   int64      // total valid bytes in all segments
	records int64      // total records in all segments
	dropped uint64
	corrupt uint64
	hdr     [headerSize]byte
	wbuf    []byte
	notify  chan struct{}
	closed  bool
}

// Open opens (or creates) the spool in dir, recovering from a crash.
func Open(dir string, opts Options) (*Spool, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = defaultMax
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = opts.MaxBytes / segmentParts
	}
	if opts.SegmentBytes < minSegment {
		opts.SegmentBytes = minSegment
	}
	if opts.SegmentBytes > opts.MaxBytes {
		opts.SegmentBytes = opts.MaxBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create spool dir %s: %w", dir, err)
	}
	s := &Spool{dir: dir, opts: opts, logger: opts.Logger, notify: make(chan struct{}, 1)}
	if err := s.load(); err != nil {
		s.closeFiles()
		return nil, err
	}
	return s, nil
}

func (s *Spool) segPath(id uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", id, segmentExt))
}

func (s *Spool) load() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("read spool dir %s: %w", s.dir, err)
	}
	var ids []uint64
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, segmentExt) {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(name, segmentExt), 10, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })

	curSeg, curOff, haveCursor := s.readCursor()
	for _, id := range ids {
		if haveCursor && id < curSeg {
			// Fully acknowledged before the crash but not yet removed.
			_ = os.Remove(s.segPath(id))
			continue
		}
		seg, err := s.scan(id)
		if err != nil {
			return err
		}
		s.segs = append(s.segs, seg)
	}
	if len(s.segs) == 0 {
		// Never reuse an id the cursor may still name.
		id := curSeg + 1
		if len(ids) > 0 && ids[len(ids)-1] >= id {
			id = ids[len(ids)-1] + 1
		}
		s.segs = append(s.segs, &segment{id: id})
	}
	for _, seg := range s.segs {
		s.bytes += seg.size
		s.records += seg.records
	}
	// Resume after the last acknowledged record, if the cursor points
	// into the first segment at a record boundary we can verify.
	if haveCursor && s.segs[0].id == curSeg && curOff > 0 && curOff <= s.segs[0].size {
		if n, ok := s.countTo(s.segs[0].id, curOff); ok {
			s.rOff, s.rDone = curOff, n
			s.bytes -= curOff
			s.records -= n
		}
	}
	if err := s.writeCursor(); err != nil {
		return err
	}
	last := s.segs[len(s.segs)-1]
	w, err := os.OpenFile(s.segPath(last.id), os.O_CREATE|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("open spool segment %s: %w", s.segPath(last.id), err)
	}
	if _, err := w.Seek(last.size, io.SeekStart); err != nil {
		w.Close()
		return fmt.Errorf("seek spool segment %s: %w", s.segPath(last.id), err)
	}
	s.w = w
	return nil
}

// scan validates a segment, truncating it after its last good record.
func (s *Spool) scan(id uint64) (*segment, error) {
	path := s.segPath(id)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open spool segment %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat spool segment %s: %w", path, err)
	}
	seg := &segment{id: id}
	var hdr [headerSize]byte
	var buf []byte
	for seg.size < st.Size() {
		ok := false
		if _, err := f.ReadAt(hdr[:], seg.size); err == nil {
			n := int64(binary.LittleEndian.Uint32(hdr[0:4]))
			if n >= 1 && seg.size+8+n <= st.Size() {
				if int64(cap(buf)) < n {
					buf = make([]byte, n)
				}
				buf = buf[:n]
				if _, err := f.ReadAt(buf, seg.size+8); err == nil &&
					crc32.Checksum(buf, castagnoli) == binary.LittleEndian.Uint32(hdr[4:8]) {
					seg.size += 8 + n
					seg.records++
					ok = true
				}
			}
		}
		if !ok {
			cut := st.Size() - seg.size
			s.corrupt += uint64(cut)
			s.logger.Warn("spool: corrupt tail skipped", "segment", path, "offset", seg.size, "bytes", cut)
			if err := f.Truncate(seg.size); err != nil {
				return nil, fmt.Errorf("truncate corrupt spool segment %s: %w", path, err)
			}
			break
		}
	}
	return seg, nil
}

// countTo counts records before off, checking that off is a boundary.
func (s *Spool) countTo(id uint64, off int64) (int64, bool) {
	f, err := os.Open(s.segPath(id))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var hdr [8]byte
	var pos, n int64
	for pos < off {
		if _, err := f.ReadAt(hdr[:], pos); err != nil {
			return 0, false
		}
		pos += 8 + int64(binary.LittleEndian.Uint32(hdr[0:4]))
		n++
	}
	return n, pos == off
}

func (s *Spool) readCursor() (uint64, int64, bool) {
	b, err := os.ReadFile(filepath.Join(s.dir, cursorFile))
	if err != nil || len(b) != cursorSize {
		return 0, 0, false
	}
	if crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:]) {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint64(b[0:8]), int64(binary.LittleEndian.Uint64(b[8:16])), true
}

func (s *Spool) writeCursor() error {
	var b [cursorSize]byte
	binary.LittleEndian.PutUint64(b[0:8], s.segs[0].id)
	binary.LittleEndian.PutUint64(b[8:16], uint64(s.rOff))
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	// Rename keeps the cursor whole if we die halfway; a stale cursor only
	// means a duplicate resend, which the receiver tolerates.
	tmp := filepath.Join(s.dir, cursorFile+".tmp")
	if err := os.WriteFile(tmp, b[:], 0o640); err != nil {
		return fmt.Errorf("write spool cursor: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, cursorFile)); err != nil {
		return fmt.Errorf("rename spool cursor: %w", err)
	}
	return nil
}

// Append adds a record at the tail. When the spool would pass MaxBytes the
// oldest segments are dropped (and counted) to make room.
func (s *Spool) Append(t Type, payload []byte) error {
	n := int64(headerSize + len(payload))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("spool is closed")
	}
	if n > s.opts.MaxBytes {
		s.dropped++
		return fmt.Errorf("append %d bytes: %w", n, ErrTooLarge)
	}
	last := s.segs[len(s.segs)-1]
	if last.size > 0 && last.size+n > s.opts.SegmentBytes {
		if err := s.roll(); err != nil {
			return err
		}
		last = s.segs[len(s.segs)-1]
	}
	for s.bytes+n > s.opts.MaxBytes && len(s.segs) > 1 {
		if err := s.dropOldest(); err != nil {
			return err
		}
	}
	binary.LittleEndian.PutUint32(s.hdr[0:4], uint32(len(payload)+1))
	s.hdr[8] = byte(t)
	crc := crc32.Update(0, castagnoli, s.hdr[8:9])
	crc = crc32.Update(crc, castagnoli, payload)
	binary.LittleEndian.PutUint32(s.hdr[4:8], crc)
	// One write per record so a crash leaves at most one torn record, which
	// the checksum catches at the next Open.
	s.wbuf = append(append(s.wbuf[:0], s.hdr[:]...), payload...)
	if _, err := s.w.Write(s.wbuf); err != nil {
		// Cut back to the last good record so later appends stay readable.
		_ = s.w.Truncate(last.size)
		_, _ = s.w.Seek(last.size, io.SeekStart)
		return fmt.Errorf("write spool segment %s: %w", s.segPath(last.id), err)
	}
	last.size += n
	last.records++
	s.bytes += n
	s.records++
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return nil
}

func (s *Spool) roll() error {
	last := s.segs[len(s.segs)-1]
	if err := s.w.Sync(); err != nil {
		return fmt.Errorf("sync spool segment %s: %w", s.segPath(last.id), err)
	}
	if err := s.w.Close(); err != nil {
		return fmt.Errorf("close spool segment %s: %w", s.segPath(last.id), err)
	}
	s.w = nil
	next := &segment{id: last.id + 1}
	w, err := os.OpenFile(s.segPath(next.id), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("create spool segment %s: %w", s.segPath(next.id), err)
	}
	s.w = w
	s.segs = append(s.segs, next)
	return nil
}

func (s *Spool) dropOldest() error {
	old := s.segs[0]
	lost := old.records - s.rDone
	s.dropped += uint64(lost)
	s.bytes -= old.size - s.rOff
	s.records -= lost
	if err := s.removeFirst(); err != nil {
		return err
	}
	s.logger.Warn("spool full: dropped oldest batches", "records", lost, "max_bytes", s.opts.MaxBytes)
	return nil
}

// removeFirst deletes segs[0] (never the one being written).
func (s *Spool) removeFirst() error {
	old := s.segs[0]
	if s.r != nil && s.rSeg == old.id {
		s.r.Close()
		s.r = nil
	}
	s.segs = s.segs[1:]
	s.rOff, s.rDone = 0, 0
	if err := s.writeCursor(); err != nil {
		return err
	}
	if err := os.Remove(s.segPath(old.id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove spool segment %s: %w", s.segPath(old.id), err)
	}
	return nil
}

// Peek returns the oldest unacknowledged record, reading its payload into
// buf (grown as needed) so a steady reader does not allocate. It returns
// ErrEmpty when there is nothing to read.
func (s *Spool) Peek(buf []byte) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Record{}, errors.New("spool is closed")
	}
	for {
		first := s.segs[0]
		if s.rOff < first.size {
			break
		}
		if len(s.segs) == 1 {
			return Record{}, ErrEmpty
		}
		// The first segment is used up and a newer one exists.
		if err := s.removeFirst(); err != nil {
			return Record{}, err
		}
	}
	first := s.segs[0]
	if s.r == nil || s.rSeg != first.id {
		if s.r != nil {
			s.r.Close()
		}
		r, err := os.Open(s.segPath(first.id))
		if err != nil {
			s.r = nil
			return Record{}, fmt.Errorf("open spool segment %s: %w", s.segPath(first.id), err)
		}
		s.r, s.rSeg = r, first.id
	}
	var hdr [headerSize]byte
	if _, err := s.r.ReadAt(hdr[:], s.rOff); err != nil {
		return Record{}, fmt.Errorf("read spool segment %s at %d: %w", s.segPath(first.id), s.rOff, err)
	}
	n := int(binary.LittleEndian.Uint32(hdr[0:4])) - 1
	if n < 0 || int64(n) > first.size-s.rOff-headerSize {
		return Record{}, s.skipDamaged(first)
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := s.r.ReadAt(buf, s.rOff+headerSize); err != nil {
		return Record{}, fmt.Errorf("read spool segment %s at %d: %w", s.segPath(first.id), s.rOff, err)
	}
	crc := crc32.Update(0, castagnoli, hdr[8:9])
	if crc32.Update(crc, castagnoli, buf) != binary.LittleEndian.Uint32(hdr[4:8]) {
		return Record{}, s.skipDamaged(first)
	}
	return Record{Type: Type(hdr[8]), Data: buf, seg: first.id, off: s.rOff, next: s.rOff + headerSize + int64(n)}, nil
}

// skipDamaged gives up on the rest of a segment that was damaged on disk
// after it was written, rather than wedge the sender on it forever.
func (s *Spool) skipDamaged(first *segment) error {
	s.logger.Warn("spool: damaged record, skipping rest of segment", "segment", s.segPath(first.id), "offset", s.rOff)
	s.corrupt += uint64(first.size - s.rOff)
	s.bytes -= first.size - s.rOff
	s.records -= first.records - s.rDone
	s.rOff, s.rDone = first.size, first.records
	return fmt.Errorf("read spool segment %s: damaged record", s.segPath(first.id))
}

// Ack removes rec, which must be the record last returned by Peek. If the
// record has meanwhile been dropped to make room, Ack does nothing.
func (s *Spool) Ack(rec Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.segs[0].id != rec.seg || s.rOff != rec.off {
		return nil
	}
	s.bytes -= rec.next - rec.off
	s.records--
	s.rOff = rec.next
	s.rDone++
	if s.rOff >= s.segs[0].size {
		if len(s.segs) > 1 {
			return s.removeFirst()
		}
		// Caught up: start a fresh segment rather than let acknowledged
		// data sit on disk until the segment fills.
		if s.segs[0].size >= min(compactAt, s.opts.SegmentBytes) {
			if err := s.roll(); err != nil {
				return err
			}
			return s.removeFirst()
		}
	}
	return s.writeCursor()
}

// Notify is signalled after an Append, so a reader that found the spool
// empty can wait for more.
func (s *Spool) Notify() <-chan struct{} { return s.notify }

// Stats reports the current size and counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Bytes: s.bytes, Records: s.records, Dropped: s.dropped, Corrupt: s.corrupt}
}

// Close flushes the write segment to disk and closes the spool.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if s.w != nil {
		if e := s.w.Sync(); e != nil {
			err = fmt.Errorf("sync spool: %w", e)
		}
	}
	s.closeFiles()
	return err
}

func (s *Spool) closeFiles() {
	if s.w != nil {
		s.w.Close()
		s.w = nil
	}
	if s.r != nil {
		s.r.Close()
		s.r = nil
	}
}
