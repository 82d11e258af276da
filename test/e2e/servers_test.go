package e2e

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startLoadAgent runs osprey-agent from a YAML file whose load snapshot
// thresholds (1%) are crossed on any machine within a couple of seconds.
func startLoadAgent(t *testing.T, s *server, name string) {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`server: %s
key: %s
name: %s
group: e2e-servers
labels: {site: e2e}
state_dir: %s
interval: 1s
modules:
  host:
    load_snapshot:
      enabled: true
      cpu_percent: 1
      memory_percent: 1
      intervals: 2
      cooldown: 1h
      top: 10
`, s.grpcAddr, projectKey, name, filepath.Join(dir, "state"))
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, filepath.Join(dir, "agent.log"), nil, "osprey-agent", "--config", path)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := readFile(filepath.Join(dir, "agent.log"))
			t.Logf("agent log (tail):\n%s", tail(b, 3000))
		}
	})
}

type e2eServer struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Group       string            `json:"group"`
	Labels      map[string]string `json:"labels"`
	Active      bool              `json:"active"`
	OS          string            `json:"os"`
	Cores       int               `json:"cores"`
	MemoryBytes uint64            `json:"memoryBytes"`
	CPU         *float64          `json:"cpu"`
	Memory      *float64          `json:"memory"`
	Disk        *float64          `json:"disk"`
	Load1       *float64          `json:"load1"`
	NetRx       *float64          `json:"netRx"`
	DiskRead    *float64          `json:"diskRead"`
	Processes   int               `json:"processes"`
}

// rootIsOverlay: the host module leaves overlay filesystems out (as
// node_exporter does), so in a container there may be no disk figure.
func rootIsOverlay() bool {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 2 && f[1] == "/" && f[2] == "overlay" {
			return true
		}
	}
	return false
}

