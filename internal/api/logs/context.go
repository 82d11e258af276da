package logs

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/api/objects"
	"github.com/osprey-monitoring/osprey/internal/store/event"
)

const (
	defaultContextLines = 20
	maxContextLines     = 500
	// Context looks at most this far either side of the hit: a source
	// quiet for longer has no useful neighbours, and the bound keeps a
	// search for missing neighbours from scanning the whole retention.
	contextSpan = 24 * time.Hour
	// Rows may be stamped ahead of our clock by the store's accepted skew.
	contextFutureSkew = 10 * time.Minute

	fieldAgentID = "agent.id"
	fieldFile    = "log.file.path"
	fieldService = "service.name"
)

type contextJSON struct {
	Before []event.Record `json:"before"` // oldest first
	Hit    event.Record   `json:"hit"`    // null when no line of the source is at that time
	After  []event.Record `json:"after"`  // oldest first
}

// context answers the lines of the same source just before and after a
// hit: ?time= (the hit's _time), ?before= and ?after= (default 20, max
// 500), and the source: ?file= (log.file.path, with ?agent= when given),
// else ?service= and/or ?agent=.
//
// Lines before come from a newest-first search ending just before the hit,
// reversed; lines after from an oldest-first search (event.SearchOldest)
// starting at the hit. Rows carry no public tie-breaker, so when several
// lines of the source share the hit's exact timestamp, the first stored is
// the hit and the others lead the after list.
func (h *handler) context(w http.ResponseWriter, r *http.Request) {
	id, ok := objects.Identity(w, r)
	if !ok {
		return
	}
	v := r.URL.Query()
	if v.Get("time") == "" {
		badRequest(w, errors.New("time: the hit's _time is required"))
		return
	}
	at, err := envelope.ParseTime(v.Get("time"), h.now())
	if err != nil {
		badRequest(w, errors.New("time: "+err.Error()))
		return
	}
	before, err := parseIntParam(v, "before", defaultContextLines, 0, maxContextLines)
	if err != nil {
		badRequest(w, err)
		return
	}
	after, err := parseIntParam(v, "after", defaultContextLines, 0, maxContextLines)
	if err != nil {
		badRequest(w, err)
		return
	}
	var fs []event.Filter
	add := func(field, param string) {
		if s := v.Get(param); s != "" {
			fs = append(fs, event.Filter{Field: field, Op: "=", Value: s})
		}
	}
	if v.Get("file") != "" {
		add(fieldFile, "file")
		add(fieldAgentID, "agent")
	} else {
		add(fieldService, "service")
		add(fieldAgentID, "agent")
	}
	if len(fs) == 0 {
		badRequest(w, errors.New("name the source: file (with agent), or service and/or agent"))
		return
	}
	ctx := r.Context()
	project := id.Project.ID
	base := event.Query{Type: typeLog, Filters: fs}
	out := contextJSON{Before: []event.Record{}, After: []event.Record{}}

	// The hit and any lines sharing its instant, in stored order.
	q := base
	q.Start, q.End, q.Limit = at, at, after+1
	same, err := h.es.SearchOldest(ctx, project, q)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	if len(same.Records) > 0 {
		out.Hit = same.Records[0]
		out.After = append(out.After, same.Records[1:]...)
	}
	if before > 0 {
		q := base
		q.Start, q.End, q.Limit = at.Add(-contextSpan), at.Add(-time.Nanosecond), before
		res, err := h.es.Search(ctx, project, q)
		if err != nil {
			envelope.WriteStoreError(w, r, err)
			return
		}
		slices.Reverse(res.Records)
		out.Before = append(out.Before, res.Records...)
	}
	if n := after - len(out.After); n > 0 {
		q := base
		q.Start = at.Add(time.Nanosecond)
		q.End = at.Add(contextSpan)
		if limit := h.now().Add(contextFutureSkew); limit.Before(q.End) {
			q.End = limit
		}
		q.Limit = n
		if !q.End.Before(q.Start) {
			res, err := h.es.SearchOldest(ctx, project, q)
			if err != nil {
				envelope.WriteStoreError(w, r, err)
				return
			}
			out.After = append(out.After, res.Records...)
		}
	}
	if len(out.After) > after {
		out.After = out.After[:after]
	}
	envelope.WriteData(w, out)
}
