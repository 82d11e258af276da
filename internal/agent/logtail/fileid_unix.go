//go:build unix

package logtail

import (
	"os"
	"syscall"
)

// fileKeyOf is the file's identity: device and inode survive renames, which
// is how a rotated file is told from its successor. (The conversions are
// for platforms whose Stat_t fields are not uint64.)
func fileKeyOf(fi os.FileInfo) fileKey {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}
	}
	return fileKey{dev: uint64(st.Dev), ino: uint64(st.Ino)}
}
