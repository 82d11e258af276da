package event

import "strings"

// inFilter renders an In as an or-group of exact matches, which keeps the
// "=" filter's meaning for each value (including "" for a missing field).
func inFilter(in In) (string, error) {
	if in.Field == "" {
		return "", badQuery("value list without field name")
	}
	switch in.Field {
	case FieldTime, "_stream", "_stream_id":
		return "", badQuery("cannot filter on %s; use start/end", in.Field)
	}
	if len(in.Values) == 0 {
		return "", badQuery("empty value list for %s", in.Field)
	}
	field := quote(in.Field)
	alt := make([]string, len(in.Values))
	for i, v := range in.Values {
		alt[i] = field + ":=" + quote(v)
	}
	if len(alt) == 1 {
		return alt[0], nil
	}
	return "(" + strings.Join(alt, " or ") + ")", nil
}
