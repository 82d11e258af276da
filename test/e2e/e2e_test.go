package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func startAgent(t *testing.T, s *server, name string) *proc {
	t.Helper()
	dir := t.TempDir()
	p := start(t, filepath.Join(dir, "agent.log"), nil, "osprey-agent",
		"--server", s.grpcAddr, "--key", projectKey, "--name", name, "--group", "e2e",
		"--state-dir", filepath.Join(dir, "state"), "--interval", "1s")
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := readFile(filepath.Join(dir, "agent.log"))
			t.Logf("agent log (tail):\n%s", tail(b, 3000))
		}
	})
	return p
}

func TestAgentHostMetricsProcessListAndAgentList(t *testing.T) {
	s := newServer(t)
	startAgent(t, s, "e2e-host")

	eventually(t, 60*time.Second, "host metrics via PromQL", func() error {
		for _, q := range []string{
			`system_memory_usage_bytes{osprey_agent_name="e2e-host",state="used"}`,
			`system_cpu_time_seconds_total{osprey_agent_name="e2e-host",state="user"}`,
			`system_filesystem_usage_bytes{osprey_agent_name="e2e-host"}`,
			`system_network_io_bytes_total{osprey_agent_name="e2e-host"}`,
			`system_cpu_load_average_1m{osprey_agent_name="e2e-host"}`,
		} {
			res, err := s.query("", q, time.Now())
			if err != nil {
				return err
			}
			if len(res) == 0 {
				return fmt.Errorf("no series for %s", q)
			}
		}
		res, _ := s.query("", `system_memory_usage_bytes{osprey_agent_name="e2e-host",state="used"}`, time.Now())
		v, _ := strconv.ParseFloat(fmt.Sprint(res[0].Value[1]), 64)
		if v <= 0 {
			return fmt.Errorf("used memory %v, want > 0", v)
		}
		return nil
	})

	eventually(t, 30*time.Second, "process list snapshot via the events API", func() error {
		page, err := s.events("admin", adminPassword, "", url.Values{
			"type": {"snapshot"}, "filter": {"snapshot.type=process_list", "agent.name=e2e-host"}, "limit": {"1"}, "start": {"-5m"},
		})
		if err != nil {
			return err
		}
		if len(page.Records) == 0 {
			return errors.New("no process_list snapshot yet")
		}
		if body := page.Records[0]["body"]; !strings.Contains(body, "osprey-agent") {
			return fmt.Errorf("process list does not show the agent itself: %s", tail(body, 300))
		}
		return nil
	})

	t.Run("promtool query instant", func(t *testing.T) {
		promtool, err := exec.LookPath("promtool")
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("promtool not on PATH in CI (scripts/test-deps.sh provides it): %v", err)
			}
			t.Skip("promtool not on PATH; run make test")
		}
		// Basic auth from the URL's user info works with every promtool
		// version (Debian's 2.42 has no --http.config.file).
		out, err := exec.Command(promtool, "query", "instant",
			"http://admin:"+adminPassword+"@"+s.httpAddr, `system_memory_usage_bytes{osprey_agent_name="e2e-host",state="used"}`).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), `osprey_agent_name="e2e-host"`) || !strings.Contains(string(out), "=>") {
			t.Fatalf("promtool output lacks the series:\n%s", out)
		}
	})

	var agents struct {
		Agents []struct {
			Name      string         `json:"name"`
			Kind      string         `json:"kind"`
			Group     string         `json:"group"`
			Active    bool           `json:"active"`
			Inventory map[string]any `json:"inventory"`
			Processes int            `json:"processes"`
		} `json:"agents"`
		Active int `json:"active"`
	}
	if _, err := s.api("admin", adminPassword, "", "/api/v1/agents", nil, &agents); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range agents.Agents {
		if a.Name == "e2e-host" {
			found = true
			if !a.Active || a.Kind != "host" || a.Group != "e2e" || a.Processes == 0 || a.Inventory == nil {
				t.Errorf("agent state = %+v, want active host in group e2e with processes and inventory", a)
			}
		}
	}
	if !found {
		t.Fatalf("agent e2e-host missing from /api/v1/agents: %+v", agents)
	}
}