func TestServersAPIAndLoadSnapshot(t *testing.T) {
	s := newServer(t)
	startLoadAgent(t, s, "e2e-load")
	api := func(path string, params url.Values, out any) error {
		_, err := s.api("admin", adminPassword, "", path, params, out)
		return err
	}

	var srv e2eServer
	eventually(t, 60*time.Second, "the server in /api/v1/servers with figures", func() error {
		var data struct {
			Servers []e2eServer `json:"servers"`
		}
		if err := api("/api/v1/servers", nil, &data); err != nil {
			return err
		}
		for _, x := range data.Servers {
			if x.Name == "e2e-load" {
				srv = x
			}
		}
		switch {
		case srv.ID == "":
			return fmt.Errorf("not listed among %d servers", len(data.Servers))
		case !srv.Active || srv.Group != "e2e-servers" || srv.Labels["site"] != "e2e":
			return fmt.Errorf("identity %+v", srv)
		case srv.Cores < 1 || srv.MemoryBytes == 0 || srv.OS != "linux" || srv.Processes < 5:
			return fmt.Errorf("inventory %+v", srv)
		case srv.CPU == nil || *srv.CPU < 0 || *srv.CPU > 100:
			return fmt.Errorf("cpu %v", srv.CPU)
		case srv.Memory == nil || *srv.Memory <= 0 || *srv.Memory > 100:
			return fmt.Errorf("memory %v", srv.Memory)
		case srv.Disk == nil && !rootIsOverlay():
			return errors.New("no disk figure")
		case srv.Disk != nil && (*srv.Disk <= 0 || *srv.Disk > 100):
			return fmt.Errorf("disk %v", *srv.Disk)
		case srv.NetRx == nil || srv.DiskRead == nil || srv.Load1 == nil:
			return fmt.Errorf("rates not there yet: net %v disk %v load %v", srv.NetRx, srv.DiskRead, srv.Load1)
		}
		return nil
	})

	var ov struct {
		Total, Active, Cores int
		CPU                  struct{ Avg, Max *float64 }
		Groups               []struct {
			Name          string
			Total, Active int
		}
	}
	if err := api("/api/v1/servers/overview", nil, &ov); err != nil {
		t.Fatal(err)
	}
	if ov.Total != 1 || ov.Active != 1 || ov.Cores != srv.Cores || ov.CPU.Avg == nil || len(ov.Groups) != 1 || ov.Groups[0].Name != "e2e-servers" {
		t.Errorf("overview %+v", ov)
	}

	var top []struct{ ID, Name string }
	if err := api("/api/v1/servers/top", url.Values{"by": {"memory"}}, &top); err != nil || len(top) != 1 || top[0].ID != srv.ID {
		t.Errorf("top by memory %+v %v", top, err)
	}

	var procs []struct {
		Name           string
		Max, Avg       float64
		Count, Servers int
		Hosts          []string
	}
	if err := api("/api/v1/servers/top-processes", url.Values{"by": {"memory"}, "limit": {"50"}}, &procs); err != nil {
		t.Fatal(err)
	}
	var agentSeen bool
	for _, p := range procs {
		agentSeen = agentSeen || p.Name == "osprey-agent" && p.Max > 0 && p.Servers == 1 && len(p.Hosts) == 1 && p.Hosts[0] == "e2e-load"
	}
	if len(procs) < 5 || !agentSeen {
		t.Errorf("top processes by memory do not show osprey-agent: %+v", procs)
	}

	eventually(t, 30*time.Second, "a CPU map row with values", func() error {
		var m struct {
			Servers []struct{ ID, Name string }
			Times   []int64
			Values  [][]*float64
		}
		if err := api("/api/v1/servers/cpu-map", url.Values{"start": {"-2m"}}, &m); err != nil {
			return err
		}
		if len(m.Servers) != 1 || m.Servers[0].ID != srv.ID || len(m.Values) != 1 || len(m.Times) == 0 || len(m.Times) > 120 {
			return fmt.Errorf("map %d servers %d times", len(m.Servers), len(m.Times))
		}
		for _, v := range m.Values[0] {
			if v != nil && *v >= 0 && *v <= 100 {
				return nil
			}
		}
		return errors.New("no value in the row yet")
	})

	eventually(t, 30*time.Second, "the process list at a past moment", func() error {
		var pl struct {
			Time      string
			Processes []struct {
				Pid      int
				Name     string
				RSSBytes uint64 `json:"rssBytes"`
			}
		}
		if err := api("/api/v1/servers/"+srv.ID+"/processes", url.Values{"at": {fmt.Sprint(time.Now().Add(-2 * time.Second).Unix())}}, &pl); err != nil {
			return err
		}
		for _, p := range pl.Processes {
			if p.Name == "osprey-agent" && p.RSSBytes > 0 {
				return nil
			}
		}
		return fmt.Errorf("%d processes at %s, the agent not among them", len(pl.Processes), pl.Time)
	})

	var snapTime string
	eventually(t, 60*time.Second, "a load snapshot listed", func() error {
		var list struct {
			Snapshots []struct{ Time, Reason string }
		}
		if err := api("/api/v1/servers/"+srv.ID+"/snapshots", nil, &list); err != nil {
			return err
		}
		if len(list.Snapshots) == 0 {
			return errors.New("none yet")
		}
		if !strings.Contains(list.Snapshots[0].Reason, "threshold 1%") {
			return fmt.Errorf("reason %q", list.Snapshots[0].Reason)
		}
		snapTime = list.Snapshots[0].Time
		return nil
	})
	var one struct {
		Reason      string
		TopCPU      []struct{ Name string } `json:"topCpu"`
		TopMemory   []struct{ Name string } `json:"topMemory"`
		Connections struct {
			Total  int
			States []struct {
				Key   string
				Count int
			}
		}
	}
	if err := api("/api/v1/servers/"+srv.ID+"/snapshots/"+url.PathEscape(snapTime), nil, &one); err != nil {
		t.Fatal(err)
	}
	if len(one.TopMemory) == 0 || len(one.TopMemory) > 10 || one.Connections.Total == 0 || len(one.Connections.States) == 0 {
		t.Errorf("snapshot %+v", one)
	}
	eventually(t, 30*time.Second, "the load_snapshot event", func() error {
		page, err := s.events("admin", adminPassword, "", url.Values{"type": {"event"}, "filter": {"event.kind=load_snapshot"}, "start": {"-10m"}})
		if err != nil {
			return err
		}
		for _, r := range page.Records {
			if r["agent.id"] == srv.ID && r["snapshot.time"] == snapTime && r["severity"] == "warning" && r["_msg"] == one.Reason {
				return nil
			}
		}
		return fmt.Errorf("no matching event among %d", len(page.Records))
	})
}
