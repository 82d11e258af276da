package event

import (
	"math"
	"strconv"
)

// rangeFilter renders a Range as the engine's numeric comparisons, which
// match only values that parse as numbers (rows without the field, or
// with text in it, never match).
func rangeFilter(r Range) (string, error) {
	if r.Field == "" {
		return "", badQuery("range without field name")
	}
	switch r.Field {
	case FieldTime, "_stream", "_stream_id":
		return "", badQuery("cannot filter on %s; use start/end", r.Field)
	}
	if math.IsNaN(r.Min) || math.IsNaN(r.Max) || math.IsInf(r.Min, 1) || math.IsInf(r.Max, -1) {
		return "", badQuery("invalid range [%v, %v) for %s", r.Min, r.Max, r.Field)
	}
	if r.Min >= r.Max {
		return "", badQuery("empty range [%v, %v) for %s", r.Min, r.Max, r.Field)
	}
	field := quote(r.Field)
	lo, hi := !math.IsInf(r.Min, -1), !math.IsInf(r.Max, 1)
	switch {
	case lo && hi:
		return field + ":>=" + number(r.Min) + " " + field + ":<" + number(r.Max), nil
	case lo:
		return field + ":>=" + number(r.Min), nil
	case hi:
		return field + ":<" + number(r.Max), nil
	}
	return "", badQuery("range for %s has no bound", r.Field)
}

// number formats f as plain decimal digits, the form the engine's number
// parser reads exactly (it takes scientific notation only on a slower,
// heuristic path).
func number(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
