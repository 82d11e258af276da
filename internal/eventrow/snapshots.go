package eventrow

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/osprey-monitoring/osprey/internal/store/event"
	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// Field names and values of event rows: things that happened to an agent
// (a load snapshot now; alerts later) that the live alert list shows.
const (
	TypeEvent         = "event"
	FieldEventKind    = "event.kind"
	FieldSeverity     = "severity"
	FieldSnapshotTime = "snapshot.time" // RFC3339Nano _time of the snapshot row an event refers to

	SeverityWarning = "warning"
)

// Snapshots converts an agent push to rows, one per snapshot: the body as
// compact JSON in "body", plus scalar fields worth filtering on. A load
// snapshot adds a second row of type "event" (kind load_snapshot) carrying
// the reason and a pointer to the snapshot row.
func Snapshots(req *agentpb.PushRequest) []event.Row {
	if req == nil {
		return nil
	}
	rows := make([]event.Row, 0, len(req.GetSnapshots()))
	agent := agentFields(req.GetAgent())
	for _, sn := range req.GetSnapshots() {
		if sn == nil {
			continue
		}
		if sn.GetApmActive() != nil || sn.GetApmRollup() != nil {
			continue // internal/txn's
		}
		if ur := sn.GetUrlResults(); ur != nil {
			rows = append(rows, urlRows(ur, agent)...)
			continue
		}
		row := snapshot(sn, agent)
		rows = append(rows, row)
		if ls := sn.GetLoadSnapshot(); ls != nil {
			rows = append(rows, loadEvent(row.Time, ls, agent))
		}
	}
	return rows
}

func agentFields(a *agentpb.AgentIdentity) []event.Field {
	var f []event.Field
	add := func(name, value string) {
		if value != "" {
			f = append(f, event.Field{Name: name, Value: value})
		}
	}
	add(FieldAgentID, a.GetId())
	add(FieldAgentName, a.GetName())
	add(FieldAgentGroup, a.GetGroup())
	add(FieldAgentKind, a.GetKind())
	add("agent.version", a.GetVersion())
	for k, v := range a.GetLabels() {
		add("agent.label."+k, v)
	}
	return f
}

var compactJSON = protojson.MarshalOptions{UseProtoNames: true}

