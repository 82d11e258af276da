package eventrow

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/osprey-monitoring/osprey/internal/store/event"
	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// Snapshots converts an agent push to rows, one per snapshot: the body as
// compact JSON in "body", plus scalar fields worth filtering on.
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
		rows = append(rows, snapshot(sn, agent))
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
	f := make([]event.Field, 0, 16+len(agent))
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
	var t time.Time
	if ns := sn.GetTimeUnixNano(); ns != 0 {
		t = time.Unix(0, ns).UTC()
	}
	return event.Row{Time: t, Fields: f}
}
