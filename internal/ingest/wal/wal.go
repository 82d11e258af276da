// Package wal is the ingest write-ahead log: a batch is acknowledged to the
// sender only after it is written here, so an acknowledged batch survives a
// kill -9 of the server and is replayed into the stores on the next start.
//
// Records are framed as [len u32][crc32c u32][payload], payload being
// [seq u64][kind u8][project i64][body]. Segments are named by the first
// sequence number they hold. A checkpoint file names the highest sequence
// number whose effects the stores have made durable; whole segments below it
// are deleted, which is what keeps the log bounded.
package wal

import (
	"bufio"
	"context"
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
	"time"
)

const (
	headerSize     = 8
	payloadHdrSize = 8 + 1 + 8
	// MaxRecordSize bounds one record; the receivers cap request bodies well
	// below it, so a larger length on disk means corruption.
	MaxRecordSize = 256 << 20
	segmentSuffix = ".wal"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SyncMode says when appended data is fsynced. Data handed to write(2) is
// already safe from a process crash; fsync adds safety against power loss.
type SyncMode int

const (
	// SyncInterval fsyncs in the background every Options.SyncInterval.
	SyncInterval SyncMode = iota
	// SyncAlways fsyncs before Append returns.
	SyncAlways
)

type Options struct {
	Dir          string
	SegmentSize  int64 // a new segment starts past this size; default 64 MiB
	Sync         SyncMode
	SyncInterval time.Duration // default 1s
	Logger       *slog.Logger
}

// Record is one logged batch.
type Record struct {
	Seq     uint64
	Kind    uint8
	Project int64
	Body    []byte
}

// WAL is safe for concurrent use.
type WAL struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	f        *os.File
	w        *bufio.Writer
	segStart uint64 // first seq of the open segment
	segSize  int64
	nextSeq  uint64
	dirty    bool
	closed   bool

	checkpoint uint64
	stop       chan struct{}
	done       chan struct{}
}

// Open opens the log in opts.Dir, repairs a torn tail, and returns it with
// the records after the checkpoint that must be replayed.
func Open(opts Options) (*WAL, []Record, error) {
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = 64 << 20
	}
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("create wal dir %s: %w", opts.Dir, err)
	}
	w := &WAL{opts: opts, log: opts.Logger, stop: make(chan struct{}), done: make(chan struct{})}
	cp, err := readCheckpoint(opts.Dir)
	if err != nil {
		return nil, nil, err
	}
	w.checkpoint = cp
	segs, err := listSegments(opts.Dir)
	if err != nil {
		return nil, nil, err
	}
	var replay []Record
	last := cp
	for i, seg := range segs {
		// A segment is wholly at or below the checkpoint when the next one
		// starts at or below checkpoint+1.
		if i+1 < len(segs) && segs[i+1] <= cp+1 {
			continue
		}
		recs, validSize, err := readSegment(filepath.Join(opts.Dir, segName(seg)))
		if err != nil {
			return nil, nil, err
		}
		path := filepath.Join(opts.Dir, segName(seg))
		if st, err := os.Stat(path); err == nil && st.Size() > validSize {
			// A torn write from a crash: everything after the last whole
			// record was never acknowledged, so it is safe to cut.
			w.log.Warn("wal: truncating torn tail", "segment", path, "from", st.Size(), "to", validSize)
			if err := os.Truncate(path, validSize); err != nil {
				return nil, nil, fmt.Errorf("truncate torn wal segment %s: %w", path, err)
			}
		}
		for _, r := range recs {
			if r.Seq > last {
				last = r.Seq
			}
			if r.Seq > cp {
				replay = append(replay, r)
			}
		}
	}
	w.nextSeq = last + 1
	if err := w.openSegmentLocked(); err != nil {
		return nil, nil, err
	}
	go w.syncLoop()
	return w, replay, nil
}

func segName(start uint64) string { return fmt.Sprintf("%020d%s", start, segmentSuffix) }

