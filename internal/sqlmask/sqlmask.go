// Package sqlmask replaces literals in SQL text with ? so statements can be shown
// and grouped without the data in them. The agent's db module, the Go APM
// library and the server's span ingest share it.
package sqlmask

import (
	"strings"
	"unicode/utf8"
)

// Dialect selects the lexical rules that differ between engines.
type Dialect uint8

const (
	// MySQL: '…' and "…" are strings with backslash escapes, `…`
	// is an identifier, # starts a comment.
	MySQL Dialect = iota
	// Postgres: "…" is an identifier, E'…' takes backslash
	// escapes, $tag$…$tag$ is a string, $1 is a parameter.
	Postgres
)

// MaxQueryBytes bounds one query text we send; longer texts are cut at a
// rune boundary. Session lists run every few seconds, and a multi-megabyte
// INSERT must not turn each snapshot into a bulk upload.
const MaxQueryBytes = 64 << 10

// Mask replaces string and numeric literals with ? so sessions and
// statements can be shown without the data in them. Identifiers (quoted or
// not, including digits inside them like t1), keywords, parameters and
// comments are left as they are. It works on bytes, treats every non-ASCII
// byte as part of an identifier and only cuts at ASCII bytes, so valid
// UTF-8 stays valid; the result is never longer than q.
func Mask(q string, d Dialect) string {
	var b strings.Builder
	b.Grow(len(q))
	n := len(q)
	for i := 0; i < n; {
		c := q[i]
		switch {
		case c == '\'':
			i = skipString(q, i, '\'', d == MySQL)
			b.WriteByte('?')
		case c == '"' && d == MySQL:
			i = skipString(q, i, '"', true)
			b.WriteByte('?')
		case c == '"' || c == '`':
			j := skipString(q, i, c, false)
			b.WriteString(q[i:j])
			i = j
		case c == '$' && d == Postgres:
			if j, ok := skipDollarString(q, i); ok {
				b.WriteByte('?')
				i = j
				break
			}
			// $1 parameter or a lone $: keep it and the digits after it.
			j := i + 1
			for j < n && isDigit(q[j]) {
				j++
			}
			b.WriteString(q[i:j])
			i = j
		case c == '-' && i+1 < n && q[i+1] == '-' && (d == Postgres || i+2 >= n || isSpace(q[i+2])):
			j := lineEnd(q, i)
			b.WriteString(q[i:j])
			i = j
		case c == '#' && d == MySQL:
			j := lineEnd(q, i)
			b.WriteString(q[i:j])
			i = j
		case c == '/' && i+1 < n && q[i+1] == '*':
			j := skipBlockComment(q, i, d == Postgres)
			b.WriteString(q[i:j])
			i = j
		case isDigit(c) || (c == '.' && i+1 < n && isDigit(q[i+1])):
			if i > 0 && (isIdent(q[i-1], d) || (c == '.' && q[i-1] == '.')) {
				// A digit continuing a word we already copied, e.g. the
				// "1" of "t1" split by a preceding token.
				b.WriteByte(c)
				i++
				break
			}
			j := skipNumber(q, i)
			if j < n && isIdent(q[j], d) {
				// MySQL allows identifiers that start with digits (1a,
				// 2e_col): the whole word is a name.
				k := wordEnd(q, j, d)
				b.WriteString(q[i:k])
				i = k
				break
			}
			b.WriteByte('?')
			i = j
		case isIdent(c, d):
			j := wordEnd(q, i, d)
			if k, ok := prefixedString(q, i, j, d); ok {
				b.WriteByte('?')
				i = k
				break
			}
			b.WriteString(q[i:j])
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// prefixedString reports whether the word q[i:j] is a literal prefix
// glued to a string (N'…', X'…', B'…', E'…', U&'…', _utf8mb4'…') and
// where that literal ends.
func prefixedString(q string, i, j int, d Dialect) (int, bool) {
	n := len(q)
	if j < n && q[j] == '&' && j-i == 1 && (q[i] == 'u' || q[i] == 'U') && j+1 < n && q[j+1] == '\'' {
		return skipString(q, j+1, '\'', false), true
	}
	if j >= n || q[j] != '\'' {
		return 0, false
	}
	w := q[i:j]
	switch {
	case len(w) == 1 && strings.ContainsRune("nNxXbB", rune(w[0])):
		return skipString(q, j, '\'', d == MySQL), true
	case len(w) == 1 && (w[0] == 'e' || w[0] == 'E') && d == Postgres:
		return skipString(q, j, '\'', true), true
	case len(w) > 1 && w[0] == '_' && d == MySQL:
		return skipString(q, j, '\'', true), true
	}
	return 0, false
}

// skipString returns the index after the string starting at q[i] (the
// opening quote). A doubled quote is an escaped quote; with backslash, \x
// escapes too. An unterminated string runs to the end.
func skipString(q string, i int, quote byte, backslash bool) int {
	n := len(q)
	for j := i + 1; j < n; j++ {
		switch q[j] {
		case '\\':
			if backslash {
				j++
			}
		case quote:
			if j+1 < n && q[j+1] == quote {
				j++
				continue
			}
			return j + 1
		}
	}
	return n
}

// skipDollarString recognises PostgreSQL's $$…$$ and $tag$…$tag$.
func skipDollarString(q string, i int) (int, bool) {
	n := len(q)
	j := i + 1
	if j < n && (isDigit(q[j])) {
		return 0, false // $1: a parameter
	}
	for j < n && (isIdentASCII(q[j]) || q[j] >= utf8.RuneSelf) {
		j++
	}
	if j >= n || q[j] != '$' {
		return 0, false
	}
	tag := q[i : j+1]
	if end := strings.Index(q[j+1:], tag); end >= 0 {
		return j + 1 + end + len(tag), true
	}
	return n, true
}

func skipBlockComment(q string, i int, nested bool) int {
	n := len(q)
	depth := 0
	for j := i; j+1 < n; j++ {
		switch {
		case q[j] == '/' && q[j+1] == '*':
			if depth == 0 || nested {
				depth++
			}
			j++
		case q[j] == '*' && q[j+1] == '/':
			depth--
			j++
			if depth == 0 {
				return j + 1
			}
		}
	}
	return n
}

// skipNumber returns the end of the numeric literal at q[i]: 0x1F, 0b101,
// 12, 1.5, .5, 1e-3.
func skipNumber(q string, i int) int {
	n := len(q)
	if q[i] == '0' && i+2 < n && (q[i+1] == 'x' || q[i+1] == 'X') && isHex(q[i+2]) {
		j := i + 2
		for j < n && isHex(q[j]) {
			j++
		}
		return j
	}
	if q[i] == '0' && i+2 < n && (q[i+1] == 'b' || q[i+1] == 'B') && (q[i+2] == '0' || q[i+2] == '1') {
		j := i + 2
		for j < n && (q[j] == '0' || q[j] == '1') {
			j++
		}
		return j
	}
	j := i
	for j < n && isDigit(q[j]) {
		j++
	}
	if j < n && q[j] == '.' {
		j++
		for j < n && isDigit(q[j]) {
			j++
		}
	}
	if j < n && (q[j] == 'e' || q[j] == 'E') {
		k := j + 1
		if k < n && (q[k] == '+' || q[k] == '-') {
			k++
		}
		if k < n && isDigit(q[k]) {
			for k < n && isDigit(q[k]) {
				k++
			}
			j = k
		}
	}
	return j
}

func lineEnd(q string, i int) int {
	if k := strings.IndexByte(q[i:], '\n'); k >= 0 {
		return i + k
	}
	return len(q)
}

// wordEnd returns the end of the word starting at q[i]; PostgreSQL allows
// $ inside (not at the start of) a name.
func wordEnd(q string, i int, d Dialect) int {
	for i < len(q) && (isIdent(q[i], d) || (d == Postgres && q[i] == '$')) {
		i++
	}
	return i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f') }
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isIdentASCII(c byte) bool {
	return c == '_' || isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

// isIdent reports whether c can be part of a name; $ can start one only in
// MySQL.
func isIdent(c byte, d Dialect) bool {
	return isIdentASCII(c) || c >= utf8.RuneSelf || (c == '$' && d == MySQL)
}

// Truncate cuts q to MaxQueryBytes without splitting a rune.
func Truncate(q string) string {
	if len(q) <= MaxQueryBytes {
		return q
	}
	cut := MaxQueryBytes
	for cut > 0 && !utf8.RuneStart(q[cut]) {
		cut--
	}
	return q[:cut]
}
