package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/encoding/gzip" // registers the gzip compressor for compression: gzip
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/osprey-monitoring/osprey/internal/agent/spool"
	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// Record types in the spool.
const (
	recMetrics spool.Type = 1 // OTLP ExportMetricsServiceRequest bytes
	recPush    spool.Type = 2 // agentpb.PushRequest bytes
	recLogs    spool.Type = 3 // OTLP ExportLogsServiceRequest bytes
)

const (
	callTimeout    = 15 * time.Second
	retryMin       = 500 * time.Millisecond
	retryMax       = 30 * time.Second
	refusedMin     = 30 * time.Second // a refused key will not fix itself soon
	refusedMax     = 5 * time.Minute
	logRepeatEvery = time.Minute
)

// dial opens the (lazy) client connection. Nothing is sent until the first
// call, and a down server does not fail it.
func dial(cfg *Config) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if cfg.TLS.Enabled {
		tc := &tls.Config{
			ServerName:         cfg.TLS.ServerName,
			InsecureSkipVerify: cfg.TLS.InsecureSkipVerify, //nolint:gosec // operator's explicit choice
			MinVersion:         tls.VersionTLS12,
		}
		if cfg.TLS.CAFile != "" {
			pem, err := os.ReadFile(cfg.TLS.CAFile)
			if err != nil {
				return nil, fmt.Errorf("read tls.ca_file %s: %w", cfg.TLS.CAFile, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tls.ca_file %s: no PEM certificates", cfg.TLS.CAFile)
			}
			tc.RootCAs = pool
		}
		creds = credentials.NewTLS(tc)
	}
	auth := "Bearer " + cfg.Key
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithUserAgent("osprey-agent/" + cfg.Version),
		// gRPC's default reconnect backoff grows to two minutes; we want
		// the backlog moving soon after the server is back.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 500 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 15 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(metadata.AppendToOutgoingContext(ctx, wire.HeaderAuthorization, auth), method, req, reply, cc, opts...)
		}),
	}
	if cfg.Compression == "gzip" {
		opts = append(opts, grpc.WithDefaultCallOptions(grpc.UseCompressor("gzip")))
	}
	conn, err := grpc.NewClient(cfg.Server, opts...)
	if err != nil {
		return nil, fmt.Errorf("create grpc client for %s: %w", cfg.Server, err)
	}
	return conn, nil
}

// sender moves batches from the spool to the server, oldest first, and
// removes each one only when the server acknowledged it.
type sender struct {
	sp        *spool.Spool
	otlp      pmetricotlp.GRPCClient
	logs      plogotlp.GRPCClient
	agent     agentpb.AgentServiceClient
	ident     *agentpb.AgentIdentity
	server    string
	logger    *slog.Logger
	inventory func() *agentpb.Inventory

	errors atomic.Uint64

	registered bool
	failing    bool
	failedAt   time.Time
	lastLog    time.Time
	// lastRefused makes a change between "unreachable" and "refused"
	// show at once rather than after logRepeatEvery.
	lastRefused bool
	delay       time.Duration
	sent        uint64
}

func newSender(conn *grpc.ClientConn, sp *spool.Spool, ident *agentpb.AgentIdentity, server string, inventory func() *agentpb.Inventory, logger *slog.Logger) *sender {
	return &sender{
		sp:        sp,
		otlp:      pmetricotlp.NewGRPCClient(conn),
		logs:      plogotlp.NewGRPCClient(conn),
		agent:     agentpb.NewAgentServiceClient(conn),
		ident:     ident,
		server:    server,
		logger:    logger,
		inventory: inventory,
	}
}

// errPermanent marks a batch the server will never accept; it is dropped
// so it does not block everything queued behind it.
var errPermanent = errors.New("rejected permanently")

func (s *sender) run(ctx context.Context, wg *sync.WaitGroup) {
	defer wg.Done()
	var buf []byte
	for ctx.Err() == nil {
		if !s.registered {
			if err := s.register(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				s.failed(ctx, "register", err)
				continue
			}
		}
		rec, err := s.sp.Peek(buf)
		if errors.Is(err, spool.ErrEmpty) {
			select {
			case <-ctx.Done():
				return
			case <-s.sp.Notify():
			}
			continue
		}
		if err != nil {
			s.logger.Error("read spool", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		buf = rec.Data[:0]
		err = s.sendGraceful(ctx, rec)
		switch {
		case err == nil:
		case errors.Is(err, errPermanent):
			s.errors.Add(1)
			s.logger.Error("server rejected a batch; dropping it", "err", err)
		default:
			if ctx.Err() != nil {
				return // stopping: the batch stays spooled for next time
			}
			s.failed(ctx, "send", err)
			continue
		}
		if err := s.sp.Ack(rec); err != nil {
			s.logger.Error("ack spool record", "err", err)
		}
		s.recovered()
	}
}

func (s *sender) register(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := s.agent.Register(cctx, &agentpb.RegisterRequest{Agent: s.ident, Inventory: s.inventory()})
	if status.Code(err) == codes.Unimplemented {
		// A server without the agent protocol still takes OTLP.
		s.logger.Warn("server does not implement agent registration", "server", s.server)
		s.registered = true
		return nil
	}
	if err != nil {
		return err
	}
	s.registered = true
	s.logger.Info("registered with server", "server", s.server, "project", resp.GetProject(),
		"report_interval_seconds", resp.GetReportIntervalSeconds())
	return nil
}

// stopGrace is how long a call in flight when the agent stops may still
// finish. Cutting it off would leave a batch the server may already have
// stored in the spool, to be sent again after the restart.
const stopGrace = 5 * time.Second

// sendGraceful sends rec, letting the call outlive ctx by stopGrace.
func (s *sender) sendGraceful(ctx context.Context, rec spool.Record) error {
	callCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(stopGrace, cancel)
		context.AfterFunc(callCtx, func() { t.Stop() })
	})
	defer stop()
	return s.send(callCtx, rec)
}

