package logs

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/store/event"
)

const (
	defaultExport = 100_000
	maxExport     = 1_000_000
	maxExtraCols  = 50
)

// csvColumns are the CSV export's fixed columns; ?fields= adds more.
var csvColumns = []string{event.FieldTime, fieldLevel, fieldCategory, "agent.name", fieldService, event.FieldMsg}

// export streams up to ?limit= (default 100000, max 1000000) matching
// lines, newest first, as an attachment: ?format=ndjson (default; one JSON
// object of all fields per line) or csv (csvColumns plus ?fields=a,b).
//
// It pages through Search and writes each page as it comes, so memory
// stays at one page. Errors before the first byte answer as usual; a
// failure after that aborts the response (http.ErrAbortHandler), so the
// client sees a truncated transfer rather than a short file that looks
// complete.
func (h *handler) export(w http.ResponseWriter, r *http.Request) {
	project, q, ok := h.selection(w, r)
	if !ok {
		return
	}
	v := r.URL.Query()
	limit, err := envelope.ParseLimit(v, defaultExport, maxExport)
	if err != nil {
		badRequest(w, err)
		return
	}
	format := v.Get("format")
	if format == "" {
		format = "ndjson"
	}
	cols := csvColumns
	switch format {
	case "ndjson":
	case "csv":
		extra := nonEmpty(strings.Split(v.Get("fields"), ","))
		if len(extra) > maxExtraCols {
			badRequest(w, fmt.Errorf("fields: at most %d extra columns", maxExtraCols))
			return
		}
		for _, f := range extra {
			if !slices.Contains(cols, f) {
				cols = append(slices.Clip(cols), f)
			}
		}
		// Fetch only the columns written.
		q.Fields = cols
	default:
		badRequest(w, fmt.Errorf("format: want ndjson or csv, got %q", format))
		return
	}

	ctx := r.Context()
	written := 0
	var out *bufio.Writer
	var cw *csv.Writer
	flusher, _ := w.(http.Flusher)
	for written < limit {
		if err := ctx.Err(); err != nil {
			// The client went away; nothing left to tell it.
			return
		}
		q.Limit = min(h.pageRows, limit-written)
		res, err := h.es.Search(ctx, project, q)
		if err == nil && res.Partial && len(res.Records) == 0 && res.NextCursor == "" {
			err = fmt.Errorf("search stopped: %s", res.Reason)
		}
		if err != nil {
			if out == nil {
				envelope.WriteStoreError(w, r, err)
				return
			}
			h.log.Warn("log export aborted", "project", project, "written", written, "err", err)
			panic(http.ErrAbortHandler)
		}
		if out == nil {
			name := "osprey-logs-" + h.now().UTC().Format("20060102T150405Z") + "." + format
			w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
			w.Header().Set("X-Content-Type-Options", "nosniff")
			if format == "csv" {
				w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			} else {
				w.Header().Set("Content-Type", "application/x-ndjson")
			}
			w.WriteHeader(http.StatusOK)
			out = bufio.NewWriterSize(w, 64<<10)
			if format == "csv" {
				cw = csv.NewWriter(out)
				err = cw.Write(cols)
			}
		}
		for _, rec := range res.Records {
			if err != nil {
				break
			}
			if cw != nil {
				row := make([]string, len(cols))
				for i, c := range cols {
					row[i] = rec[c]
				}
				err = cw.Write(row)
			} else {
				var b []byte
				if b, err = json.Marshal(rec); err == nil {
					b = append(b, '\n')
					_, err = out.Write(b)
				}
			}
		}
		written += len(res.Records)
		if cw != nil && err == nil {
			cw.Flush()
			err = cw.Error()
		}
		if err == nil {
			err = out.Flush()
		}
		if err != nil {
			// A write error means the client is gone.
			h.log.Debug("log export: write failed", "project", project, "written", written, "err", err)
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		if res.NextCursor == "" {
			break
		}
		q.Cursor = res.NextCursor
	}
}