func snapshot(sn *agentpb.Snapshot, agent []event.Field) event.Row {
	typ := sn.GetType()
	// Room for the largest kind (load snapshot) so addField keeps the agent fields.
	f := make([]event.Field, 0, 24+len(agent))
	f = append(f, event.Field{Name: FieldType, Value: TypeSnapshot})
	if typ != "" {
		f = append(f, event.Field{Name: FieldSnapshotType, Value: typ})
	}
	msg := typ + " snapshot"
	var body []byte
	switch b := sn.GetBody().(type) {
	case *agentpb.Snapshot_ProcessList:
		pl := b.ProcessList
		body, _ = compactJSON.Marshal(pl)
		procs := pl.GetProcesses()
		var cpu float64
		var rss uint64
		var top *agentpb.Process
		for _, p := range procs {
			cpu += p.GetCpuPercent()
			rss += p.GetRssBytes()
			if top == nil || p.GetCpuPercent() > top.GetCpuPercent() {
				top = p
			}
		}
		f = append(f,
			event.Field{Name: "process.count", Value: strconv.Itoa(len(procs))},
			event.Field{Name: "process.cpu.percent.total", Value: strconv.FormatFloat(cpu, 'f', -1, 64)},
			event.Field{Name: "process.memory.rss.total", Value: strconv.FormatUint(rss, 10)},
		)
		if top != nil {
			f = append(f,
				event.Field{Name: "process.top_cpu.name", Value: top.GetName()},
				event.Field{Name: "process.top_cpu.pid", Value: strconv.Itoa(int(top.GetPid()))},
				event.Field{Name: "process.top_cpu.percent", Value: strconv.FormatFloat(top.GetCpuPercent(), 'f', -1, 64)},
			)
		}
		msg = typ + ": " + strconv.Itoa(len(procs)) + " processes"
		if top != nil {
			msg += ", top cpu " + top.GetName()
		}
	case *agentpb.Snapshot_Inventory:
		inv := b.Inventory
		body, _ = compactJSON.Marshal(inv)
		add := func(name, value string) {
			if value != "" && value != "0" {
				f = append(f, event.Field{Name: name, Value: value})
			}
		}
		add(wire.AttrHostName, inv.GetHostname())
		add("os.type", inv.GetOs())
		add("os.name", inv.GetPlatform())
		add("os.version", inv.GetPlatformVersion())
		add("os.kernel.version", inv.GetKernelVersion())
		add("host.arch", inv.GetArch())
		add("host.cpu.model.name", inv.GetCpuModel())
		add("host.cpu.logical_count", strconv.Itoa(int(inv.GetLogicalCores())))
		add("host.cpu.physical_count", strconv.Itoa(int(inv.GetPhysicalCores())))
		add("host.memory.total", strconv.FormatUint(inv.GetMemoryBytes(), 10))
		add("agent.version", inv.GetAgentVersion())
		msg = typ + ": " + inv.GetHostname() + " " + inv.GetPlatform() + " " + inv.GetPlatformVersion() + " " + inv.GetArch()
	case *agentpb.Snapshot_LoadSnapshot:
		ls := b.LoadSnapshot
		body, _ = compactJSON.Marshal(ls)
		f = append(f, loadFields(ls)...)
		add := func(list, valueName string, top []*agentpb.Process, v func(*agentpb.Process) string) {
			if len(top) > 0 {
				f = append(f,
					event.Field{Name: "process." + list + ".name", Value: top[0].GetName()},
					event.Field{Name: "process." + list + ".pid", Value: strconv.Itoa(int(top[0].GetPid()))},
					event.Field{Name: "process." + list + "." + valueName, Value: v(top[0])})
			}
		}
		add("top_cpu", "percent", ls.GetTopCpu(), func(p *agentpb.Process) string { return formatFloat(p.GetCpuPercent()) })
		add("top_memory", "rss", ls.GetTopMemory(), func(p *agentpb.Process) string { return strconv.FormatUint(p.GetRssBytes(), 10) })
		add("top_io", "bytes_per_sec", ls.GetTopIo(), func(p *agentpb.Process) string {
			return formatFloat(p.GetReadBytesPerSec() + p.GetWriteBytesPerSec())
		})
		if c := ls.GetConnections(); c != nil {
			f = append(f, event.Field{Name: "network.connections.count", Value: strconv.FormatUint(uint64(c.GetTotal()), 10)})
		}
		msg = ls.GetReason()
		if msg == "" {
			msg = typ + " snapshot"
		}
	case *agentpb.Snapshot_DbSessions:
		body, _ = compactJSON.Marshal(b.DbSessions)
		var more []event.Field
		more, msg = dbSessionFields(b.DbSessions)
		f = append(f, more...)
	case *agentpb.Snapshot_DbLocks:
		body, _ = compactJSON.Marshal(b.DbLocks)
		var more []event.Field
		more, msg = dbLockFields(b.DbLocks)
		f = append(f, more...)
	case *agentpb.Snapshot_DbStatements:
		body, _ = compactJSON.Marshal(b.DbStatements)
		var more []event.Field
		more, msg = dbStatementFields(b.DbStatements)
		f = append(f, more...)
	case *agentpb.Snapshot_JsonBody:
		var buf bytes.Buffer
		if json.Compact(&buf, b.JsonBody) == nil {
			body = buf.Bytes()
		} else {
			// Not JSON: keep it as a JSON string so the field stays valid JSON.
			body, _ = json.Marshal(string(b.JsonBody))
		}
	}
	if len(body) > 0 {
		// protojson randomises whitespace on purpose; normalise it.
		var buf bytes.Buffer
		if json.Compact(&buf, body) == nil {
			body = buf.Bytes()
		}
		f = append(f, event.Field{Name: FieldBody, Value: string(body)})
	}
	f = append(f, event.Field{Name: FieldMsg, Value: msg})
	for _, a := range agent {
		f = addField(f, len(f), a.Name, a.Value)
	}
	return event.Row{Time: unixNano(sn.GetTimeUnixNano()), Fields: f}
}

// unixNano is the row time; zero lets the store stamp the arrival time.
func unixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// loadFields are the scalar fields both load snapshot rows carry, so the
// event list can show the figures without opening the snapshot.
func loadFields(ls *agentpb.LoadSnapshot) []event.Field {
	f := []event.Field{
		{Name: "load.reason", Value: ls.GetReason()},
		{Name: "load.cpu_percent", Value: formatFloat(ls.GetCpuPercent())},
		{Name: "load.memory_percent", Value: formatFloat(ls.GetMemoryPercent())},
		{Name: "load.load1", Value: formatFloat(ls.GetLoad1())},
	}
	if len(ls.GetTriggers()) > 0 {
		f = append(f, event.Field{Name: "load.trigger", Value: strings.Join(ls.GetTriggers(), ",")})
	}
	return f
}

// loadEvent is the type=event row announcing a load snapshot taken at t.
func loadEvent(t time.Time, ls *agentpb.LoadSnapshot, agent []event.Field) event.Row {
	f := make([]event.Field, 0, 16+len(agent))
	f = append(f,
		event.Field{Name: FieldType, Value: TypeEvent},
		event.Field{Name: FieldEventKind, Value: wire.SnapshotLoadSnapshot},
		event.Field{Name: FieldSeverity, Value: SeverityWarning},
		event.Field{Name: FieldSnapshotType, Value: wire.SnapshotLoadSnapshot},
	)
	if !t.IsZero() {
		f = append(f, event.Field{Name: FieldSnapshotTime, Value: t.Format(time.RFC3339Nano)})
	}
	f = append(f, loadFields(ls)...)
	msg := ls.GetReason()
	if msg == "" {
		msg = "load snapshot"
	}
	f = append(f, event.Field{Name: FieldMsg, Value: msg})
	for _, a := range agent {
		f = addField(f, len(f), a.Name, a.Value)
	}
	return event.Row{Time: t, Fields: f}
}
