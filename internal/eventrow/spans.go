package eventrow

import (
	"encoding/json"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/osprey-monitoring/osprey/internal/store/event"
)

// spanFixed is the number of fields Spans sets itself (type, _msg, ids,
// name, kind, status, timing, span.events).
const spanFixed = 16

// Spans converts traces to rows, one per span, timed at the span's end
// (transactions are plotted by end time).
func Spans(td ptrace.Traces) []event.Row {
	rows := make([]event.Row, 0, td.SpanCount())
	var b builder
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := b.resourceFields(rs.Resource().Attributes())
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			scope := b.scopeFields(ss.Scope())
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				rows = append(rows, b.span(spans.At(k), scope, res))
			}
		}
	}
	return rows
}

func (b *builder) span(sp ptrace.Span, scope, res []event.Field) event.Row {
	attrs := sp.Attributes()
	events := sp.Events()
	n := spanFixed + countAttrs(attrs) + len(scope) + len(res)
	for e := 0; e < events.Len(); e++ {
		if events.At(e).Name() == "exception" {
			n += countAttrs(events.At(e).Attributes())
		}
	}
	f := b.fields(n)

	start, end := sp.StartTimestamp(), sp.EndTimestamp()
	if end == 0 {
		end = start
	}
	f = append(f,
		event.Field{Name: FieldType, Value: TypeSpan},
		event.Field{Name: FieldMsg, Value: sp.Name()},
		event.Field{Name: FieldSpanName, Value: sp.Name()},
		event.Field{Name: FieldSpanKind, Value: spanKind(sp.Kind())},
		event.Field{Name: FieldStatus, Value: statusCode(sp.Status().Code())},
	)
	if tid := sp.TraceID(); !tid.IsEmpty() {
		f = append(f, event.Field{Name: FieldTraceID, Value: b.hex(tid[:])})
	}
	if sid := sp.SpanID(); !sid.IsEmpty() {
		f = append(f, event.Field{Name: FieldSpanID, Value: b.hex(sid[:])})
	}
	if pid := sp.ParentSpanID(); !pid.IsEmpty() {
		f = append(f, event.Field{Name: FieldParentSpanID, Value: b.hex(pid[:])})
	}
	if msg := sp.Status().Message(); msg != "" {
		f = append(f, event.Field{Name: FieldStatusMsg, Value: msg})
	}
	if start != 0 {
		f = append(f,
			event.Field{Name: FieldStart, Value: b.uint(uint64(start))},
			event.Field{Name: FieldEnd, Value: b.uint(uint64(end))},
			event.Field{Name: FieldDurationMs, Value: b.float(float64(int64(end)-int64(start)) / 1e6)},
		)
	}
	own := len(f)
	f = b.appendAttrs(f, own, "", attrs)
	if events.Len() > 0 {
		f = b.spanEvents(f, events)
	}
	f = appendInherited(f, scope, res)
	return event.Row{Time: time.Unix(0, int64(end)).UTC(), Fields: f}
}

// spanEvents lifts the last exception's attributes (exception.type,
// exception.message, exception.stacktrace) onto the row, so errors are
// searchable fields, and keeps every event as JSON in span.events.
func (b *builder) spanEvents(f []event.Field, events ptrace.SpanEventSlice) []event.Field {
	type jsonEvent struct {
		Name       string         `json:"name"`
		Time       string         `json:"time,omitempty"`
		Attributes map[string]any `json:"attributes,omitempty"`
	}
	all := make([]jsonEvent, 0, events.Len())
	lastExc := -1
	for e := 0; e < events.Len(); e++ {
		ev := events.At(e)
		je := jsonEvent{Name: ev.Name()}
		if ts := ev.Timestamp(); ts != 0 {
			je.Time = ts.AsTime().UTC().Format(time.RFC3339Nano)
		}
		if ev.Attributes().Len() > 0 {
			je.Attributes = ev.Attributes().AsRaw()
		}
		all = append(all, je)
		if ev.Name() == "exception" {
			lastExc = e
		}
	}
	if lastExc >= 0 {
		// Exception attributes override span attributes of the same name:
		// the event is the more specific description of the failure.
		guard := len(f)
		ev := events.At(lastExc)
		ev.Attributes().Range(func(k string, v pcommon.Value) bool {
			val := b.value(v)
			for i := range f[:guard] {
				if f[i].Name == k {
					f[i].Value = val
					return true
				}
			}
			f = addField(f, guard, k, val)
			return true
		})
	}
	if js, err := json.Marshal(all); err == nil {
		f = addField(f, len(f), FieldSpanEvents, b.str(js))
	}
	return f
}

func spanKind(k ptrace.SpanKind) string {
	switch k {
	case ptrace.SpanKindServer:
		return "server"
	case ptrace.SpanKindClient:
		return "client"
	case ptrace.SpanKindProducer:
		return "producer"
	case ptrace.SpanKindConsumer:
		return "consumer"
	default:
		// OTel: an unspecified kind means internal.
		return "internal"
	}
}

func statusCode(c ptrace.StatusCode) string {
	switch c {
	case ptrace.StatusCodeOk:
		return "ok"
	case ptrace.StatusCodeError:
		return "error"
	default:
		return "unset"
	}
}
