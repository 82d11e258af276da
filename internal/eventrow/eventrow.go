// Package eventrow converts OTLP traces and logs and Osprey agent snapshots
// into event store rows. It is pure (no I/O) and sits on the ingest hot
// path, so it allocates per batch rather than per field: field slices are
// carved from shared slabs and formatted numbers and ids from a shared byte
// arena. Rows returned by one call therefore share memory; they stay valid
// as long as they are referenced and are never modified afterwards.
//
// Field names follow the OpenTelemetry semantic conventions: resource,
// scope and record attributes are flattened into fields (nested maps as
// dotted names), with the more specific level winning on a name collision
// (record > scope > resource).
package eventrow

import (
	"encoding/hex"
	"strconv"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/osprey-monitoring/osprey/internal/store/event"
	"github.com/osprey-monitoring/osprey/internal/wire"
)

// Field names set by this package besides semantic-convention attributes.
const (
	FieldType         = event.FieldType
	FieldMsg          = event.FieldMsg
	FieldAgentID      = "agent.id"
	FieldAgentName    = "agent.name"
	FieldAgentGroup   = "agent.group"
	FieldAgentKind    = "agent.kind"
	FieldTraceID      = "trace_id"
	FieldSpanID       = "span_id"
	FieldParentSpanID = "parent_span_id"
	FieldSpanName     = "span.name"
	FieldSpanKind     = "span.kind"
	FieldStatus       = "status"
	FieldStatusMsg    = "status.message"
	FieldDurationMs   = "duration_ms"
	FieldStart        = "start"
	FieldEnd          = "end"
	FieldSpanEvents   = "span.events"
	FieldLevel        = "level"
	FieldCategory     = "category"
	FieldSnapshotType = "snapshot.type"
	FieldBody         = "body"

	TypeSpan     = "span"
	TypeLog      = "log"
	TypeSnapshot = "snapshot"
)

// builder hands out field slices and strings from per-batch slabs.
type builder struct {
	slab  []event.Field
	arena []byte
}

const (
	slabSize  = 4096
	arenaSize = 64 << 10
)

// fields returns an empty slice with room for n fields.
func (b *builder) fields(n int) []event.Field {
	if cap(b.slab)-len(b.slab) < n {
		b.slab = make([]event.Field, 0, max(slabSize, n))
	}
	start := len(b.slab)
	b.slab = b.slab[:start+n]
	return b.slab[start : start : start+n]
}

// str copies p into the arena. Bytes already handed out are never
// rewritten: when the arena is full a new one is started and the old one
// lives on through the strings that point into it.
func (b *builder) str(p []byte) string {
	if len(p) == 0 {
		return ""
	}
	if cap(b.arena)-len(b.arena) < len(p) {
		b.arena = make([]byte, 0, max(arenaSize, len(p)))
	}
	start := len(b.arena)
	b.arena = append(b.arena, p...)
	return unsafe.String(&b.arena[start], len(p))
}

// tail gives scratch space at the arena's end; commit turns what was
// appended to it into a string.
func (b *builder) tail(n int) []byte {
	if cap(b.arena)-len(b.arena) < n {
		b.arena = make([]byte, 0, max(arenaSize, n))
	}
	return b.arena[len(b.arena):len(b.arena)]
}

func (b *builder) commit(p []byte) string {
	if len(p) == 0 {
		return ""
	}
	free := b.arena[len(b.arena):cap(b.arena)]
	if len(p) <= len(free) && unsafe.SliceData(p) == unsafe.SliceData(free) {
		b.arena = b.arena[:len(b.arena)+len(p)]
		return unsafe.String(unsafe.SliceData(p), len(p))
	}
	// p outgrew the reserved tail and append moved it.
	return b.str(p)
}

func (b *builder) int(v int64) string {
	return b.commit(strconv.AppendInt(b.tail(20), v, 10))
}

func (b *builder) uint(v uint64) string {
	return b.commit(strconv.AppendUint(b.tail(20), v, 10))
}

func (b *builder) float(v float64) string {
	return b.commit(strconv.AppendFloat(b.tail(24), v, 'f', -1, 64))
}

func (b *builder) hex(id []byte) string {
	p := b.tail(2 * len(id))[:2*len(id)]
	hex.Encode(p, id)
	return b.commit(p)
}