func (s *sender) send(ctx context.Context, rec spool.Record) error {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	switch rec.Type {
	case recMetrics:
		req := pmetricotlp.NewExportRequest()
		if err := req.UnmarshalProto(rec.Data); err != nil {
			return fmt.Errorf("decode spooled metrics: %v: %w", err, errPermanent)
		}
		resp, err := s.otlp.Export(cctx, req)
		if err != nil {
			return classify(err)
		}
		if ps := resp.PartialSuccess(); ps.RejectedDataPoints() > 0 || ps.ErrorMessage() != "" {
			s.logger.Warn("server rejected some data points", "rejected", ps.RejectedDataPoints(), "message", ps.ErrorMessage())
		}
	case recLogs:
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(rec.Data); err != nil {
			return fmt.Errorf("decode spooled logs: %v: %w", err, errPermanent)
		}
		resp, err := s.logs.Export(cctx, req)
		if err != nil {
			return classify(err)
		}
		if ps := resp.PartialSuccess(); ps.RejectedLogRecords() > 0 || ps.ErrorMessage() != "" {
			s.logger.Warn("server rejected some log records", "rejected", ps.RejectedLogRecords(), "message", ps.ErrorMessage())
		}
	case recPush:
		req := &agentpb.PushRequest{}
		if err := proto.Unmarshal(rec.Data, req); err != nil {
			return fmt.Errorf("decode spooled push: %v: %w", err, errPermanent)
		}
		resp, err := s.agent.Push(cctx, req)
		if err != nil {
			return classify(err)
		}
		if resp.GetRejected() > 0 {
			s.logger.Warn("server rejected some snapshots", "rejected", resp.GetRejected(), "message", resp.GetErrorMessage())
		}
	default:
		return fmt.Errorf("unknown spool record type %d: %w", rec.Type, errPermanent)
	}
	s.sent++
	return nil
}

// classify turns codes that will never succeed on retry into errPermanent.
func classify(err error) error {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.OutOfRange, codes.DataLoss, codes.FailedPrecondition, codes.AlreadyExists:
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	return err
}

func refused(err error) bool {
	c := status.Code(err)
	return c == codes.Unauthenticated || c == codes.PermissionDenied
}

// failed logs (without flooding) and waits before the next try. After a
// connection failure the agent registers again, since the server may have
// restarted or it may be a different node.
func (s *sender) failed(ctx context.Context, what string, err error) {
	s.errors.Add(1)
	s.registered = false
	now := time.Now()
	lo, hi := retryMin, retryMax
	if refused(err) {
		lo, hi = refusedMin, refusedMax
	}
	if !s.failing {
		s.failing, s.failedAt, s.delay = true, now, lo
	} else {
		s.delay = min(max(s.delay*2, lo), hi)
	}
	if s.lastLog.IsZero() || now.Sub(s.lastLog) >= logRepeatEvery || refused(err) != s.lastRefused {
		s.lastLog, s.lastRefused = now, refused(err)
		st := s.sp.Stats()
		if refused(err) {
			s.logger.Error("server refused the key: check the project access key (--key / OSPREY_KEY)",
				"server", s.server, "call", what, "err", status.Convert(err).Message(),
				"retry_in", s.delay, "spooled_batches", st.Records)
		} else {
			s.logger.Warn("server unreachable; spooling", "server", s.server, "call", what, "err", err,
				"retry_in", s.delay, "spooled_batches", st.Records, "spooled_bytes", st.Bytes)
		}
	}
	// Jitter spreads many agents that lost the same server.
	sleep(ctx, s.delay/2+rand.N(s.delay/2+1))
}

func (s *sender) recovered() {
	if !s.failing {
		return
	}
	st := s.sp.Stats()
	s.logger.Info("server reachable again; sending spooled batches", "server", s.server,
		"down_for", time.Since(s.failedAt).Round(time.Second), "backlog_batches", st.Records)
	s.failing, s.lastLog, s.lastRefused, s.delay = false, time.Time{}, false, 0
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
