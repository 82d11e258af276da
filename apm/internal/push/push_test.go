package push

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// server fails the first failPushes pushes with failCode, then keeps what
// it gets.
type server struct {
	agentpb.UnimplementedAgentServiceServer
	failPushes atomic.Int32
	failCode   codes.Code
	registers  atomic.Int32

	mu    sync.Mutex
	times []int64 // snapshot times, in arrival order
	auth  []string
}

func (s *server) Register(ctx context.Context, _ *agentpb.RegisterRequest) (*agentpb.RegisterResponse, error) {
	s.registers.Add(1)
	return &agentpb.RegisterResponse{}, nil
}

func (s *server) Push(ctx context.Context, req *agentpb.PushRequest) (*agentpb.PushResponse, error) {
	if s.failPushes.Add(-1) >= 0 {
		return nil, status.Error(s.failCode, "not now")
	}
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth = append(s.auth, md.Get(wire.HeaderAuthorization)...)
	for _, sn := range req.GetSnapshots() {
		s.times = append(s.times, sn.GetTimeUnixNano())
	}
	return &agentpb.PushResponse{Accepted: uint32(len(req.GetSnapshots()))}, nil
}

func (s *server) got() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.times...)
}

func start(t *testing.T, srv *server) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	agentpb.RegisterAgentServiceServer(gs, srv)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func snap(n int64) *agentpb.Snapshot { return &agentpb.Snapshot{TimeUnixNano: n, Type: "t"} }

func newPusher(conn grpc.ClientConnInterface, max int, onDrop func(*agentpb.Snapshot)) *Pusher {
	return New(Config{Conn: conn, Identity: &agentpb.AgentIdentity{Id: "a"}, Key: "k", MaxQueue: max,
		Logger: slog.New(slog.DiscardHandler), OnDrop: onDrop})
}

func TestQueueDropsOldest(t *testing.T) {
	var dropped []int64
	p := newPusher(nil, 3, func(s *agentpb.Snapshot) { dropped = append(dropped, s.GetTimeUnixNano()) })
	for i := range int64(5) {
		p.Enqueue(snap(i))
	}
	if p.Queued() != 3 || p.Dropped() != 2 || len(dropped) != 2 || dropped[0] != 0 || dropped[1] != 1 {
		t.Fatalf("queued %d dropped %d %v", p.Queued(), p.Dropped(), dropped)
	}
}

func TestRetryKeepsOrder(t *testing.T) {
	srv := &server{failCode: codes.Unavailable}
	srv.failPushes.Store(2)
	p := newPusher(start(t, srv), 100, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	for i := range int64(40) {
		p.Enqueue(snap(i))
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(srv.got()) < 40 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	got := srv.got()
	if len(got) != 40 {
		t.Fatalf("got %d snapshots, want 40", len(got))
	}
	for i, v := range got {
		if v != int64(i) {
			t.Fatalf("snapshot %d is %d: order lost or duplicated", i, v)
		}
	}
	// After a failed push the pusher registers again.
	if srv.registers.Load() < 2 {
		t.Fatalf("registered %d times, want a new registration after failures", srv.registers.Load())
	}
	if srv.auth[0] != "Bearer k" {
		t.Fatalf("authorization %q", srv.auth[0])
	}
	if p.Queued() != 0 || p.Sent() != 40 {
		t.Fatalf("queued %d sent %d", p.Queued(), p.Sent())
	}
}

func TestPermanentRejectionDrops(t *testing.T) {
	srv := &server{failCode: codes.InvalidArgument}
	srv.failPushes.Store(1)
	var dropped atomic.Int32
	p := newPusher(start(t, srv), 100, func(*agentpb.Snapshot) { dropped.Add(1) })
	p.Enqueue(snap(1))
	p.Enqueue(snap(2))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	// Both went in one batch, which the server refused for good.
	if dropped.Load() != 2 || p.Queued() != 0 {
		t.Fatalf("dropped %d queued %d", dropped.Load(), p.Queued())
	}
	p.Enqueue(snap(3))
	if err := p.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if got := srv.got(); len(got) != 1 || got[0] != 3 {
		t.Fatalf("got %v", got)
	}
}

func TestDrainFailsFastWhenDown(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	p := newPusher(conn, 10, nil)
	p.Enqueue(snap(1))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	if err := p.Drain(ctx); err == nil {
		t.Fatal("drain to a closed port succeeded")
	}
	if time.Since(start) > 3500*time.Millisecond {
		t.Fatalf("drain took %s", time.Since(start))
	}
	if p.Queued() != 1 {
		t.Fatalf("a failed snapshot left the queue")
	}
}
