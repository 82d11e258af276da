package receiver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // OTLP exporters commonly send gzip
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/osprey-monitoring/osprey/internal/ingest"
	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// RegisterGRPC puts the OTLP trace/metric/log services and the agent
// service on s. Use UnaryInterceptor when building s.
func (r *Receiver) RegisterGRPC(s *grpc.Server) {
	ptraceotlp.RegisterGRPCServer(s, &traceServer{r: r})
	pmetricotlp.RegisterGRPCServer(s, &metricServer{r: r})
	plogotlp.RegisterGRPCServer(s, &logServer{r: r})
	agentpb.RegisterAgentServiceServer(s, &agentServer{r: r})
}

// GRPCServerOptions are the options the receiver needs on the server:
// authentication, and the message size limit.
func (r *Receiver) GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(r.unaryAuth),
		grpc.MaxRecvMsgSize(r.opts.MaxRequestBytes),
	}
}

func (r *Receiver) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ctx, err := r.authenticate(ctx, keyFromGRPC(ctx))
	switch {
	case errors.Is(err, ErrBadKey):
		return nil, status.Error(codes.Unauthenticated, "unknown or missing project key: send 'authorization: Bearer KEY'")
	case errors.Is(err, errRateLimited):
		return nil, status.Error(codes.ResourceExhausted, err.Error())
	case err != nil:
		return nil, status.Error(codes.Unavailable, "cannot check the project key now: "+err.Error())
	}
	return h(ctx, req)
}

func grpcAcceptErr(err error) error {
	if errors.Is(err, ingest.ErrClosed) {
		return status.Error(codes.Unavailable, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

type traceServer struct {
	ptraceotlp.UnimplementedGRPCServer
	r *Receiver
}

func (s *traceServer) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	resp := ptraceotlp.NewExportResponse()
	p, _ := ProjectFrom(ctx)
	td := req.Traces()
	if n := dropFutureSpans(td, limitFrom(time.Now(), s.r.opts.MaxFutureSkew)); n > 0 {
		s.r.rejected.WithLabelValues(reasonFuture).Add(float64(n))
		resp.PartialSuccess().SetRejectedSpans(int64(n))
		resp.PartialSuccess().SetErrorMessage(fmt.Sprintf("%d spans have timestamps more than %s in the future", n, s.r.opts.MaxFutureSkew))
	}
	count := td.SpanCount()
	if count == 0 {
		return resp, nil
	}
	body, err := req.MarshalProto()
	if err != nil {
		return resp, status.Error(codes.Internal, err.Error())
	}
	if err := s.r.accept(ctx, &ingest.Batch{Kind: ingest.KindTraces, Project: p.ID, Body: body, Traces: td}, count, "span"); err != nil {
		return resp, grpcAcceptErr(err)
	}
	return resp, nil
}

type metricServer struct {
	pmetricotlp.UnimplementedGRPCServer
	r *Receiver
}

func (s *metricServer) Export(ctx context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	resp := pmetricotlp.NewExportResponse()
	p, _ := ProjectFrom(ctx)
	md := req.Metrics()
	if n := dropFutureMetrics(md, limitFrom(time.Now(), s.r.opts.MaxFutureSkew)); n > 0 {
		s.r.rejected.WithLabelValues(reasonFuture).Add(float64(n))
		resp.PartialSuccess().SetRejectedDataPoints(int64(n))
		resp.PartialSuccess().SetErrorMessage(fmt.Sprintf("%d data points have timestamps more than %s in the future", n, s.r.opts.MaxFutureSkew))
	}
	count := md.DataPointCount()
	if count == 0 {
		return resp, nil
	}
	body, err := req.MarshalProto()
	if err != nil {
		return resp, status.Error(codes.Internal, err.Error())
	}
	if err := s.r.accept(ctx, &ingest.Batch{Kind: ingest.KindMetrics, Project: p.ID, Body: body, Metrics: md}, count, "datapoint"); err != nil {
		return resp, grpcAcceptErr(err)
	}
	return resp, nil
}

type logServer struct {
	plogotlp.UnimplementedGRPCServer
	r *Receiver
}

func (s *logServer) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	resp := plogotlp.NewExportResponse()
	p, _ := ProjectFrom(ctx)
	ld := req.Logs()
	if n := dropFutureLogs(ld, limitFrom(time.Now(), s.r.opts.MaxFutureSkew)); n > 0 {
		s.r.rejected.WithLabelValues(reasonFuture).Add(float64(n))
		resp.PartialSuccess().SetRejectedLogRecords(int64(n))
		resp.PartialSuccess().SetErrorMessage(fmt.Sprintf("%d log records have timestamps more than %s in the future", n, s.r.opts.MaxFutureSkew))
	}
	count := ld.LogRecordCount()
	if count == 0 {
		return resp, nil
	}
	body, err := req.MarshalProto()
	if err != nil {
		return resp, status.Error(codes.Internal, err.Error())
	}
	if err := s.r.accept(ctx, &ingest.Batch{Kind: ingest.KindLogs, Project: p.ID, Body: body, Logs: ld}, count, "log"); err != nil {
		return resp, grpcAcceptErr(err)
	}
	return resp, nil
}

type agentServer struct {
	agentpb.UnimplementedAgentServiceServer
	r *Receiver
}

func (s *agentServer) Register(ctx context.Context, req *agentpb.RegisterRequest) (*agentpb.RegisterResponse, error) {
	p, _ := ProjectFrom(ctx)
	if req.GetAgent().GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "agent.id is required")
	}
	s.r.agents.ObserveRegister(p.ID, req.GetAgent(), req.GetInventory(), time.Now())
	return &agentpb.RegisterResponse{Project: p.Name, ReportIntervalSeconds: wire.DefaultReportInterval}, nil
}