func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list wal dir %s: %w", dir, err)
	}
	var out []uint64
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, segmentSuffix) {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(name, segmentSuffix), 10, 64)
		if err != nil {
			continue
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// readSegment returns the whole, checksum-valid records of a segment and the
// byte size they span.
func readSegment(path string) ([]Record, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("open wal segment %s: %w", path, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var recs []Record
	var off int64
	var hdr [headerSize]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return recs, off, nil // clean end or torn header
		}
		n := binary.LittleEndian.Uint32(hdr[0:4])
		sum := binary.LittleEndian.Uint32(hdr[4:8])
		if n < payloadHdrSize || n > MaxRecordSize {
			return recs, off, nil
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return recs, off, nil
		}
		if crc32.Checksum(buf, castagnoli) != sum {
			return recs, off, nil
		}
		recs = append(recs, Record{
			Seq:     binary.LittleEndian.Uint64(buf[0:8]),
			Kind:    buf[8],
			Project: int64(binary.LittleEndian.Uint64(buf[9:17])),
			Body:    buf[payloadHdrSize:],
		})
		off += headerSize + int64(n)
	}
}

func (w *WAL) openSegmentLocked() error {
	segs, err := listSegments(w.opts.Dir)
	if err != nil {
		return err
	}
	// Append to the newest segment when it has room; otherwise start one.
	if len(segs) > 0 {
		last := segs[len(segs)-1]
		path := filepath.Join(w.opts.Dir, segName(last))
		st, err := os.Stat(path)
		if err == nil && st.Size() < w.opts.SegmentSize {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return fmt.Errorf("open wal segment %s: %w", path, err)
			}
			w.f, w.w, w.segStart, w.segSize = f, bufio.NewWriterSize(f, 256<<10), last, st.Size()
			return nil
		}
	}
	path := filepath.Join(w.opts.Dir, segName(w.nextSeq))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("create wal segment %s: %w", path, err)
	}
	w.f, w.w, w.segStart, w.segSize = f, bufio.NewWriterSize(f, 256<<10), w.nextSeq, 0
	return syncDir(w.opts.Dir)
}

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("wal closed")

// Append writes a record and returns its sequence number once the bytes are
// with the operating system (and on disk, with SyncAlways).
func (w *WAL) Append(kind uint8, project int64, body []byte) (uint64, error) {
	n := payloadHdrSize + len(body)
	if n > MaxRecordSize {
		return 0, fmt.Errorf("wal record of %d bytes exceeds %d", n, MaxRecordSize)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, ErrClosed
	}
	if w.segSize >= w.opts.SegmentSize {
		if err := w.rotateLocked(); err != nil {
			return 0, err
		}
	}
	seq := w.nextSeq
	var hdr [headerSize + payloadHdrSize]byte
	binary.LittleEndian.PutUint64(hdr[8:16], seq)
	hdr[16] = kind
	binary.LittleEndian.PutUint64(hdr[17:25], uint64(project))
	crc := crc32.Update(0, castagnoli, hdr[8:])
	crc = crc32.Update(crc, castagnoli, body)
	binary.LittleEndian.PutUint32(hdr[0:4], uint32(n))
	binary.LittleEndian.PutUint32(hdr[4:8], crc)
	if _, err := w.w.Write(hdr[:]); err != nil {
		return 0, w.failLocked(err)
	}
	if _, err := w.w.Write(body); err != nil {
		return 0, w.failLocked(err)
	}
	if err := w.w.Flush(); err != nil {
		return 0, w.failLocked(err)
	}
	if w.opts.Sync == SyncAlways {
		if err := w.f.Sync(); err != nil {
			return 0, w.failLocked(err)
		}
	} else {
		w.dirty = true
	}
	w.nextSeq++
	w.segSize += int64(headerSize + n)
	return seq, nil
}

