// Package collector is a real gRPC server that takes what the APM library
// sends (OTLP traces and AgentService calls) and keeps it for tests and
// benchmarks to inspect. It is not used by the library itself.
package collector

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// Span is one received span, flattened.
type Span struct {
	TraceID, SpanID, ParentID string
	Name                      string
	Kind                      ptrace.SpanKind
	Start, End                time.Time
	StatusError               bool
	Attrs                     map[string]any
	Resource                  map[string]any
}

// Duration is End - Start.
func (s Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// Collector records everything; with Discard it only counts (benchmarks).
type Collector struct {
	Addr    string
	Discard bool
	// WantKey, when set, makes calls without "authorization: Bearer
	// WantKey" fail with Unauthenticated.
	WantKey string

	srv *grpc.Server

	mu        sync.Mutex
	spans     []Span
	registers []*agentpb.RegisterRequest
	pushes    []*agentpb.PushRequest

	SpanCount atomic.Int64
	PushCount atomic.Int64
	BadAuth   atomic.Int64
}

// Start listens on a loopback port.
func Start(wantKey string, discard bool) (*Collector, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &Collector{Addr: lis.Addr().String(), WantKey: wantKey, Discard: discard}
	c.srv = grpc.NewServer(grpc.ChainUnaryInterceptor(c.auth))
	ptraceotlp.RegisterGRPCServer(c.srv, &traces{c: c})
	agentpb.RegisterAgentServiceServer(c.srv, &agents{c: c})
	go func() { _ = c.srv.Serve(lis) }()
	return c, nil
}

// Stop stops the server.
func (c *Collector) Stop() { c.srv.Stop() }

func (c *Collector) auth(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if c.WantKey != "" {
		md, _ := metadata.FromIncomingContext(ctx)
		v := md.Get(wire.HeaderAuthorization)
		if len(v) != 1 || v[0] != "Bearer "+c.WantKey {
			c.BadAuth.Add(1)
			return nil, status.Error(codes.Unauthenticated, "bad key")
		}
	}
	return h(ctx, req)
}

// Spans returns a copy of the spans received so far.
func (c *Collector) Spans() []Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Span(nil), c.spans...)
}

// Registers returns the Register calls received.
func (c *Collector) Registers() []*agentpb.RegisterRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*agentpb.RegisterRequest(nil), c.registers...)
}

// Pushes returns the Push calls received.
func (c *Collector) Pushes() []*agentpb.PushRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*agentpb.PushRequest(nil), c.pushes...)
}

// Snapshots returns every snapshot received, in order.
func (c *Collector) Snapshots() []*agentpb.Snapshot {
	var out []*agentpb.Snapshot
	for _, p := range c.Pushes() {
		out = append(out, p.GetSnapshots()...)
	}
	return out
}

type traces struct {
	ptraceotlp.UnimplementedGRPCServer
	c *Collector
}

func (t *traces) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	td := req.Traces()
	t.c.SpanCount.Add(int64(td.SpanCount()))
	if t.c.Discard {
		return ptraceotlp.NewExportResponse(), nil
	}
	var got []Span
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource().Attributes().AsRaw()
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j).Spans()
			for k := 0; k < ss.Len(); k++ {
				sp := ss.At(k)
				parent := ""
				if p := sp.ParentSpanID(); !p.IsEmpty() {
					parent = p.String()
				}
				got = append(got, Span{
					TraceID: sp.TraceID().String(), SpanID: sp.SpanID().String(), ParentID: parent,
					Name: sp.Name(), Kind: sp.Kind(),
					Start: sp.StartTimestamp().AsTime(), End: sp.EndTimestamp().AsTime(),
					StatusError: sp.Status().Code() == ptrace.StatusCodeError,
					Attrs:       sp.Attributes().AsRaw(), Resource: res,
				})
			}
		}
	}
	t.c.mu.Lock()
	t.c.spans = append(t.c.spans, got...)
	t.c.mu.Unlock()
	return ptraceotlp.NewExportResponse(), nil
}

type agents struct {
	agentpb.UnimplementedAgentServiceServer
	c *Collector
}

func (a *agents) Register(_ context.Context, req *agentpb.RegisterRequest) (*agentpb.RegisterResponse, error) {
	if req.GetAgent().GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "agent.id is required")
	}
	a.c.mu.Lock()
	a.c.registers = append(a.c.registers, proto.Clone(req).(*agentpb.RegisterRequest))
	a.c.mu.Unlock()
	return &agentpb.RegisterResponse{Project: "test", ReportIntervalSeconds: wire.DefaultReportInterval}, nil
}

func (a *agents) Push(_ context.Context, req *agentpb.PushRequest) (*agentpb.PushResponse, error) {
	if req.GetAgent().GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "agent.id is required")
	}
	a.c.PushCount.Add(1)
	if !a.c.Discard {
		a.c.mu.Lock()
		a.c.pushes = append(a.c.pushes, proto.Clone(req).(*agentpb.PushRequest))
		a.c.mu.Unlock()
	}
	return &agentpb.PushResponse{Accepted: uint32(len(req.GetSnapshots()))}, nil
}
