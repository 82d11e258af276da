package eventrow

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

func TestLoadSnapshotRows(t *testing.T) {
	ts := time.Date(2026, 11, 24, 12, 0, 5, 123456789, time.UTC)
	req := &agentpb.PushRequest{
		Agent: &agentpb.AgentIdentity{Id: "a-1", Name: "web-1", Group: "web", Kind: "host", Labels: map[string]string{"site": "seoul"}},
		Snapshots: []*agentpb.Snapshot{{
			TimeUnixNano: ts.UnixNano(), Type: wire.SnapshotLoadSnapshot,
			Body: &agentpb.Snapshot_LoadSnapshot{LoadSnapshot: &agentpb.LoadSnapshot{
				Reason: "CPU 97% for 3 intervals (threshold 90%)", Triggers: []string{"cpu"},
				CpuPercent: 97.2, MemoryPercent: 41.5, Load1: 3.5, Intervals: 3, ProcessCount: 2,
				TopCpu:    []*agentpb.Process{{Pid: 812, Name: "postgres", CpuPercent: 180.5, RssBytes: 300 << 20}},
				TopMemory: []*agentpb.Process{{Pid: 900, Name: "java", RssBytes: 2 << 30}},
				Connections: &agentpb.Connections{Total: 7,
					States:             []*agentpb.Count{{Key: "ESTABLISHED", Count: 5}, {Key: "LISTEN", Count: 2}},
					TopRemoteAddresses: []*agentpb.Count{{Key: "10.0.0.5", Count: 4}}},
			}},
		}},
	}
	rows := Snapshots(req)
	if len(rows) != 2 {
		t.Fatalf("got %d rows, want the snapshot and its event", len(rows))
	}
	sn := fieldMap(t, rows[0])
	wantFields(t, sn, map[string]string{
		"type": "snapshot", "snapshot.type": "load_snapshot",
		"load.reason": "CPU 97% for 3 intervals (threshold 90%)", "load.cpu_percent": "97.2", "load.memory_percent": "41.5",
		"load.load1": "3.5", "load.trigger": "cpu",
		"process.top_cpu.name": "postgres", "process.top_cpu.pid": "812", "process.top_cpu.percent": "180.5",
		"process.top_memory.name": "java", "process.top_memory.rss": "2147483648",
		"network.connections.count": "7",
		"agent.id":                  "a-1", "agent.name": "web-1", "agent.group": "web", "agent.kind": "host", "agent.label.site": "seoul",
		"_msg": "CPU 97% for 3 intervals (threshold 90%)",
	})
	if _, ok := sn["process.top_io.name"]; ok {
		t.Error("top_io fields for an empty list")
	}
	var body struct {
		Reason string `json:"reason"`
		TopCPU []struct {
			Name string `json:"name"`
		} `json:"top_cpu"`
		Connections struct {
			States []struct {
				Key   string `json:"key"`
				Count int    `json:"count"`
			} `json:"states"`
		} `json:"connections"`
	}
	if err := json.Unmarshal([]byte(sn["body"]), &body); err != nil || body.TopCPU[0].Name != "postgres" || body.Connections.States[0].Count != 5 {
		t.Errorf("body %s (%v)", sn["body"], err)
	}
	ev := fieldMap(t, rows[1])
	wantFields(t, ev, map[string]string{
		"type": "event", "event.kind": "load_snapshot", "severity": "warning", "snapshot.type": "load_snapshot",
		"snapshot.time":    "2026-11-24T12:00:05.123456789Z",
		"load.cpu_percent": "97.2", "load.trigger": "cpu",
		"agent.id": "a-1", "agent.name": "web-1", "agent.kind": "host",
		"_msg": "CPU 97% for 3 intervals (threshold 90%)",
	})
	if _, ok := ev["body"]; ok {
		t.Error("the event row repeats the body")
	}
	if !rows[0].Time.Equal(ts) || !rows[1].Time.Equal(ts) {
		t.Errorf("times %v %v, want %v", rows[0].Time, rows[1].Time, ts)
	}
}
