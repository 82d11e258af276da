package eventrow

import (
	"strconv"

	"github.com/osprey-monitoring/osprey/internal/store/event"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// TypeURL is the row type of one URL check run.
const TypeURL = "url"

// dbSessionFields are the scalars of a sessions snapshot, so the history
// can be charted and filtered without decoding bodies.
func dbSessionFields(s *agentpb.DBSessions) ([]event.Field, string) {
	var longest *agentpb.DBSession
	blocked := 0
	for _, x := range s.GetSessions() {
		if longest == nil || x.GetTimeSeconds() > longest.GetTimeSeconds() {
			longest = x
		}
		if x.GetBlocked() {
			blocked++
		}
	}
	f := []event.Field{
		{Name: "db.sessions.total", Value: strconv.FormatUint(uint64(s.GetTotal()), 10)},
		{Name: "db.sessions.active", Value: strconv.FormatUint(uint64(s.GetActive()), 10)},
		{Name: "db.sessions.sampled", Value: strconv.Itoa(len(s.GetSessions()))},
		{Name: "db.sessions.blocked", Value: strconv.Itoa(blocked)},
	}
	msg := "db_sessions: " + strconv.FormatUint(uint64(s.GetActive()), 10) + " active of " + strconv.FormatUint(uint64(s.GetTotal()), 10)
	if longest != nil {
		f = append(f, event.Field{Name: "db.sessions.longest_seconds", Value: formatFloat(longest.GetTimeSeconds())})
	}
	return f, msg
}

func dbLockFields(l *agentpb.DBLocks) ([]event.Field, string) {
	var longest *agentpb.DBLockWait
	for _, w := range l.GetWaits() {
		if longest == nil || w.GetWaitSeconds() > longest.GetWaitSeconds() {
			longest = w
		}
	}
	f := []event.Field{{Name: "db.lock.waits", Value: strconv.Itoa(len(l.GetWaits()))}}
	msg := "db_locks: " + strconv.Itoa(len(l.GetWaits())) + " waits"
	if longest != nil {
		f = append(f,
			event.Field{Name: "db.lock.max_wait_seconds", Value: formatFloat(longest.GetWaitSeconds())},
			event.Field{Name: "db.lock.table", Value: longest.GetTable()},
			event.Field{Name: "db.lock.holder_id", Value: longest.GetHolderId()},
			event.Field{Name: "db.lock.holder_query", Value: longest.GetHolderQuery()},
		)
		msg += ", longest " + formatFloat(longest.GetWaitSeconds()) + "s"
		if t := longest.GetTable(); t != "" {
			msg += " on " + t
		}
	}
	return f, msg
}

func dbStatementFields(s *agentpb.DBStatements) ([]event.Field, string) {
	f := []event.Field{
		{Name: "db.statements.count", Value: strconv.Itoa(len(s.GetStatements()))},
		{Name: "db.statements.available", Value: strconv.FormatBool(s.GetAvailable())},
	}
	msg := "db_statements: " + strconv.Itoa(len(s.GetStatements())) + " statements"
	if !s.GetAvailable() {
		msg = "db_statements: not available: " + s.GetHint()
	}
	return f, msg
}

// urlRows makes one row per URL check run: they are what the history table
// lists and what uptime is counted from.
func urlRows(rs *agentpb.URLResults, agent []event.Field) []event.Row {
	rows := make([]event.Row, 0, len(rs.GetResults()))
	for _, r := range rs.GetResults() {
		if r == nil {
			continue
		}
		f := make([]event.Field, 0, 20+len(agent))
		f = append(f,
			event.Field{Name: FieldType, Value: TypeURL},
			event.Field{Name: "url.check.id", Value: r.GetCheckId()},
			event.Field{Name: "url.check.name", Value: r.GetName()},
			event.Field{Name: "url.full", Value: r.GetUrl()},
			event.Field{Name: "url.up", Value: strconv.FormatBool(r.GetUp())},
			event.Field{Name: FieldDurationMs, Value: formatFloat(r.GetTotalMs())},
			event.Field{Name: "url.dns_ms", Value: formatFloat(r.GetDnsMs())},
			event.Field{Name: "url.connect_ms", Value: formatFloat(r.GetConnectMs())},
			event.Field{Name: "url.tls_ms", Value: formatFloat(r.GetTlsMs())},
			event.Field{Name: "url.first_byte_ms", Value: formatFloat(r.GetFirstByteMs())},
			event.Field{Name: "url.body_bytes", Value: strconv.FormatInt(r.GetBodyBytes(), 10)},
		)
		if c := r.GetStatusCode(); c != 0 {
			f = append(f, event.Field{Name: "http.response.status_code", Value: strconv.Itoa(int(c))})
		}
		if e := r.GetTlsExpiryUnix(); e != 0 {
			f = append(f, event.Field{Name: "tls.expiry", Value: strconv.FormatInt(e, 10)})
		}
		if a := r.GetRemoteAddress(); a != "" {
			f = append(f, event.Field{Name: "network.peer.address", Value: a})
		}
		msg := "up"
		if c := r.GetStatusCode(); c != 0 {
			msg += " " + strconv.Itoa(int(c))
		}
		msg += " in " + strconv.FormatFloat(r.GetTotalMs(), 'f', 0, 64) + " ms"
		if !r.GetUp() {
			f = append(f, event.Field{Name: "url.failure", Value: r.GetFailure()},
				event.Field{Name: "error.message", Value: r.GetError()})
			msg = "down: " + r.GetError()
		}
		f = append(f, event.Field{Name: FieldMsg, Value: msg})
		for _, a := range agent {
			f = addField(f, len(f), a.Name, a.Value)
		}
		rows = append(rows, event.Row{Time: unixNano(r.GetTimeUnixNano()), Fields: f})
	}
	return rows
}
