package servers

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/store/event"
	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// Event row fields these views read (written by internal/eventrow).
const (
	fieldTime         = event.FieldTime
	fieldBody         = "body"
	fieldSnapshotType = "snapshot.type"
	fieldAgentID      = "agent.id"
	typeSnapshot      = "snapshot"
)

const (
	// processListWindow is how far before the chosen moment a process
	// list is looked for: agents send one every interval (5 s).
	processListWindow = time.Minute
	defaultSnapWindow = 24 * time.Hour
	maxSnapshots      = 1000
)

// processJSON is agentpb.Process with numbers as JSON numbers (protojson
// writes 64-bit integers as strings).
type processJSON struct {
	Pid              int32   `json:"pid"`
	Ppid             int32   `json:"ppid"`
	Name             string  `json:"name"`
	Cmdline          string  `json:"cmdline"`
	User             string  `json:"user"`
	State            string  `json:"state"`
	CPUPercent       float64 `json:"cpuPercent"`
	RSSBytes         uint64  `json:"rssBytes"`
	VMSBytes         uint64  `json:"vmsBytes"`
	MemoryPercent    float64 `json:"memoryPercent"`
	ReadBytesPerSec  float64 `json:"readBytesPerSec"`
	WriteBytesPerSec float64 `json:"writeBytesPerSec"`
	Threads          int32   `json:"threads"`
	CreateTimeUnixMs int64   `json:"createTimeUnixMs"`
	OpenFds          int32   `json:"openFds"`
}

func toProcesses(ps []*agentpb.Process) []processJSON {
	out := make([]processJSON, len(ps))
	for i, p := range ps {
		out[i] = processJSON{
			Pid: p.GetPid(), Ppid: p.GetPpid(), Name: p.GetName(), Cmdline: p.GetCmdline(), User: p.GetUser(),
			State: p.GetState(), CPUPercent: p.GetCpuPercent(), RSSBytes: p.GetRssBytes(), VMSBytes: p.GetVmsBytes(),
			MemoryPercent: p.GetMemoryPercent(), ReadBytesPerSec: p.GetReadBytesPerSec(),
			WriteBytesPerSec: p.GetWriteBytesPerSec(), Threads: p.GetThreads(),
			CreateTimeUnixMs: p.GetCreateTimeUnixMs(), OpenFds: p.GetOpenFds(),
		}
	}
	return out
}

var lenient = protojson.UnmarshalOptions{DiscardUnknown: true}

// decodeBody reads a snapshot row's body (protojson of the snapshot's
// body message) back into msg.
func decodeBody(rec event.Record, msg proto.Message) error {
	b, ok := rec[fieldBody]
	if !ok {
		return fmt.Errorf("snapshot at %s has no body", rec[fieldTime])
	}
	if err := lenient.Unmarshal([]byte(b), msg); err != nil {
		return fmt.Errorf("decode snapshot at %s: %w", rec[fieldTime], err)
	}
	return nil
}

func snapshotFilters(kind, agentID string) []event.Filter {
	return []event.Filter{{Field: fieldSnapshotType, Op: "=", Value: kind}, {Field: fieldAgentID, Op: "=", Value: agentID}}
}

