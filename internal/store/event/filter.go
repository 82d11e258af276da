package event

import (
	"fmt"
	"strings"
)

// ParseFilter reads the filter syntax of the HTTP APIs: "field<op>value"
// split at the first operator, one of "!=", "!~", "=" and "~" (contains).
// A lone '!' belongs to the field name.
func ParseFilter(s string) (Filter, error) {
	i := strings.IndexAny(s, "=~!")
	for i >= 0 {
		switch {
		case strings.HasPrefix(s[i:], "!="), strings.HasPrefix(s[i:], "!~"):
			return newFilter(s[:i], s[i:i+2], s[i+2:])
		case s[i] == '=' || s[i] == '~':
			return newFilter(s[:i], s[i:i+1], s[i+1:])
		}
		j := strings.IndexAny(s[i+1:], "=~!")
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return Filter{}, fmt.Errorf("invalid filter %q: want field=value, field!=value, field~substring or field!~substring", s)
}

func newFilter(field, op, value string) (Filter, error) {
	field = strings.TrimSpace(field)
	if field == "" {
		return Filter{}, fmt.Errorf("invalid filter: empty field name before %q", op)
	}
	return Filter{Field: field, Op: op, Value: value}, nil
}
