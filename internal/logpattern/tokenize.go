package logpattern

// Tokenising and masking. The scanner works on bytes and returns
// substrings of the line, so a line costs no allocation here; multi-byte
// UTF-8 runes pass through as parts of words.

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// isSep reports the punctuation split off words as tokens of their own:
// what joins keys to values and wraps lists, so "user=42," becomes
// "user", "=", "<*>", ",". Dots, slashes and dashes stay inside words
// (host names, paths, versions).
func isSep(c byte) bool {
	switch c {
	case '=', ':', ',', ';', '(', ')', '[', ']', '{', '}':
		return true
	}
	return false
}

// opensQuote reports whether a quote after c starts a quoted string (at a
// word start, or after a separator as in key="v"), rather than being an
// apostrophe as in "don't".
func opensQuote(c byte) bool {
	switch c {
	case '=', ':', '(', '[', '{', ',':
		return true
	}
	return false
}

// closesQuote reports whether c may follow a closing quote.
func closesQuote(c byte) bool {
	return isSpace(c) || isSep(c) || c == '.' || c == '&' || c == '|'
}

func hasDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			return true
		}
	}
	return false
}

// quoteScanner finds closing quotes. A failed search from position j means
// no valid close follows j, so later searches from beyond j fail at once;
// that keeps lines full of stray quotes linear.
type quoteScanner struct {
	failed [2]int // per quote kind: searches starting at or after this fail
}

func (q *quoteScanner) reset(n int) { q.failed = [2]int{n + 1, n + 1} }

// close returns the index of the quote closing s[j], or -1. Backslash
// escapes the next byte; the close must be followed by the end of s or a
// byte closesQuote accepts.
func (q *quoteScanner) close(s string, j int) int {
	kind := 0
	if s[j] == '\'' {
		kind = 1
	}
	if j >= q.failed[kind] {
		return -1
	}
	qc := s[j]
	for k := j + 1; k < len(s); k++ {
		switch s[k] {
		case '\\':
			k++
		case qc:
			if k+1 == len(s) || closesQuote(s[k+1]) {
				return k
			}
		}
	}
	q.failed[kind] = j
	return -1
}

// isVar reports whether a whole token (no whitespace) is an obvious
// variable.
func isVar(s string) bool {
	if s == "" {
		return false
	}
	c := s[0]
	if isDigit(c) {
		// Numbers, durations (15ms, 1h2m), sizes, IPs (and ip:port),
		// timestamps, versions like 1.2.3, 0x1f.
		return true
	}
	if (c == '-' || c == '+' || c == '.') && len(s) > 1 && isDigit(s[1]) {
		return true
	}
	digits, hexChars := 0, 0
	hexDash, hexColon := true, true
	slash := false
	colons := 0
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case isDigit(b):
			digits++
			hexChars++
		case isHex(b):
			hexChars++
		case b == '-':
			hexColon = false
		case b == ':':
			colons++
			hexDash = false
		case b == '/':
			slash = true
			hexDash, hexColon = false, false
		default:
			hexDash, hexColon = false, false
		}
	}
	switch {
	case digits == 0:
		return false
	case slash:
		// Paths and URLs with ids in them.
		return true
	case hexDash && hexChars >= 8:
		// Hex ids, hashes, UUIDs.
		return true
	case hexColon && colons >= 2:
		// IPv6 addresses, MAC addresses.
		return true
	case len(s) >= 16:
		// Long identifiers mixing letters and digits (tokens, base64).
		return true
	}
	return false
}

// tokenize splits line into tokens in m.scratch, masking variables.
func (m *Miner) tokenize(line string) []token {
	if len(line) > m.opts.MaxLineBytes {
		line = line[:m.opts.MaxLineBytes]
	}
	var qs quoteScanner
	qs.reset(len(line))
	toks := m.scratch[:0]
	limit := m.opts.MaxTokens
	sp := false
	i := 0
	for i < len(line) && len(toks) <= limit {
		if isSpace(line[i]) {
			sp = len(toks) > 0
			i++
			continue
		}
		// A word runs to the next whitespace outside quotes, so a quoted
		// string with spaces stays one variable.
		j := i
		for j < len(line) && !isSpace(line[j]) {
			if c := line[j]; (c == '"' || c == '\'') && (j == i || opensQuote(line[j-1])) {
				if k := qs.close(line, j); k > 0 {
					j = k + 1
					continue
				}
			}
			j++
		}
		toks = m.word(toks, line[i:j], sp)
		sp = false
		i = j
	}
	if len(toks) > limit {
		toks = append(toks[:limit-1], token{s: Wildcard, sp: true})
	}
	m.scratch = toks
	return toks
}

// word appends the tokens of one whitespace-free word.
func (m *Miner) word(toks []token, w string, sp bool) []token {
	if w == Wildcard {
		return append(toks, token{Wildcard, sp})
	}
	// A variable, possibly wrapped in brackets or followed by punctuation:
	// "[12:30:45]", "(5ms)", "10.0.0.1,", "3s.". Colons may be inside (times,
	// addresses); other separators mean a structure to split.
	lead, trail := 0, len(w)
	for lead < len(w) && (w[lead] == '[' || w[lead] == '(' || w[lead] == '{') {
		lead++
	}
	for trail > lead && (w[trail-1] == ']' || w[trail-1] == ')' || w[trail-1] == '}' ||
		w[trail-1] == ',' || w[trail-1] == ';' || w[trail-1] == ':' || w[trail-1] == '.') {
		trail--
	}
	if core := w[lead:trail]; core != "" && !hasStructure(core) && isVar(core) {
		for k := 0; k < lead; k++ {
			toks = append(toks, token{w[k : k+1], sp})
			sp = false
		}
		toks = append(toks, token{Wildcard, sp})
		for k := trail; k < len(w); k++ {
			toks = append(toks, token{w[k : k+1], false})
		}
		return toks
	}

	var qs quoteScanner
	qs.reset(len(w))
	start := 0
	flush := func(end int) {
		if start < end {
			p := w[start:end]
			if isVar(p) {
				p = Wildcard
			}
			toks = append(toks, token{p, sp})
			sp = false
		}
	}
	for k := 0; k < len(w); {
		c := w[k]
		if (c == '"' || c == '\'') && k == start && (k == 0 || opensQuote(w[k-1])) {
			if e := qs.close(w, k); e > 0 {
				if e+1 < len(w) && w[e+1] == ':' {
					// A JSON object key: structure, not data.
					toks = append(toks, token{w[k : e+1], sp})
				} else {
					toks = append(toks, token{Wildcard, sp})
				}
				sp = false
				k = e + 1
				start = k
				continue
			}
		}
		if isSep(c) {
			flush(k)
			toks = append(toks, token{w[k : k+1], sp})
			sp = false
			k++
			start = k
			continue
		}
		k++
	}
	flush(len(w))
	return toks
}

// hasStructure reports quotes or separators other than ':'.
func hasStructure(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\'' || (c != ':' && isSep(c)) {
			return true
		}
	}
	return false
}