func (h *handler) processes(w http.ResponseWriter, r *http.Request) {
	project, ok := h.auth(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	at, err := envelope.ParseTime(r.URL.Query().Get("at"), h.now())
	if err != nil {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", "at: "+err.Error())
		return
	}
	res, err := h.es.Search(r.Context(), project, event.Query{
		Start: at.Add(-processListWindow), End: at, Type: typeSnapshot,
		Filters: snapshotFilters(wire.SnapshotProcessList, id), Limit: 1,
		Fields: []string{fieldTime, fieldBody},
	})
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	if len(res.Records) == 0 {
		envelope.WriteError(w, http.StatusNotFound, "not_found",
			fmt.Sprintf("no process list of server %q within %s before %s", id, processListWindow, at.UTC().Format(time.RFC3339)))
		return
	}
	var pl agentpb.ProcessList
	if err := decodeBody(res.Records[0], &pl); err != nil {
		envelope.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	envelope.WriteData(w, map[string]any{"time": res.Records[0][fieldTime], "processes": toProcesses(pl.GetProcesses())})
}

type snapshotItem struct {
	Time    string `json:"time"`
	Reason  string `json:"reason"`
	Trigger string `json:"trigger"`
	CPU     num    `json:"cpu"`
	Memory  num    `json:"memory"`
}

func parseNum(s string) num {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return num(nan)
	}
	return num(f)
}

func (h *handler) snapshots(w http.ResponseWriter, r *http.Request) {
	project, ok := h.auth(w, r)
	if !ok {
		return
	}
	now := h.now()
	q := r.URL.Query()
	start, end, err := envelope.ParseRange(q, now, defaultSnapWindow)
	if err != nil {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	res, err := h.es.Search(r.Context(), project, event.Query{
		Start: start, End: end, Type: typeSnapshot,
		Filters: snapshotFilters(wire.SnapshotLoadSnapshot, r.PathValue("id")), Limit: maxSnapshots,
		Fields: []string{fieldTime, "load.reason", "load.trigger", "load.cpu_percent", "load.memory_percent"},
	})
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	out := make([]snapshotItem, len(res.Records))
	for i, rec := range res.Records {
		out[i] = snapshotItem{
			Time: rec[fieldTime], Reason: rec["load.reason"], Trigger: rec["load.trigger"],
			CPU: parseNum(rec["load.cpu_percent"]), Memory: parseNum(rec["load.memory_percent"]),
		}
	}
	envelope.WriteData(w, map[string]any{"snapshots": out, "partial": res.Partial})
}

type countJSON struct {
	Key   string `json:"key"`
	Count uint32 `json:"count"`
}

func toCounts(cs []*agentpb.Count) []countJSON {
	out := make([]countJSON, len(cs))
	for i, c := range cs {
		out[i] = countJSON{Key: c.GetKey(), Count: c.GetCount()}
	}
	return out
}

type connectionsJSON struct {
	Total              uint32      `json:"total"`
	States             []countJSON `json:"states"`
	TopRemoteAddresses []countJSON `json:"topRemoteAddresses"`
}

type loadSnapshotJSON struct {
	Time                   string          `json:"time"`
	Reason                 string          `json:"reason"`
	Triggers               []string        `json:"triggers"`
	CPUPercent             float64         `json:"cpuPercent"`
	MemoryPercent          float64         `json:"memoryPercent"`
	Load1                  float64         `json:"load1"`
	Load5                  float64         `json:"load5"`
	Load15                 float64         `json:"load15"`
	CPUThresholdPercent    float64         `json:"cpuThresholdPercent"`
	MemoryThresholdPercent float64         `json:"memoryThresholdPercent"`
	Intervals              int32           `json:"intervals"`
	ProcessCount           uint32          `json:"processCount"`
	TopCPU                 []processJSON   `json:"topCpu"`
	TopMemory              []processJSON   `json:"topMemory"`
	TopIO                  []processJSON   `json:"topIo"`
	Connections            connectionsJSON `json:"connections"`
}

func toLoadSnapshot(t string, ls *agentpb.LoadSnapshot) loadSnapshotJSON {
	c := ls.GetConnections()
	triggers := ls.GetTriggers()
	if triggers == nil {
		triggers = []string{}
	}
	return loadSnapshotJSON{
		Time: t, Reason: ls.GetReason(), Triggers: triggers,
		CPUPercent: ls.GetCpuPercent(), MemoryPercent: ls.GetMemoryPercent(),
		Load1: ls.GetLoad1(), Load5: ls.GetLoad5(), Load15: ls.GetLoad15(),
		CPUThresholdPercent: ls.GetCpuThresholdPercent(), MemoryThresholdPercent: ls.GetMemoryThresholdPercent(),
		Intervals: ls.GetIntervals(), ProcessCount: ls.GetProcessCount(),
		TopCPU: toProcesses(ls.GetTopCpu()), TopMemory: toProcesses(ls.GetTopMemory()), TopIO: toProcesses(ls.GetTopIo()),
		Connections: connectionsJSON{Total: c.GetTotal(), States: toCounts(c.GetStates()), TopRemoteAddresses: toCounts(c.GetTopRemoteAddresses())},
	}
}

func (h *handler) snapshot(w http.ResponseWriter, r *http.Request) {
	project, ok := h.auth(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	// The time is the snapshot's _time as listed (RFC3339 with
	// nanoseconds); unix seconds work too but must then be exact.
	at, err := envelope.ParseTime(r.PathValue("time"), h.now())
	if err != nil {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", "time: "+err.Error())
		return
	}
	res, err := h.es.Search(r.Context(), project, event.Query{
		Start: at, End: at, Type: typeSnapshot,
		Filters: snapshotFilters(wire.SnapshotLoadSnapshot, id), Limit: 1,
		Fields: []string{fieldTime, fieldBody},
	})
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	if len(res.Records) == 0 {
		envelope.WriteError(w, http.StatusNotFound, "not_found",
			fmt.Sprintf("no load snapshot of server %q at %s", id, at.UTC().Format(time.RFC3339Nano)))
		return
	}
	var ls agentpb.LoadSnapshot
	if err := decodeBody(res.Records[0], &ls); err != nil {
		envelope.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	envelope.WriteData(w, toLoadSnapshot(res.Records[0][fieldTime], &ls))
}
