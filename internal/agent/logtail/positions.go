package logtail

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// PositionsFile is the name of the positions file in the state directory.
const PositionsFile = "logtail-positions.json"

// fingerprintLen is how much of a file's start identifies its content: an
// inode number reused by a new file, or a file truncated and rewritten
// past the offset before the module looked, shows as a different start.
const fingerprintLen = 256

// fileKey is a file's identity (see fileKeyOf).
type fileKey struct{ dev, ino uint64 }

func (k fileKey) String() string {
	return strconv.FormatUint(k.dev, 10) + ":" + strconv.FormatUint(k.ino, 10)
}

func parseFileKey(s string) (fileKey, error) {
	d, i, ok := strings.Cut(s, ":")
	if !ok {
		return fileKey{}, fmt.Errorf("file id %q: want dev:inode", s)
	}
	dev, err1 := strconv.ParseUint(d, 10, 64)
	ino, err2 := strconv.ParseUint(i, 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return fileKey{}, fmt.Errorf("file id %q: %w", s, err)
	}
	return fileKey{dev, ino}, nil
}

// positions is the persisted state: the files being read with the offset
// below which every line is durable in the agent's spool, and the sources
// already expanded once (for start_at).
type positions struct {
	Version int        `json:"version"`
	Sources []string   `json:"sources"`
	Files   []posEntry `json:"files"`
}

type posEntry struct {
	ID    string `json:"id"`    // dev:inode
	Path  string `json:"path"`  // where the file was last seen
	Group string `json:"group"` // the path the glob matched; rotated files keep it
	// Offset is the committed offset: the start of the first line not yet
	// handed to emit (or of the multi-line record it belongs to).
	Offset  int64  `json:"offset"`
	FP      string `json:"fp"`               // hex of the file's first bytes (up to 256)
	ModTime int64  `json:"mtime"`            // Unix ns of the last change seen, to order rotated files
	Rotated bool   `json:"rotated"`          // no longer at its group path
	Closed  bool   `json:"closed,omitempty"` // rotated and read to its end
	// FreshSince (Unix ns) is set while nothing was read of a file found
	// empty or truncated: rotated copies made after it are read first.
	FreshSince int64 `json:"fresh_since,omitempty"`
}

// loadPositions reads the positions file; ok is false when there is none
// (the first start).
func loadPositions(path string) (p positions, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return positions{}, false, nil
	}
	if err != nil {
		return positions{}, false, fmt.Errorf("logtail: read positions: %w", err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return positions{}, false, fmt.Errorf("logtail: positions file %s: %w", path, err)
	}
	return p, true, nil
}

// savePositions replaces the positions file so that a crash at any moment
// leaves the old or the new content, never a mix: temp file, fsync,
// rename, fsync of the directory.
func savePositions(path string, p positions) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("logtail: encode positions: %w", err)
	}
	if err := writeFileAtomic(path, b); err != nil {
		return fmt.Errorf("logtail: save positions: %w", err)
	}
	return nil
}

func writeFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func encodeFP(fp []byte) string { return hex.EncodeToString(fp) }

func decodeFP(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) > fingerprintLen {
		return nil
	}
	return b
}
