package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/osprey-monitoring/osprey/internal/authn"
)

// handleLive streams freshly ingested records as server-sent events:
// GET /api/v1/live?type=log&filter=field=value&filter=field!=value&q=text.
// Each event is "event: <type>" with a JSON array of records as data.
func (s *Server) handleLive(w http.ResponseWriter, r *http.Request) {
	id, _ := authn.From(r.Context())
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	q := r.URL.Query()
	type cond struct {
		field, value string
		negate       bool
	}
	var conds []cond
	for _, f := range q["filter"] {
		if k, v, ok := strings.Cut(f, "!="); ok {
			conds = append(conds, cond{k, v, true})
		} else if k, v, ok := strings.Cut(f, "="); ok {
			conds = append(conds, cond{k, v, false})
		} else {
			http.Error(w, fmt.Sprintf("filter %q: want field=value or field!=value", f), http.StatusBadRequest)
			return
		}
	}
	text := strings.ToLower(q.Get("q"))
	sub := s.bus.Subscribe(id.Project.ID, q.Get("type"), 512)
	defer sub.Close()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, ": connected\n\n")
	flusher.Flush()

	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.stop:
			return
		case <-heartbeat.C:
			_, _ = fmt.Fprint(w, ": heartbeat\n\n")
			flusher.Flush()
		case m := <-sub.C:
			out := make([]map[string]string, 0, len(m.Records))
		next:
			for _, rec := range m.Records {
				for _, c := range conds {
					if (rec[c.field] == c.value) == c.negate {
						continue next
					}
				}
				if text != "" && !strings.Contains(strings.ToLower(rec["_msg"]), text) {
					continue
				}
				out = append(out, rec)
			}
			if len(out) == 0 {
				continue
			}
			b, err := json.Marshal(out)
			if err != nil {
				continue
			}
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", m.Type, b); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}