// failLocked handles a failed write: the partial record must not be followed
// by good ones (the reader stops at the first bad record), so the segment is
// cut back to its last whole record and a fresh writer is set up.
func (w *WAL) failLocked(cause error) error {
	err := fmt.Errorf("append to wal segment %s: %w", segName(w.segStart), cause)
	path := filepath.Join(w.opts.Dir, segName(w.segStart))
	w.f.Close()
	if terr := os.Truncate(path, w.segSize); terr != nil {
		w.log.Error("wal: cannot cut failed write", "segment", path, "err", terr)
	}
	f, oerr := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if oerr != nil {
		w.closed = true
		return errors.Join(err, oerr)
	}
	w.f, w.w = f, bufio.NewWriterSize(f, 256<<10)
	return err
}

func (w *WAL) rotateLocked() error {
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("sync wal segment: %w", err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("close wal segment: %w", err)
	}
	path := filepath.Join(w.opts.Dir, segName(w.nextSeq))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("create wal segment %s: %w", path, err)
	}
	w.f, w.w, w.segStart, w.segSize = f, bufio.NewWriterSize(f, 256<<10), w.nextSeq, 0
	return syncDir(w.opts.Dir)
}

func (w *WAL) syncLoop() {
	defer close(w.done)
	t := time.NewTicker(w.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.mu.Lock()
			if w.dirty && !w.closed {
				if err := w.f.Sync(); err != nil {
					w.log.Error("wal: fsync failed", "err", err)
				}
				w.dirty = false
			}
			w.mu.Unlock()
		}
	}
}

// LastSeq is the sequence number of the newest record (0 when none).
func (w *WAL) LastSeq() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nextSeq - 1
}

// Checkpoint records that every record up to seq is durable in the stores,
// and deletes segments that hold nothing newer.
func (w *WAL) Checkpoint(seq uint64) error {
	w.mu.Lock()
	if seq <= w.checkpoint {
		w.mu.Unlock()
		return nil
	}
	active := w.segStart
	w.mu.Unlock()
	if err := writeCheckpoint(w.opts.Dir, seq); err != nil {
		return err
	}
	w.mu.Lock()
	w.checkpoint = seq
	w.mu.Unlock()
	segs, err := listSegments(w.opts.Dir)
	if err != nil {
		return err
	}
	for i, s := range segs {
		if s == active || i+1 >= len(segs) {
			break
		}
		// Segment i holds seqs [s, segs[i+1]); all covered when next-1 <= seq.
		if segs[i+1]-1 <= seq {
			if err := os.Remove(filepath.Join(w.opts.Dir, segName(s))); err != nil {
				return fmt.Errorf("remove checkpointed wal segment: %w", err)
			}
		}
	}
	return nil
}

// Size is the bytes the log holds on disk.
func (w *WAL) Size() int64 {
	segs, _ := listSegments(w.opts.Dir)
	var n int64
	for _, s := range segs {
		if st, err := os.Stat(filepath.Join(w.opts.Dir, segName(s))); err == nil {
			n += st.Size()
		}
	}
	return n
}

// Close syncs and closes the log.
func (w *WAL) Close(ctx context.Context) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	err := w.w.Flush()
	if serr := w.f.Sync(); err == nil {
		err = serr
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.mu.Unlock()
	close(w.stop)
	select {
	case <-w.done:
	case <-ctx.Done():
	}
	return err
}

const checkpointFile = "checkpoint"

func readCheckpoint(dir string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read wal checkpoint: %w", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse wal checkpoint %q: %w", b, err)
	}
	return n, nil
}

// writeCheckpoint replaces the checkpoint atomically (write, fsync, rename).
func writeCheckpoint(dir string, seq uint64) error {
	tmp := filepath.Join(dir, checkpointFile+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write wal checkpoint: %w", err)
	}
	if _, err := f.WriteString(strconv.FormatUint(seq, 10)); err != nil {
		f.Close()
		return fmt.Errorf("write wal checkpoint: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync wal checkpoint: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close wal checkpoint: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, checkpointFile)); err != nil {
		return fmt.Errorf("install wal checkpoint: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s for sync: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