func authHeaders() map[string]string {
	return map[string]string{"authorization": "Bearer " + projectKey}
}

func TestOpenTelemetrySDKSpansAndLogs(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	res := resource.NewSchemaless(attribute.String("service.name", "checkout"), attribute.String("host.name", "app-1"))

	for _, transport := range []string{"grpc", "http"} {
		t.Run(transport, func(t *testing.T) {
			var exp sdktrace.SpanExporter
			var err error
			if transport == "grpc" {
				exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(s.grpcAddr), otlptracegrpc.WithInsecure(), otlptracegrpc.WithHeaders(authHeaders()))
			} else {
				exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(s.otlp), otlptracehttp.WithInsecure(), otlptracehttp.WithHeaders(map[string]string{"Authorization": "Bearer " + projectKey}))
			}
			if err != nil {
				t.Fatal(err)
			}
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(res))
			tr := tp.Tracer("e2e")
			sctx, root := tr.Start(ctx, "GET /orders/{id}", trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(attribute.String("http.route", "/orders/{id}"), attribute.String("http.request.method", "GET"), attribute.Int("http.response.status_code", 200)))
			_, child := tr.Start(sctx, "SELECT orders", trace.WithSpanKind(trace.SpanKindClient),
				trace.WithAttributes(attribute.String("db.system.name", "postgresql"), attribute.String("db.query.text", "SELECT * FROM orders WHERE id = ?")))
			child.End()
			root.End()
			if err := tp.Shutdown(ctx); err != nil {
				t.Fatalf("export spans over %s: %v", transport, err)
			}
			traceID := root.SpanContext().TraceID().String()
			eventually(t, 20*time.Second, "spans via the events API", func() error {
				page, err := s.events("admin", adminPassword, "", url.Values{"type": {"span"}, "filter": {"trace_id=" + traceID}, "start": {"-10m"}})
				if err != nil {
					return err
				}
				if len(page.Records) != 2 {
					return fmt.Errorf("%d spans for trace %s, want 2", len(page.Records), traceID)
				}
				for _, r := range page.Records {
					if r["service.name"] != "checkout" {
						return fmt.Errorf("span without service.name: %v", r)
					}
					if r["span.kind"] == "client" && r["db.query.text"] != "SELECT * FROM orders WHERE id = ?" {
						return fmt.Errorf("SQL span lost db.query.text: %v", r)
					}
				}
				return nil
			})
		})
	}

	t.Run("logs", func(t *testing.T) {
		exp, err := otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(s.grpcAddr), otlploggrpc.WithInsecure(), otlploggrpc.WithHeaders(authHeaders()))
		if err != nil {
			t.Fatal(err)
		}
		lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)), sdklog.WithResource(res))
		var rec otellog.Record
		rec.SetTimestamp(time.Now())
		rec.SetSeverity(otellog.SeverityError)
		rec.SetSeverityText("ERROR")
		rec.SetBody(attribute.StringValue("payment gateway timeout for order 4711"))
		rec.AddAttributes(attribute.String("order.id", "4711"))
		lp.Logger("e2e").Emit(ctx, rec)
		if err := lp.Shutdown(ctx); err != nil {
			t.Fatalf("export logs: %v", err)
		}
		eventually(t, 20*time.Second, "log via the events API", func() error {
			page, err := s.events("admin", adminPassword, "", url.Values{"type": {"log"}, "q": {"gateway timeout"}, "start": {"-10m"}})
			if err != nil {
				return err
			}
			if len(page.Records) != 1 {
				return fmt.Errorf("%d log records match, want 1", len(page.Records))
			}
			r := page.Records[0]
			if r["order.id"] != "4711" || r["level"] != "error" || r["service.name"] != "checkout" {
				return fmt.Errorf("log record fields: %v", r)
			}
			return nil
		})
	})
}