// value renders a scalar attribute value.
func (b *builder) value(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str()
	case pcommon.ValueTypeInt:
		return b.int(v.Int())
	case pcommon.ValueTypeDouble:
		return b.commit(strconv.AppendFloat(b.tail(24), v.Double(), 'g', -1, 64))
	case pcommon.ValueTypeBool:
		if v.Bool() {
			return "true"
		}
		return "false"
	default:
		// Slices and bytes: JSON / base64, as OTel renders them.
		return v.AsString()
	}
}

// appendAttrs flattens m into dst (nested maps become dotted names),
// skipping names already in dst[:guard]. It never exceeds cap(dst).
func (b *builder) appendAttrs(dst []event.Field, guard int, prefix string, m pcommon.Map) []event.Field {
	m.Range(func(k string, v pcommon.Value) bool {
		name := k
		if prefix != "" {
			name = b.commit(append(append(append(b.tail(len(prefix)+1+len(k)), prefix...), '.'), k...))
		}
		if v.Type() == pcommon.ValueTypeMap {
			dst = b.appendAttrs(dst, guard, name, v.Map())
			return true
		}
		dst = addField(dst, guard, name, b.value(v))
		return true
	})
	return dst
}

// addField appends unless name already occurs in dst[:guard], the part of
// the row filled by a more specific level, or the row is full.
func addField(dst []event.Field, guard int, name, value string) []event.Field {
	if value == "" || len(dst) == cap(dst) {
		return dst
	}
	for i := range dst[:guard] {
		if dst[i].Name == name {
			return dst
		}
	}
	return append(dst, event.Field{Name: name, Value: value})
}

// countAttrs is an upper bound of the fields appendAttrs adds for m.
func countAttrs(m pcommon.Map) int {
	n := 0
	m.Range(func(_ string, v pcommon.Value) bool {
		if v.Type() == pcommon.ValueTypeMap {
			n += countAttrs(v.Map())
		} else {
			n++
		}
		return true
	})
	return n
}

// resourceFields flattens a resource's attributes once per resource and
// maps agent identity; osprey.agent.* become agent.* (not kept twice).
func (b *builder) resourceFields(m pcommon.Map) []event.Field {
	dst := b.fields(countAttrs(m) + 4)
	var id, name, group, kind, instance, host, service string
	m.Range(func(k string, v pcommon.Value) bool {
		switch k {
		case wire.AttrAgentID:
			id = v.AsString()
			return true
		case wire.AttrAgentName:
			name = v.AsString()
			return true
		case wire.AttrAgentGroup:
			group = v.AsString()
			return true
		case wire.AttrAgentKind:
			kind = v.AsString()
			return true
		case wire.AttrServiceInstanceID:
			instance = v.AsString()
		case wire.AttrHostName:
			host = v.AsString()
		case wire.AttrServiceName:
			service = v.AsString()
		}
		if v.Type() == pcommon.ValueTypeMap {
			dst = b.appendAttrs(dst, 0, k, v.Map())
		} else {
			dst = append(dst, event.Field{Name: k, Value: b.value(v)})
		}
		return true
	})
	if id == "" {
		id = firstNonEmpty(instance, host)
	}
	if name == "" {
		name = firstNonEmpty(host, service)
	}
	dst = addField(dst, 0, FieldAgentID, id)
	dst = addField(dst, 0, FieldAgentName, name)
	dst = addField(dst, 0, FieldAgentGroup, group)
	dst = addField(dst, 0, FieldAgentKind, kind)
	return dst
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// scopeFields are the instrumentation scope's name, version and attributes.
func (b *builder) scopeFields(s pcommon.InstrumentationScope) []event.Field {
	dst := b.fields(countAttrs(s.Attributes()) + 2)
	dst = addField(dst, 0, "otel.scope.name", s.Name())
	dst = addField(dst, 0, "otel.scope.version", s.Version())
	return b.appendAttrs(dst, len(dst), "", s.Attributes())
}

// appendInherited adds scope then resource fields that the record did not
// set itself.
func appendInherited(dst []event.Field, scope, res []event.Field) []event.Field {
	own := len(dst)
	for _, f := range scope {
		dst = addField(dst, own, f.Name, f.Value)
	}
	own = len(dst)
	for _, f := range res {
		dst = addField(dst, own, f.Name, f.Value)
	}
	return dst
}

func lookup(fields []event.Field, name string) string {
	for i := range fields {
		if fields[i].Name == name {
			return fields[i].Value
		}
	}
	return ""
}
