package logtail

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// scopeName is the instrumentation scope of the module's records.
const scopeName = "github.com/osprey-monitoring/osprey/internal/agent/logtail"

// Attributes every record carries.
const (
	AttrFilePath = "log.file.path" // the path the source's glob matched (also for lines read from its rotated files)
	AttrFileName = "log.file.name"
	// AttrCategory is the source's category. It is log.category because
	// that is what the server's event rows take the category from
	// (internal/eventrow), and loadgen sends.
	AttrCategory     = "log.category"
	AttrFileID       = "log.file.id"       // "dev:inode" of the file the record was read from
	AttrRecordOffset = "log.record.offset" // byte offset of the record's first line in that file
	AttrTruncated    = "log.truncated"     // true on the pieces of a line (or record) cut at the length limit
)

// maxFutureSkew is how far ahead of the read time a parsed timestamp may
// be. Beyond that it is a misreading (a time zone the line does not
// state, a year guessed wrong) and the server would refuse the record, so
// the read time is used instead.
const maxFutureSkew = 5 * time.Minute

// batch is the plog.Logs being filled for the next emit.
type batch struct {
	logs  plog.Logs
	recs  plog.LogRecordSlice
	n     int
	first time.Time // read time of the first record
}

func (m *Module) newBatch() {
	logs := plog.NewLogs()
	rl := logs.ResourceLogs().AppendEmpty()
	putResource(rl.Resource().Attributes(), m.ident)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(scopeName)
	recs := sl.LogRecords()
	recs.EnsureCapacity(min(m.cfg.BatchLines, 4096))
	m.batch = batch{logs: logs, recs: recs}
}

// putResource stamps the agent identity as the agent's other modules do,
// so the server sees one resource per agent.
func putResource(attrs pcommon.Map, ident *agentpb.AgentIdentity) {
	attrs.PutStr(wire.AttrAgentID, ident.GetId())
	attrs.PutStr(wire.AttrAgentName, ident.GetName())
	attrs.PutStr(wire.AttrAgentGroup, ident.GetGroup())
	attrs.PutStr(wire.AttrAgentKind, ident.GetKind())
	attrs.PutStr(wire.AttrHostName, ident.GetName())
}

// addRecord parses a finished record and appends it to the batch. body is
// only valid during the call.
func (m *Module) addRecord(t *tracker, body []byte, off int64, truncated bool) {
	src := t.g.src
	s := string(body)
	r := &m.res
	r.reset()
	if len(src.parsers) > 0 {
		matched := false
		for _, p := range src.parsers {
			r.reset()
			if p.parse(s, r) {
				matched = true
				break
			}
		}
		if !matched {
			r.reset()
			m.stats.parseMisses.Add(1)
		}
	}
	var levelText, level string
	if r.hasLevel {
		levelText, level = r.level, normLevel(r.level)
	}
	if level == "" && !r.noLevel {
		levelText, level = detectLevel(s)
	}

	now := m.now
	if m.batch.n == 0 {
		m.batch.first = now
	}
	m.batch.n++
	lr := m.batch.recs.AppendEmpty()
	ts := now
	if r.hasTime && r.time.Unix() > 0 && !r.time.After(now.Add(maxFutureSkew)) {
		ts = r.time
	}
	lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(now))
	lr.Body().SetStr(s)
	if level != "" {
		lr.SetSeverityText(levelText)
		lr.SetSeverityNumber(severityNumber(level))
	}
	a := lr.Attributes()
	a.EnsureCapacity(6 + len(src.fields) + len(r.fields))
	a.PutStr(AttrFilePath, t.g.path)
	a.PutStr(AttrFileName, t.g.base)
	a.PutStr(AttrCategory, src.category)
	a.PutStr(AttrFileID, t.id)
	a.PutInt(AttrRecordOffset, off)
	if truncated {
		a.PutBool(AttrTruncated, true)
	}
	for _, f := range r.fields {
		switch f.kind {
		case kindInt:
			a.PutInt(f.key, f.i)
		case kindFloat:
			a.PutDouble(f.key, f.f)
		case kindBool:
			a.PutBool(f.key, f.i != 0)
		default:
			a.PutStr(f.key, f.s)
		}
	}
	// The source's static fields come last: what the configuration says
	// wins over a field of the same name in a line.
	for _, f := range src.fields {
		a.PutStr(f[0], f[1])
	}
}
