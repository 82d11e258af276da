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

func TestDBAndURLRows(t *testing.T) {
	ts := time.Date(2026, 11, 24, 12, 0, 5, 0, time.UTC)
	req := &agentpb.PushRequest{
		Agent: &agentpb.AgentIdentity{Id: "db-1", Name: "orders-db", Kind: wire.KindDB},
		Snapshots: []*agentpb.Snapshot{
			{TimeUnixNano: ts.UnixNano(), Type: wire.SnapshotDBSessions, Body: &agentpb.Snapshot_DbSessions{DbSessions: &agentpb.DBSessions{
				Total: 40, Active: 2, Sessions: []*agentpb.DBSession{{Id: "7", Query: "SELECT SLEEP(?)", TimeSeconds: 12.5}, {Id: "8", Blocked: true, TimeSeconds: 3}},
			}}},
			{TimeUnixNano: ts.UnixNano(), Type: wire.SnapshotDBLocks, Body: &agentpb.Snapshot_DbLocks{DbLocks: &agentpb.DBLocks{
				Waits: []*agentpb.DBLockWait{{WaiterId: "8", HolderId: "7", Table: "`shop`.`stock`", WaitSeconds: 3, HolderQuery: "UPDATE stock SET n=n+?"}},
			}}},
			{TimeUnixNano: ts.UnixNano(), Type: wire.SnapshotURLResults, Body: &agentpb.Snapshot_UrlResults{UrlResults: &agentpb.URLResults{Results: []*agentpb.URLResult{
				{CheckId: "3", Name: "shop", Url: "https://shop.example/", TimeUnixNano: ts.UnixNano(), Up: false, StatusCode: 503, TotalMs: 41.5,
					Failure: "status", Error: "status 503, expected 200-399"},
				{CheckId: "4", Name: "api", Url: "https://api.example/", TimeUnixNano: ts.UnixNano(), Up: true, StatusCode: 200, TotalMs: 12, TlsExpiryUnix: 1900000000},
			}}}},
		},
	}
	rows := Snapshots(req)
	if len(rows) != 4 {
		t.Fatalf("got %d rows, want sessions, locks and one row per URL run", len(rows))
	}
	wantFields(t, fieldMap(t, rows[0]), map[string]string{"type": "snapshot", "snapshot.type": "db_sessions", "db.sessions.total": "40",
		"db.sessions.active": "2", "db.sessions.blocked": "1", "db.sessions.longest_seconds": "12.5", "agent.kind": "db", "_msg": "db_sessions: 2 active of 40"})
	wantFields(t, fieldMap(t, rows[1]), map[string]string{"snapshot.type": "db_locks", "db.lock.waits": "1", "db.lock.table": "`shop`.`stock`",
		"db.lock.holder_query": "UPDATE stock SET n=n+?", "_msg": "db_locks: 1 waits, longest 3s on `shop`.`stock`"})
	wantFields(t, fieldMap(t, rows[2]), map[string]string{"type": "url", "url.check.id": "3", "url.up": "false", "url.failure": "status",
		"http.response.status_code": "503", "duration_ms": "41.5", "error.message": "status 503, expected 200-399", "agent.name": "orders-db",
		"_msg": "down: status 503, expected 200-399"})
	wantFields(t, fieldMap(t, rows[3]), map[string]string{"url.up": "true", "tls.expiry": "1900000000", "_msg": "up 200 in 12 ms"})
	if !rows[2].Time.Equal(ts) {
		t.Errorf("url row time %v, want the run's start", rows[2].Time)
	}
}
