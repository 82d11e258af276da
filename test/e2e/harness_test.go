// Package e2e runs the real osprey and osprey-agent binaries on loopback
// ports and checks what a user would: data queried back through the public
// APIs, tenancy, refused keys, agent spooling through a restart, and no
// acknowledged batch lost to kill -9.
package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "osprey-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for _, c := range []string{"osprey", "osprey-agent"} {
		args := []string{"build", "-o", filepath.Join(dir, c)}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "../../cmd/"+c)
		cmd := exec.Command("go", args...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n", c, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	adminPassword = "e2e-admin-password"
	projectKey    = "osp_e2e_default_project_key_0001"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is a running binary whose output goes to a file kept for failures.
type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func start(t *testing.T, logPath string, env []string, name string, args ...string) *proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	path := name
	if !filepath.IsAbs(name) {
		path = filepath.Join(binDir, name) // our own binaries
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Errorf("%s did not stop within 60s of SIGTERM", p.cmd.Path)
		p.kill()
	}
}

func (p *proc) kill() {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// server is one osprey server under test.
type server struct {
	t                        *testing.T
	dir                      string
	httpAddr, grpcAddr, otlp string
	proc                     *proc
}

func newServer(t *testing.T) *server {
	t.Helper()
	s := &server{t: t, dir: t.TempDir(), httpAddr: freePort(t), grpcAddr: freePort(t), otlp: freePort(t)}
	s.start()
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
			t.Logf("server log (tail):\n%s", tail(string(b), 4000))
		}
	})
	return s
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (s *server) start() {
	s.t.Helper()
	s.proc = start(s.t, filepath.Join(s.dir, "server.log"),
		[]string{"OSPREY_ADMIN_PASSWORD=" + adminPassword, "OSPREY_PROJECT_KEY=" + projectKey},
		"osprey", "server", "--data-dir", filepath.Join(s.dir, "data"),
		"--http-addr", s.httpAddr, "--otlp-grpc-addr", s.grpcAddr, "--otlp-http-addr", s.otlp, "--alert-interval", "1s")
	s.waitHealthy()
}

func (s *server) waitHealthy() {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + s.httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-s.proc.done:
			b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
			s.t.Fatalf("server exited during start:\n%s", tail(string(b), 4000))
		case <-time.After(100 * time.Millisecond):
		}
	}
	s.t.Fatal("server not healthy within 60s")
}

// cli runs an admin command against the server's data directory.
func (s *server) cli(args ...string) string {
	s.t.Helper()
	args = append(args, "--data-dir", filepath.Join(s.dir, "data"))
	out, err := exec.Command(filepath.Join(binDir, "osprey"), args...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("osprey %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// api performs an authenticated API call and decodes the "data" member.
func (s *server) api(user, pass, project, path string, params url.Values, out any) (int, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+s.httpAddr+path+"?"+params.Encode(), nil)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth(user, pass)
	if project != "" {
		req.Header.Set("X-Osprey-Project", project)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return resp.StatusCode, fmt.Errorf("decode %s: %v: %s", path, err, tail(string(body), 300))
	}
	if resp.StatusCode != 200 {
		return resp.StatusCode, fmt.Errorf("%s: %d %s", path, resp.StatusCode, env.Error)
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(env.Data, out)
	}
	return resp.StatusCode, nil
}

// promSeries is a Prometheus API vector/matrix element.
type promSeries struct {
	Metric map[string]string `json:"metric"`
	Value  []any             `json:"value"`
	Values [][]any           `json:"values"`
}

func (s *server) query(project, q string, at time.Time) ([]promSeries, error) {
	var data struct {
		ResultType string       `json:"resultType"`
		Result     []promSeries `json:"result"`
	}
	_, err := s.api("admin", adminPassword, project, "/api/v1/query", url.Values{"query": {q}, "time": {fmt.Sprint(at.Unix())}}, &data)
	return data.Result, err
}

type eventsPage struct {
	Records    []map[string]string `json:"records"`
	NextCursor string              `json:"nextCursor"`
	Partial    bool                `json:"partial"`
}

func (s *server) events(user, pass, project string, params url.Values) (eventsPage, error) {
	var page eventsPage
	_, err := s.api(user, pass, project, "/api/v1/events", params, &page)
	return page, err
}

// eventually retries f until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: not true within %s: %v", what, timeout, err)
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}
