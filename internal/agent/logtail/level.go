package logtail

import (
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/plog"
)

// Normalised levels, the same six the server's event rows use.
const (
	LevelTrace = "trace"
	LevelDebug = "debug"
	LevelInfo  = "info"
	LevelWarn  = "warn"
	LevelError = "error"
	LevelFatal = "fatal"
)

// levelScanLimit bounds the search for a level word: it is on the first
// line in every format seen in practice, and stack traces below it are full
// of words like ERROR that say nothing about the record.
const levelScanLimit = 4096

// normLevel maps a level as written by a program (any case, syslog and
// Java names, bunyan/pino numbers) to a normalised level, or "".
func normLevel(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if n, err := strconv.Atoi(s); err == nil {
		// bunyan and pino numbers: 10 trace … 60 fatal.
		switch {
		case n >= 60:
			return LevelFatal
		case n >= 50:
			return LevelError
		case n >= 40:
			return LevelWarn
		case n >= 30:
			return LevelInfo
		case n >= 20:
			return LevelDebug
		case n >= 10:
			return LevelTrace
		}
		return ""
	}
	switch strings.ToLower(s) {
	case "trace", "trc", "finest", "finer", "verbose":
		return LevelTrace
	case "debug", "dbg", "fine", "config", "debug1", "debug2", "debug3", "debug4", "debug5":
		return LevelDebug
	case "info", "inf", "information", "informational", "notice", "log":
		return LevelInfo
	case "warn", "warning", "wrn":
		return LevelWarn
	case "error", "err", "eror", "severe":
		return LevelError
	case "fatal", "critical", "crit", "alert", "emerg", "emergency", "panic":
		return LevelFatal
	}
	return ""
}

// severityNumber is the OpenTelemetry severity number of a normalised level.
func severityNumber(level string) plog.SeverityNumber {
	switch level {
	case LevelTrace:
		return plog.SeverityNumberTrace
	case LevelDebug:
		return plog.SeverityNumberDebug
	case LevelInfo:
		return plog.SeverityNumberInfo
	case LevelWarn:
		return plog.SeverityNumberWarn
	case LevelError:
		return plog.SeverityNumberError
	case LevelFatal:
		return plog.SeverityNumberFatal
	}
	return plog.SeverityNumberUnspecified
}

// detectLevel finds the first of ERROR, ERR, FATAL, CRITICAL, WARN,
// WARNING, INFO, DEBUG, TRACE that stands as a whole word on the record's
// first line; it returns the word as written and its normalised level.
// Only upper case counts: lower-case "error" is too common in messages.
func detectLevel(s string) (word, level string) {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > levelScanLimit {
		s = s[:levelScanLimit]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 'C' || c > 'W' || (i > 0 && isWordByte(s[i-1])) {
			continue
		}
		j := i + 1
		for j < len(s) && s[j] >= 'A' && s[j] <= 'Z' {
			j++
		}
		if j < len(s) && isWordByte(s[j]) {
			i = j
			continue
		}
		w := s[i:j]
		switch w {
		case "ERROR", "ERR":
			return w, LevelError
		case "FATAL", "CRITICAL":
			return w, LevelFatal
		case "WARN", "WARNING":
			return w, LevelWarn
		case "INFO":
			return w, LevelInfo
		case "DEBUG":
			return w, LevelDebug
		case "TRACE":
			return w, LevelTrace
		}
		i = j - 1
	}
	return "", ""
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