// otlpConn dials the server's gRPC port with a project key.
func otlpConn(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func withKey(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
}

func logBatch(run string, batch, n int, at time.Time) plogotlp.ExportRequest {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "e2e-writer")
	sl := rl.ScopeLogs().AppendEmpty()
	for i := 0; i < n; i++ {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(at))
		lr.Body().SetStr(fmt.Sprintf("run %s batch %d line %d", run, batch, i))
		lr.Attributes().PutStr("e2e.run", run)
		lr.Attributes().PutInt("e2e.batch", int64(batch))
	}
	return plogotlp.NewExportRequestFromLogs(ld)
}

func gaugeBatch(name string, ts time.Time, v float64) pmetricotlp.ExportRequest {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "e2e-writer")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(name)
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	dp.SetDoubleValue(v)
	return pmetricotlp.NewExportRequestFromMetrics(md)
}

func TestProjectIsolation(t *testing.T) {
	s := newServer(t)
	const keyB = "osp_e2e_team_b_project_key_0002"
	s.cli("project", "create", "teamb", "--key", keyB)
	s.cli("user", "add", "bob", "--password", "bob-password-1", "--project", "teamb", "--role", "viewer")

	conn := otlpConn(t, s.grpcAddr)
	logs, metrics := plogotlp.NewGRPCClient(conn), pmetricotlp.NewGRPCClient(conn)
	now := time.Now()
	ctx := context.Background()
	if _, err := logs.Export(withKey(ctx, keyB), logBatch("secret-b", 0, 3, now)); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.Export(withKey(ctx, keyB), gaugeBatch("team_b_only", now, 42)); err != nil {
		t.Fatal(err)
	}
	if _, err := logs.Export(withKey(ctx, projectKey), logBatch("default-a", 0, 2, now)); err != nil {
		t.Fatal(err)
	}

	eventually(t, 20*time.Second, "bob sees team B's logs and metric", func() error {
		page, err := s.events("bob", "bob-password-1", "teamb", url.Values{"type": {"log"}, "start": {"-10m"}})
		if err != nil {
			return err
		}
		if len(page.Records) != 3 {
			return fmt.Errorf("bob sees %d logs in teamb, want 3", len(page.Records))
		}
		res, err := queryAs(s, "bob", "bob-password-1", "teamb", `team_b_only`)
		if err != nil {
			return err
		}
		if len(res) != 1 {
			return fmt.Errorf("bob sees %d series of team_b_only, want 1", len(res))
		}
		return nil
	})
	// The default project sees none of it, by any API.
	page, err := s.events("admin", adminPassword, "default", url.Values{"type": {"log"}, "start": {"-10m"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range page.Records {
		if r["e2e.run"] == "secret-b" {
			t.Fatalf("default project sees team B's log: %v", r)
		}
	}
	if len(page.Records) != 2 {
		t.Errorf("default project sees %d logs, want its own 2", len(page.Records))
	}
	for _, q := range []string{`team_b_only`, `{__name__=~".+", service_name="e2e-writer"}`} {
		res, err := s.query("default", q, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 0 {
			t.Errorf("default project query %s sees team B: %v", q, res)
		}
	}
	var names []string
	if _, err := s.api("admin", adminPassword, "default", "/api/v1/label/__name__/values", nil, &names); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if n == "team_b_only" {
			t.Error("default project's metric names list team B's metric")
		}
	}
	// Bob is not a member of default: refused, not an empty answer.
	if code, _ := s.api("bob", "bob-password-1", "default", "/api/v1/events", url.Values{"type": {"log"}}, nil); code != http.StatusForbidden {
		t.Errorf("bob asking for project default: status %d, want 403", code)
	}
	if code, _ := s.api("bob", "wrong-password", "teamb", "/api/v1/events", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("wrong password: status %d, want 401", code)
	}
}

func queryAs(s *server, user, pass, project, q string) ([]promSeries, error) {
	var data struct {
		Result []promSeries `json:"result"`
	}
	_, err := s.api(user, pass, project, "/api/v1/query", url.Values{"query": {q}}, &data)
	return data.Result, err
}

func TestBadInputIsRefusedClearly(t *testing.T) {
	s := newServer(t)
	conn := otlpConn(t, s.grpcAddr)
	logs := plogotlp.NewGRPCClient(conn)
	ctx := context.Background()

	_, err := logs.Export(withKey(ctx, "osp_wrong_key_000000000000000"), logBatch("x", 0, 1, time.Now()))
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("wrong key over gRPC: %v, want Unauthenticated", err)
	}
	_, err = logs.Export(ctx, logBatch("x", 0, 1, time.Now()))
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("no key over gRPC: %v, want Unauthenticated", err)
	}

	post := func(key, ctype string, body []byte) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.otlp+"/v1/logs", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	good, _ := logBatch("http", 0, 1, time.Now()).MarshalProto()
	cases := []struct {
		name  string
		key   string
		ctype string
		body  []byte
		want  int
	}{
		{"accepted", projectKey, "application/x-protobuf", good, 200},
		{"wrong key", "osp_wrong_key_000000000000000", "application/x-protobuf", good, 401},
		{"malformed protobuf", projectKey, "application/x-protobuf", []byte{0xff, 0xff, 0xff, 0x01, 0x02}, 400},
		{"malformed json", projectKey, "application/json", []byte(`{"resourceLogs": [`), 400},
		{"unsupported type", projectKey, "text/plain", good, 415},
		{"oversized body", projectKey, "application/x-protobuf", make([]byte, 17<<20), 413},
	}
	for _, c := range cases {
		if got := post(c.key, c.ctype, c.body); got != c.want {
			t.Errorf("%s: status %d, want %d", c.name, got, c.want)
		}
	}

	// Records far in the future are refused one by one; the rest is kept.
	req := logBatch("future", 0, 3, time.Now())
	req.Logs().ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).SetTimestamp(pcommon.NewTimestampFromTime(time.Now().Add(48 * time.Hour)))
	resp, err := logs.Export(withKey(ctx, projectKey), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.PartialSuccess().RejectedLogRecords() != 1 {
		t.Errorf("future record: rejected %d, want 1 (%s)", resp.PartialSuccess().RejectedLogRecords(), resp.PartialSuccess().ErrorMessage())
	}
	eventually(t, 20*time.Second, "the accepted records are stored", func() error {
		page, err := s.events("admin", adminPassword, "", url.Values{"type": {"log"}, "start": {"-10m"}, "filter": {"e2e.run=future"}})
		if err != nil {
			return err
		}
		if len(page.Records) != 2 {
			return fmt.Errorf("%d stored, want 2", len(page.Records))
		}
		return nil
	})
	// The refusals are counted in the server's own metrics.
	resp2, err := http.Get("http://" + s.httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp2.Body)
	for _, want := range []string{`osprey_ingest_rejected_total{reason="bad_key"}`, `osprey_ingest_rejected_total{reason="malformed"}`,
		`osprey_ingest_rejected_total{reason="too_large"}`, `osprey_ingest_rejected_total{reason="future_timestamp"} 1`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestAgentSpoolsThroughServerRestart(t *testing.T) {
	s := newServer(t)
	startAgent(t, s, "spool-host")
	const q = `system_memory_usage_bytes{osprey_agent_name="spool-host",state="used"}`
	eventually(t, 60*time.Second, "agent data flowing", func() error {
		res, err := s.query("", q, time.Now())
		if err != nil || len(res) == 0 {
			return fmt.Errorf("no data yet (%v)", err)
		}
		return nil
	})
	downAt := time.Now()
	s.proc.stop(t)
	time.Sleep(8 * time.Second) // the agent keeps collecting every 1 s into its spool
	s.start()
	upAt := time.Now()
	time.Sleep(3 * time.Second)

	eventually(t, 60*time.Second, "no gap in the series across the outage", func() error {
		at := time.Now()
		window := at.Sub(downAt) + 5*time.Second
		res, err := s.query("", fmt.Sprintf("%s[%ds]", q, int(window.Seconds())+1), at)
		if err != nil {
			return err
		}
		if len(res) != 1 {
			return fmt.Errorf("%d series, want 1", len(res))
		}
		var prev float64
		var covered int
		for i, pt := range res[0].Values {
			ts, _ := strconv.ParseFloat(fmt.Sprint(pt[0]), 64)
			if i > 0 && ts-prev > 2.5 {
				return fmt.Errorf("gap of %.1fs at %s (outage %s–%s)", ts-prev, time.Unix(int64(prev), 0).Format(time.TimeOnly),
					downAt.Format(time.TimeOnly), upAt.Format(time.TimeOnly))
			}
			if ts > float64(downAt.Unix())+1 && ts < float64(upAt.Unix())-1 {
				covered++
			}
			prev = ts
		}
		if covered < 5 {
			return fmt.Errorf("only %d samples inside the %s outage", covered, upAt.Sub(downAt).Round(time.Second))
		}
		return nil
	})
}

func TestKill9LosesNoAcknowledgedBatch(t *testing.T) {
	s := newServer(t)
	conn := otlpConn(t, s.grpcAddr)
	logs, metrics := plogotlp.NewGRPCClient(conn), pmetricotlp.NewGRPCClient(conn)
	ctx := withKey(context.Background(), projectKey)
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	const batches, perBatch = 200, 50
	base := time.Now().Add(-time.Minute).Truncate(time.Second)

	var wg sync.WaitGroup
	var ackedLogs, ackedPoints int
	var mu sync.Mutex
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for b := w; b < batches; b += 4 {
				if _, err := logs.Export(ctx, logBatch(run, b, perBatch, base.Add(time.Duration(b)*time.Millisecond))); err != nil {
					t.Errorf("log batch %d: %v", b, err)
					return
				}
				if _, err := metrics.Export(ctx, gaugeBatch("e2e_kill9_"+run, base.Add(time.Duration(b)*100*time.Millisecond), float64(b))); err != nil {
					t.Errorf("metric batch %d: %v", b, err)
					return
				}
				mu.Lock()
				ackedLogs += perBatch
				ackedPoints++
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	// Straight after the last acknowledgement: no chance for a flush.
	s.proc.kill()
	if ackedLogs != batches*perBatch {
		t.Fatalf("only %d log records acknowledged", ackedLogs)
	}
	s.start()

	eventually(t, 30*time.Second, "every acknowledged record after kill -9", func() error {
		var count struct {
			N uint64 `json:"count"`
		}
		if _, err := s.api("admin", adminPassword, "", "/api/v1/events/count", url.Values{
			"type": {"log"}, "filter": {"e2e.run=" + run}, "start": {"-1h"}, "end": {strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)},
		}, &count); err != nil {
			return err
		}
		n := count.N
		if n != uint64(ackedLogs) {
			return fmt.Errorf("%d log records stored, %d acknowledged", n, ackedLogs)
		}
		res, err := s.query("", fmt.Sprintf("count_over_time(e2e_kill9_%s[5m])", run), time.Now())
		if err != nil {
			return err
		}
		if len(res) != 1 || fmt.Sprint(res[0].Value[1]) != strconv.Itoa(ackedPoints) {
			return fmt.Errorf("metric samples stored: %v, acknowledged %d", res, ackedPoints)
		}
		return nil
	})
}
