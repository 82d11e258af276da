package eventrow

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/osprey-monitoring/osprey/internal/store/event"
)

const logFixed = 8 // type, _msg, level, trace_id, span_id, category, severity_text, event.name

// Logs converts log records to rows. The level is normalised to
// trace/debug/info/warn/error/fatal (omitted when the record has no
// severity); map bodies, and string bodies holding a JSON object, are
// flattened into fields and also kept as JSON in _msg.
func Logs(ld plog.Logs) []event.Row {
	rows := make([]event.Row, 0, ld.LogRecordCount())
	var b builder
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := b.resourceFields(rl.Resource().Attributes())
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			scope := b.scopeFields(sl.Scope())
			recs := sl.LogRecords()
			for k := 0; k < recs.Len(); k++ {
				rows = append(rows, b.log(recs.At(k), scope, res))
			}
		}
	}
	return rows
}

func (b *builder) log(lr plog.LogRecord, scope, res []event.Field) event.Row {
	attrs := lr.Attributes()
	body := lr.Body()

	// A string body that holds a JSON object is treated as a map body.
	var parsed map[string]any
	if body.Type() == pcommon.ValueTypeStr {
		if s := body.Str(); len(s) > 1 && s[0] == '{' && s[len(s)-1] == '}' {
			d := json.NewDecoder(strings.NewReader(s))
			d.UseNumber()
			if d.Decode(&parsed) != nil {
				parsed = nil
			}
		}
	}
	n := logFixed + countAttrs(attrs) + len(scope) + len(res)
	switch {
	case body.Type() == pcommon.ValueTypeMap:
		n += countAttrs(body.Map())
	case parsed != nil:
		n += countJSON(parsed)
	}
	f := b.fields(n)

	f = append(f, event.Field{Name: FieldType, Value: TypeLog})
	switch {
	case body.Type() == pcommon.ValueTypeStr:
		f = addField(f, 0, FieldMsg, body.Str())
	case body.Type() == pcommon.ValueTypeMap:
		// Compact JSON of the whole body, so nothing is lost to flattening.
		if js, err := json.Marshal(body.Map().AsRaw()); err == nil {
			f = addField(f, 0, FieldMsg, b.str(js))
		}
	case body.Type() != pcommon.ValueTypeEmpty:
		f = addField(f, 0, FieldMsg, b.value(body))
	}
	f = addField(f, 0, FieldLevel, level(lr.SeverityText(), lr.SeverityNumber()))
	if lr.SeverityText() != "" {
		f = addField(f, 0, "severity_text", lr.SeverityText())
	}
	f = addField(f, 0, "event.name", lr.EventName())
	if tid := lr.TraceID(); !tid.IsEmpty() {
		f = append(f, event.Field{Name: FieldTraceID, Value: b.hex(tid[:])})
	}
	if sid := lr.SpanID(); !sid.IsEmpty() {
		f = append(f, event.Field{Name: FieldSpanID, Value: b.hex(sid[:])})
	}
	catAt := len(f)
	f = append(f, event.Field{Name: FieldCategory}) // filled below

	own := len(f)
	f = b.appendAttrs(f, own, "", attrs)
	own = len(f)
	switch {
	case body.Type() == pcommon.ValueTypeMap:
		f = b.appendAttrs(f, own, "", body.Map())
	case parsed != nil:
		f = b.appendJSON(f, own, "", parsed)
	}
	f = appendInherited(f, scope, res)

	cat := firstNonEmpty(attrStr(attrs, "log.category"), attrStr(attrs, "log.file.name"), lookup(f, "service.name"))
	if cat == "" {
		f = append(f[:catAt], f[catAt+1:]...)
	} else {
		f[catAt].Value = cat
	}

	ts := lr.Timestamp()
	if ts == 0 {
		ts = lr.ObservedTimestamp()
	}
	var t time.Time
	if ts != 0 {
		t = time.Unix(0, int64(ts)).UTC()
	}
	return event.Row{Time: t, Fields: f}
}

// level normalises OTel severity to trace/debug/info/warn/error/fatal:
// the text when it is a known name, else the number's range.
func level(text string, num plog.SeverityNumber) string {
	if text != "" {
		switch strings.ToLower(strings.TrimSpace(text)) {
		case "trace", "finest", "finer":
			return "trace"
		case "debug", "fine", "config":
			return "debug"
		case "info", "information", "informational", "notice":
			return "info"
		case "warn", "warning":
			return "warn"
		case "error", "err", "severe":
			return "error"
		case "fatal", "critical", "crit", "alert", "emerg", "emergency", "panic":
			return "fatal"
		}
	}
	switch {
	case num >= plog.SeverityNumberFatal:
		return "fatal"
	case num >= plog.SeverityNumberError:
		return "error"
	case num >= plog.SeverityNumberWarn:
		return "warn"
	case num >= plog.SeverityNumberInfo:
		return "info"
	case num >= plog.SeverityNumberDebug:
		return "debug"
	case num >= plog.SeverityNumberTrace:
		return "trace"
	}
	return ""
}

func countJSON(m map[string]any) int {
	n := 0
	for _, v := range m {
		if sub, ok := v.(map[string]any); ok {
			n += countJSON(sub)
		} else {
			n++
		}
	}
	return n
}

func (b *builder) appendJSON(dst []event.Field, guard int, prefix string, m map[string]any) []event.Field {
	for k, v := range m {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		switch v := v.(type) {
		case map[string]any:
			dst = b.appendJSON(dst, guard, name, v)
		case string:
			dst = addField(dst, guard, name, v)
		case json.Number:
			dst = addField(dst, guard, name, v.String())
		case bool:
			if v {
				dst = addField(dst, guard, name, "true")
			} else {
				dst = addField(dst, guard, name, "false")
			}
		case nil:
		default:
			var buf bytes.Buffer
			if json.NewEncoder(&buf).Encode(v) == nil {
				dst = addField(dst, guard, name, b.str(bytes.TrimSpace(buf.Bytes())))
			}
		}
	}
	return dst
}

func attrStr(m pcommon.Map, k string) string {
	if v, ok := m.Get(k); ok {
		return v.AsString()
	}
	return ""
}
