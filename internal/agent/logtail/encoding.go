package logtail

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// textEncoding is how a file's bytes become lines of UTF-8 text. Lines are
// split on the raw bytes, before decoding, so every offset the module keeps
// is a byte offset in the file: in the ASCII-compatible encodings here no
// multi-byte character contains 0x0A, and in UTF-16 the newline is a
// 2-byte unit at an even offset.
type textEncoding struct {
	name      string
	unit      int // 1, or 2 for UTF-16: lines start and end on multiples of it
	bigEndian bool
	enc       encoding.Encoding // nil for UTF-8
}

func lookupEncoding(name string) (*textEncoding, error) {
	switch strings.ToLower(strings.ReplaceAll(name, "_", "-")) {
	case "", "utf-8", "utf8":
		return &textEncoding{name: "utf-8", unit: 1}, nil
	case "utf-16le", "utf16le":
		return &textEncoding{name: "utf-16le", unit: 2, enc: unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)}, nil
	case "utf-16be", "utf16be":
		return &textEncoding{name: "utf-16be", unit: 2, bigEndian: true, enc: unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)}, nil
	case "euc-kr", "euckr", "cp949", "ks-c-5601-1987":
		return &textEncoding{name: "euc-kr", unit: 1, enc: korean.EUCKR}, nil
	case "shift-jis", "shiftjis", "sjis", "cp932":
		return &textEncoding{name: "shift_jis", unit: 1, enc: japanese.ShiftJIS}, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1":
		return &textEncoding{name: "iso-8859-1", unit: 1, enc: charmap.ISO8859_1}, nil
	}
	return nil, fmt.Errorf("unknown encoding %q (want utf-8, utf-16le, utf-16be, euc-kr, shift_jis or iso-8859-1)", name)
}

// lineEnd finds the first newline in b, which starts at a unit boundary:
// it returns the index where the line's content ends and the index after
// the newline, or -1, -1.
func (e *textEncoding) lineEnd(b []byte) (end, next int) {
	if e.unit == 1 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return -1, -1
		}
		return i, i + 1
	}
	for j := 0; ; {
		i := bytes.IndexByte(b[j:], '\n')
		if i < 0 {
			return -1, -1
		}
		i += j
		if e.bigEndian {
			if i%2 == 1 && b[i-1] == 0 {
				return i - 1, i + 1
			}
		} else if i%2 == 0 && i+1 < len(b) && b[i+1] == 0 {
			return i, i + 2
		} else if i%2 == 0 && i+1 == len(b) {
			// The second byte of the unit has not been read yet.
			return -1, -1
		}
		j = i + 1
	}
}

// cut is the longest prefix of b of at most n bytes that ends on a
// character boundary (best effort for the legacy encodings), for
// splitting an over-long line.
func (e *textEncoding) cut(b []byte, n int) int {
	if n >= len(b) {
		return len(b)
	}
	if e.unit == 2 {
		return n &^ 1
	}
	if e.enc == nil {
		// Back off over UTF-8 continuation bytes.
		for i := n; i > n-utf8.UTFMax && i > 0; i-- {
			if utf8.RuneStart(b[i]) {
				return i
			}
		}
	}
	return n
}

// decoder turns raw lines of one encoding into UTF-8; it keeps its scratch
// buffer, so the result is valid until the next call.
type decoder struct {
	enc *textEncoding
	t   transform.Transformer
	buf []byte
}

func newDecoder(e *textEncoding) *decoder {
	d := &decoder{enc: e}
	if e.enc != nil {
		d.t = e.enc.NewDecoder()
	}
	return d
}

// decode returns line as valid UTF-8 without a trailing CR or a leading
// byte order mark (at the start of a file).
func (d *decoder) decode(line []byte, atStart bool) []byte {
	if d.t == nil {
		if atStart {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		line = trimCR(line)
		if !utf8.Valid(line) {
			return bytes.ToValidUTF8(line, []byte("\uFFFD"))
		}
		return line
	}
	d.t.Reset()
	if cap(d.buf) < 2*len(line)+16 {
		d.buf = make([]byte, 2*len(line)+64)
	}
	dst := d.buf[:cap(d.buf)]
	nDst := 0
	for src := line; ; {
		n, nSrc, err := d.t.Transform(dst[nDst:], src, true)
		nDst += n
		src = src[nSrc:]
		if err != transform.ErrShortDst {
			break
		}
		grown := make([]byte, 2*len(dst))
		copy(grown, dst[:nDst])
		dst = grown
	}
	d.buf = dst
	out := dst[:nDst]
	if atStart {
		out = bytes.TrimPrefix(out, []byte("\xef\xbb\xbf"))
	}
	return trimCR(out)
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}
