//go:build !unix

package logtail

import (
	"hash/fnv"
	"os"
)

// fileKeyOf has no inode to go by off Unix: the base name stands in, so a
// file replaced at the same path is seen through its fingerprint (as a
// truncation) and the unread tail of a renamed file is not followed.
func fileKeyOf(fi os.FileInfo) fileKey {
	h := fnv.New64a()
	h.Write([]byte(fi.Name()))
	return fileKey{dev: h.Sum64()}
}
