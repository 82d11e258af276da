package databases

import (
	"fmt"
	"net/http"
	"time"

	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// sessionJSON is agentpb.DBSession with numbers as JSON numbers.
type sessionJSON struct {
	ID                 string  `json:"id"`
	User               string  `json:"user"`
	Host               string  `json:"host"`
	Database           string  `json:"database"`
	Command            string  `json:"command"`
	State              string  `json:"state"`
	WaitEvent          string  `json:"waitEvent"`
	TimeSeconds        float64 `json:"timeSeconds"`
	Query              string  `json:"query"`
	TransactionSeconds float64 `json:"transactionSeconds"`
	Application        string  `json:"application"`
	RowsExamined       uint64  `json:"rowsExamined"`
	RowsSent           uint64  `json:"rowsSent"`
	Blocked            bool    `json:"blocked"`
}

func toSessions(ss []*agentpb.DBSession) []sessionJSON {
	out := make([]sessionJSON, len(ss))
	for i, s := range ss {
		out[i] = sessionJSON{
			ID: s.GetId(), User: s.GetUser(), Host: s.GetHost(), Database: s.GetDatabase(), Command: s.GetCommand(),
			State: s.GetState(), WaitEvent: s.GetWaitEvent(), TimeSeconds: s.GetTimeSeconds(), Query: s.GetQuery(),
			TransactionSeconds: s.GetTransactionSeconds(), Application: s.GetApplication(),
			RowsExamined: s.GetRowsExamined(), RowsSent: s.GetRowsSent(), Blocked: s.GetBlocked(),
		}
	}
	return out
}

// sessions answers the active sessions at ?at= (default now): the newest
// sample at or before that moment.
func (h *handler) sessions(w http.ResponseWriter, r *http.Request) {
	a, at, rec, ok := h.snapshotAt(w, r, wire.SnapshotDBSessions, sessionsWindow)
	if !ok {
		return
	}
	if rec == nil {
		envelope.WriteError(w, http.StatusNotFound, "not_found",
			fmt.Sprintf("no session sample of %q within %s before %s", a.Name, sessionsWindow, at.UTC().Format(time.RFC3339)))
		return
	}
	var s agentpb.DBSessions
	if err := decodeBody(rec, &s); err != nil {
		envelope.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	envelope.WriteData(w, map[string]any{
		"time": rec["_time"], "total": s.GetTotal(), "active": s.GetActive(),
		"idleInTransaction": s.GetIdleInTransaction(), "sessions": toSessions(s.GetSessions()),
	})
}