// Config tells an agent which URL checks to run. An agent sends the
// version it has; an unchanged answer carries no checks.
func (s *agentServer) Config(ctx context.Context, req *agentpb.ConfigRequest) (*agentpb.ConfigResponse, error) {
	p, _ := ProjectFrom(ctx)
	id := req.GetAgent().GetId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "agent.id is required")
	}
	if s.r.opts.Config == nil {
		return &agentpb.ConfigResponse{Version: "none"}, nil
	}
	version, checks, err := s.r.opts.Config.AgentConfig(ctx, p.ID, id)
	if err != nil {
		s.r.log.Error("agent configuration", "project", p.Name, "agent", id, "err", err)
		return nil, status.Error(codes.Unavailable, "configuration is not available right now")
	}
	if version == req.GetVersion() {
		return &agentpb.ConfigResponse{Version: version, Unchanged: true}, nil
	}
	return &agentpb.ConfigResponse{Version: version, UrlChecks: checks}, nil
}

func (s *agentServer) Push(ctx context.Context, req *agentpb.PushRequest) (*agentpb.PushResponse, error) {
	p, _ := ProjectFrom(ctx)
	if req.GetAgent().GetId() == "" {
		s.r.rejected.WithLabelValues(reasonMalformed).Inc()
		return nil, status.Error(codes.InvalidArgument, "agent.id is required")
	}
	limit := time.Now().Add(s.r.opts.MaxFutureSkew).UnixNano()
	kept := req.Snapshots[:0]
	rejected := 0
	for _, snap := range req.Snapshots {
		if snap.GetTimeUnixNano() > limit {
			rejected++
			continue
		}
		kept = append(kept, snap)
	}
	req.Snapshots = kept
	resp := &agentpb.PushResponse{Accepted: uint32(len(kept)), Rejected: uint32(rejected)}
	if rejected > 0 {
		s.r.rejected.WithLabelValues(reasonFuture).Add(float64(rejected))
		resp.ErrorMessage = fmt.Sprintf("%d snapshots have timestamps more than %s in the future", rejected, s.r.opts.MaxFutureSkew)
	}
	if len(kept) == 0 {
		return resp, nil
	}
	body, err := proto.Marshal(req)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	if err := s.r.accept(ctx, &ingest.Batch{Kind: ingest.KindAgentPush, Project: p.ID, Body: body, Push: req}, len(kept), "snapshot"); err != nil {
		return nil, grpcAcceptErr(err)
	}
	return resp, nil
}
