// Package envelope holds what Osprey's own JSON APIs share: the
// Prometheus-style response envelope ({"status":"success","data":…} or
// {"status":"error","errorType":…,"error":…}), the mapping of store errors
// to HTTP statuses, and the time parameters every query takes.
package envelope

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/osprey-monitoring/osprey/internal/store/event"
)

// ParseTime reads RFC3339, unix seconds (float), "now" (or empty), or a
// time relative to now: "-15m", "now-1h", "-2d".
func ParseTime(s string, now time.Time) (time.Time, error) {
	if s == "" || s == "now" {
		return now, nil
	}
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "now-") {
		rel := strings.TrimPrefix(strings.TrimPrefix(s, "now"), "-")
		if d, err := time.ParseDuration(rel); err == nil {
			return now.Add(-d), nil
		}
		if days, ok := strings.CutSuffix(rel, "d"); ok {
			if n, err := strconv.ParseFloat(days, 64); err == nil && n >= 0 {
				return now.Add(-time.Duration(n * float64(24*time.Hour))), nil
			}
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
			return time.Time{}, fmt.Errorf("unix time %q out of range", s)
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e9))), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q: want RFC3339, unix seconds or a relative time like -15m", s)
}

// ParseRange reads the "start" and "end" parameters: end defaults to now,
// start to end minus def. Whether start may equal end is the caller's rule.
func ParseRange(v url.Values, now time.Time, def time.Duration) (start, end time.Time, err error) {
	end = now
	if s := v.Get("end"); s != "" {
		if end, err = ParseTime(s, now); err != nil {
			return start, end, fmt.Errorf("invalid end: %w", err)
		}
	}
	start = end.Add(-def)
	if s := v.Get("start"); s != "" {
		if start, err = ParseTime(s, now); err != nil {
			return start, end, fmt.Errorf("invalid start: %w", err)
		}
	}
	return start, end, nil
}

// WriteStoreError answers for an error from a store query.
func WriteStoreError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, event.ErrBadQuery):
		WriteError(w, http.StatusBadRequest, "bad_data", err.Error())
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		WriteError(w, 499, "canceled", "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		WriteError(w, http.StatusServiceUnavailable, "timeout", err.Error())
	default:
		WriteError(w, http.StatusInternalServerError, "internal", err.Error())
	}
}

// WriteData answers 200 with data in the success envelope.
func WriteData(w http.ResponseWriter, data any) {
	WriteJSON(w, http.StatusOK, map[string]any{"status": "success", "data": data})
}

// WriteError answers code with the error envelope.
func WriteError(w http.ResponseWriter, code int, typ, msg string) {
	WriteJSON(w, code, map[string]any{"status": "error", "errorType": typ, "error": msg})
}

// WriteJSON answers code with v as JSON.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// ParseLimit reads ?limit=: def when absent, at most max, an error when
// it is not a positive integer.
func ParseLimit(v url.Values, def, max int) (int, error) {
	s := v.Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("limit: want a positive integer, got %q", s)
	}
	return min(n, max), nil
}

// Num is a figure that may be unknown: NaN and infinities marshal as
// null, others rounded to three decimals.
type Num float64

func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, math.Round(f*1000)/1000, 'f', -1, 64), nil
}
