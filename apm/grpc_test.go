package apm_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/osprey-monitoring/osprey/apm"
	"github.com/osprey-monitoring/osprey/apm/internal/collector"
)

// TestGRPCPropagation: an HTTP transaction calls a real gRPC service
// through otelgrpc; traceparent travels in the gRPC metadata, so the
// service's server span is a transaction of its own in the same trace,
// its parent the caller's client span, and the call is an external-call
// step of the caller.
func TestGRPCPropagation(t *testing.T) {
	col, err := collector.Start(testKey, false)
	if err != nil {
		t.Fatal(err)
	}
	defer col.Stop()
	agent, err := apm.Start(context.Background(), apm.Config{
		Endpoint: col.Addr, Key: testKey, App: "grpc-demo", Insecure: true,
		StatInterval: time.Hour, ActiveInterval: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}

	// A real gRPC server: the standard health service.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.StatsHandler(otelgrpc.NewServerHandler()))
	healthpb.RegisterHealthServer(gs, health.NewServer())
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		res, err := client.Check(r.Context(), &healthpb.HealthCheckRequest{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		io.WriteString(w, res.GetStatus().String())
	})
	srv := httptest.NewServer(agent.Handler(mux, "status"))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "SERVING" {
		t.Fatalf("GET /status: %d %q", resp.StatusCode, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := agent.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	var httpTx, clientSpan, serverSpan *collector.Span
	spans := col.Spans()
	for i := range spans {
		s := &spans[i]
		switch {
		case s.Kind == ptrace.SpanKindServer && (s.Attrs["rpc.system"] == "grpc" || s.Attrs["rpc.system.name"] == "grpc"):
			serverSpan = s
		case s.Kind == ptrace.SpanKindClient && (s.Attrs["rpc.system"] == "grpc" || s.Attrs["rpc.system.name"] == "grpc"):
			clientSpan = s
		case s.Kind == ptrace.SpanKindServer:
			httpTx = s
		}
	}
	if httpTx == nil || clientSpan == nil || serverSpan == nil {
		t.Fatalf("want the HTTP transaction, the gRPC client step and the gRPC server transaction; got %+v", spans)
	}
	if serverSpan.TraceID != httpTx.TraceID || clientSpan.TraceID != httpTx.TraceID {
		t.Errorf("traces differ: http %s client %s server %s", httpTx.TraceID, clientSpan.TraceID, serverSpan.TraceID)
	}
	if serverSpan.ParentID != clientSpan.SpanID {
		t.Errorf("the gRPC server span's parent is %s, want the client span %s", serverSpan.ParentID, clientSpan.SpanID)
	}
	if clientSpan.ParentID != httpTx.SpanID {
		t.Errorf("the gRPC call's parent is %s, want the HTTP transaction %s", clientSpan.ParentID, httpTx.SpanID)
	}
	// The gRPC server span is an entry span: the library summarised it.
	if _, ok := serverSpan.Attrs["osprey.tx.sql_count"]; !ok {
		t.Errorf("the gRPC server span carries no transaction summary: %v", serverSpan.Attrs)
	}
	if n, _ := httpTx.Attrs["osprey.tx.httpc_count"].(int64); n != 1 {
		t.Errorf("the HTTP transaction counts %v external calls, want the gRPC call (1)", httpTx.Attrs["osprey.tx.httpc_count"])
	}
}
