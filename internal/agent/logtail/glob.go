package logtail

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
)

// compressedExt are rotated files that are never read: their bytes are not
// the lines the source's files held.
var compressedExt = []string{".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip", ".Z", ".br", ".lzma"}

func isCompressed(name string) bool {
	for _, ext := range compressedExt {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// checkGlob reports a pattern filepath.Match would refuse, or a ** that is
// not a whole path segment.
func checkGlob(p string) error {
	for _, seg := range strings.Split(filepath.ToSlash(p), "/") {
		if seg == "**" {
			continue
		}
		if strings.Contains(seg, "**") {
			return errors.New("** must be a whole path segment")
		}
		if _, err := filepath.Match(seg, ""); err != nil {
			return err
		}
	}
	return nil
}

// expandGlob lists the paths matching pattern; ** matches any number of
// directories (walked from the longest literal prefix, not following
// symbolic links to directories).
func expandGlob(pattern string) []string {
	if !strings.Contains(pattern, "**") {
		m, _ := filepath.Glob(pattern) // the only error is a bad pattern, refused in New
		return m
	}
	segs := strings.Split(pattern, string(filepath.Separator))
	n := 0
	for n < len(segs) && !hasMeta(segs[n]) {
		n++
	}
	root := strings.Join(segs[:n], string(filepath.Separator))
	if root == "" {
		root = string(filepath.Separator)
		if !filepath.IsAbs(pattern) {
			root = "."
		}
	}
	var out []string
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			// An unreadable directory hides its files; the others still count.
			if d != nil && d.IsDir() && path != root {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() && matchGlob(pattern, path) {
			out = append(out, path)
		}
		return nil
	})
	return out
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// matchGlob matches name against pattern segment by segment, ** standing
// for zero or more segments.
func matchGlob(pattern, name string) bool {
	return matchSegs(strings.Split(pattern, string(filepath.Separator)), strings.Split(name, string(filepath.Separator)))
}

func matchSegs(p, n []string) bool {
	for len(p) > 0 {
		if p[0] == "**" {
			for i := 0; i <= len(n); i++ {
				if matchSegs(p[1:], n[i:]) {
					return true
				}
			}
			return false
		}
		if len(n) == 0 {
			return false
		}
		if ok, _ := filepath.Match(p[0], n[0]); !ok {
			return false
		}
		p, n = p[1:], n[1:]
	}
	return len(n) == 0
}

// excluded reports whether path matches one of the exclude patterns; a
// pattern without a separator is matched against the base name.
func excluded(patterns []string, path string) bool {
	for _, p := range patterns {
		if !strings.ContainsRune(p, filepath.Separator) {
			if ok, _ := filepath.Match(p, filepath.Base(path)); ok {
				return true
			}
			continue
		}
		if matchGlob(filepath.Clean(p), path) {
			return true
		}
	}
	return false
}

// matches reports whether the source's globs (not its excludes) cover path.
func (s *source) matches(path string) bool {
	for _, p := range s.paths {
		if matchGlob(p, path) {
			return true
		}
	}
	return false
}
