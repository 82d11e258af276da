// Package server composes the collection server: metadata, the stores, the
// ingest pipeline, the receivers, the query APIs and the UI, and runs them
// until told to stop.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/osprey-monitoring/osprey/internal/agentstate"
	"github.com/osprey-monitoring/osprey/internal/alert"
	"github.com/osprey-monitoring/osprey/internal/api/alerts"
	"github.com/osprey-monitoring/osprey/internal/api/apm"
	"github.com/osprey-monitoring/osprey/internal/api/databases"
	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/api/events"
	"github.com/osprey-monitoring/osprey/internal/api/logs"
	"github.com/osprey-monitoring/osprey/internal/api/prom"
	"github.com/osprey-monitoring/osprey/internal/api/servers"
	"github.com/osprey-monitoring/osprey/internal/api/urls"
	"github.com/osprey-monitoring/osprey/internal/authn"
	"github.com/osprey-monitoring/osprey/internal/ingest"
	"github.com/osprey-monitoring/osprey/internal/ingest/wal"
	"github.com/osprey-monitoring/osprey/internal/live"
	"github.com/osprey-monitoring/osprey/internal/meta"
	"github.com/osprey-monitoring/osprey/internal/notify"
	"github.com/osprey-monitoring/osprey/internal/receiver"
	"github.com/osprey-monitoring/osprey/internal/retention"
	"github.com/osprey-monitoring/osprey/internal/store/event"
	"github.com/osprey-monitoring/osprey/internal/store/metric"
	"github.com/osprey-monitoring/osprey/internal/txn"
	"github.com/osprey-monitoring/osprey/internal/urlchecks"
	"github.com/osprey-monitoring/osprey/internal/webui"
)

// LocalAgentKeyFile, in the data directory, keeps the default project's key
// for `osprey up`'s local agent: the metadata database only has its hash.
const LocalAgentKeyFile = "local-agent.key"

// KeepLocalAgentKey records a rotated key of the default project for
// `osprey up`'s local agent, when that agent has a key file, so that it keeps
// working across its next start.
func KeepLocalAgentKey(dataDir, project, key string) error {
	if project != meta.DefaultProject {
		return nil
	}
	lk := filepath.Join(dataDir, LocalAgentKeyFile)
	if _, err := os.Stat(lk); err != nil {
		return nil // no local agent uses this data directory
	}
	if err := os.WriteFile(lk, []byte(key+"\n"), 0o600); err != nil {
		return fmt.Errorf("update %s: %w", lk, err)
	}
	return nil
}

// Server is one running collection server.
type Server struct {
	cfg  Config
	log  *slog.Logger
	reg  *prometheus.Registry
	Meta *meta.Store

	metrics  *metric.Store
	events   *event.Store
	agents   *agentstate.Tracker
	bus      *live.Bus
	pipe     *ingest.Pipeline
	recv     *receiver.Receiver
	auth     *authn.Authenticator
	defaultP meta.Project
	alerts   *alert.Engine
	sender   *notify.Sender
	apm      *txn.Processor
	bgCancel context.CancelFunc

	httpSrv, otlpHTTPSrv *http.Server
	grpcSrv              *grpc.Server
	listeners            []net.Listener
	ready                atomic.Bool
	stop                 chan struct{}
	bg                   sync.WaitGroup

	// Bootstrap holds secrets generated on the first start, to be shown
	// once. Empty on later starts.
	Bootstrap Bootstrap
}

// Bootstrap is what the first start created.
type Bootstrap struct {
	FirstStart    bool   // this start created the admin user or the default project
	AdminPassword string // set when generated
	ProjectKey    string // the default project's key, when generated or taken from the environment
}

// New opens everything under cfg.DataDir and replays the ingest log; it
// does not listen yet.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", cfg.DataDir, err)
	}
	s := &Server{cfg: cfg, log: log, reg: prometheus.NewRegistry(), stop: make(chan struct{})}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ok := false
	defer func() {
		if !ok {
			s.closeStores()
		}
	}()
	var err error
	if s.Meta, err = meta.Open(ctx, filepath.Join(cfg.DataDir, "meta.db")); err != nil {
		return nil, err
	}
	if err := s.bootstrap(ctx); err != nil {
		return nil, err
	}
	if s.metrics, err = metric.Open(ctx, metric.Options{
		Dir: filepath.Join(cfg.DataDir, "metrics"), Retention: time.Duration(cfg.Retention.Metrics),
		MaxFutureSkew: time.Duration(cfg.Ingest.MaxFutureSkew), Logger: log.With("store", "metrics"),
	}); err != nil {
		return nil, fmt.Errorf("open metric store: %w", err)
	}
	if s.events, err = event.Open(ctx, event.Options{
		Dir: filepath.Join(cfg.DataDir, "events"), Retention: time.Duration(cfg.Retention.Events),
		MaxMemoryBytes: cfg.Events.MaxMemoryBytes, MaxFutureSkew: time.Duration(cfg.Ingest.MaxFutureSkew),
		Logger: log.With("store", "events"),
	}); err != nil {
		return nil, fmt.Errorf("open event store: %w", err)
	}
	s.agents = agentstate.NewTracker(0)
	if saved, err := s.Meta.LoadAgents(ctx); err != nil {
		log.Warn("cannot restore agent list", "err", err)
	} else {
		s.agents.Restore(saved)
	}
	s.bus = live.NewBus()
	syncMode := wal.SyncInterval
	if cfg.Ingest.WALSync == "always" {
		syncMode = wal.SyncAlways
	}
	s.apm = txn.New(s.events, txn.Options{StatWindow: time.Duration(cfg.APM.StatWindow), Logger: log.With("part", "apm")})
	if s.pipe, err = ingest.New(ctx, ingest.Options{
		WALDir: filepath.Join(cfg.DataDir, "wal"), WALSync: syncMode, Logger: log.With("part", "ingest"), Registerer: s.reg,
		APM: s.apm,
	}, s.metrics, s.events, s.agents, s.bus); err != nil {
		return nil, err
	}
	if s.recv, err = receiver.New(receiver.Options{
		MaxRequestBytes: cfg.Ingest.MaxRequestBytes, MaxFutureSkew: time.Duration(cfg.Ingest.MaxFutureSkew),
		RateLimit: cfg.Ingest.RateLimit, RateBurst: cfg.Ingest.RateBurst, Logger: log.With("part", "receiver"), Registerer: s.reg,
		Config: urlchecks.Source{Meta: s.Meta},
	}, s.pipe, receiver.NewKeyCache(s.Meta, 10*time.Second), s.agents); err != nil {
		return nil, err
	}
	s.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "osprey_storage_metrics_bytes", Help: "Disk used by the metric store."},
			func() float64 { return float64(s.metrics.Stats().DiskBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "osprey_storage_metrics_series", Help: "Series in the metric store's head."},
			func() float64 { return float64(s.metrics.Stats().Series) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "osprey_storage_events_bytes", Help: "Disk used by the event store."},
			func() float64 { return float64(s.events.DiskBytes()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "osprey_live_dropped_total", Help: "Live messages lost to slow subscribers."},
			func() float64 { return float64(s.bus.Dropped()) }),
	)
	s.auth = authn.New(s.Meta, cfg.TLS.Enabled(), log)
	s.sender = notify.NewSender(notify.Options{Logger: log.With("part", "notify")})
	if s.alerts, err = alert.New(ctx, s.Meta, alert.Sources{Metrics: s.metrics, Events: s.events, Agents: s.agents}, s.sender, alert.Options{
		Interval: time.Duration(cfg.Alerts.Interval), BaseURL: cfg.Alerts.BaseURL,
		Logger: log.With("part", "alerts"), Registerer: s.reg,
	}); err != nil {
		return nil, fmt.Errorf("start alert engine: %w", err)
	}
	ok = true
	return s, nil
}

// bootstrap creates the admin user and the default project on the first
// start. OSPREY_ADMIN_PASSWORD and OSPREY_PROJECT_KEY choose their secrets;
// otherwise random ones are generated and returned once in s.Bootstrap.
func (s *Server) bootstrap(ctx context.Context) error {
	users, err := s.Meta.Users(ctx)
	if err != nil {
		return err
	}
	if len(users) == 0 {
		pw := os.Getenv("OSPREY_ADMIN_PASSWORD")
		if pw == "" {
			pw = meta.NewSecret("")[:16]
			s.Bootstrap.AdminPassword = pw
		}
		if _, err := s.Meta.CreateUser(ctx, "admin", pw, true); err != nil {
			return fmt.Errorf("create admin user: %w", err)
		}
		s.Bootstrap.FirstStart = true
	}
	p, err := s.Meta.ProjectByName(ctx, meta.DefaultProject)
	if errors.Is(err, meta.ErrNotFound) {
		var key string
		p, key, err = s.Meta.CreateProject(ctx, meta.DefaultProject, os.Getenv("OSPREY_PROJECT_KEY"))
		if err != nil {
			return fmt.Errorf("create default project: %w", err)
		}
		s.Bootstrap.ProjectKey = key
		s.Bootstrap.FirstStart = true
	} else if err != nil {
		return err
	} else if k := os.Getenv("OSPREY_PROJECT_KEY"); k != "" {
		// The environment names the key: make it so, so that a restart with
		// a changed OSPREY_PROJECT_KEY keeps agents and server in step.
		if _, err := s.Meta.ProjectByKey(ctx, k); errors.Is(err, meta.ErrNotFound) {
			if _, err := s.Meta.RotateKey(ctx, meta.DefaultProject, k); err != nil {
				return err
			}
		}
		s.Bootstrap.ProjectKey = k
	}
	s.defaultP = p
	return nil
}

// Start listens on every address and serves until Close.
func (s *Server) Start() error {
	var tlsCfg *tls.Config
	if s.cfg.TLS.Enabled() {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile)
		if err != nil {
			return fmt.Errorf("load TLS key pair: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	listen := func(addr string) (net.Listener, error) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		s.listeners = append(s.listeners, l)
		if tlsCfg != nil {
			return tls.NewListener(l, tlsCfg), nil
		}
		return l, nil
	}
	httpL, err := listen(s.cfg.HTTPAddr)
	if err != nil {
		return err
	}
	otlpHTTPL, err := listen(s.cfg.OTLPHTTPAddr)
	if err != nil {
		return err
	}
	// gRPC does its own TLS handshake through credentials.
	grpcL, err := net.Listen("tcp", s.cfg.OTLPGRPCAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.OTLPGRPCAddr, err)
	}
	s.listeners = append(s.listeners, grpcL)

	gopts := s.recv.GRPCServerOptions()
	if tlsCfg != nil {
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	s.grpcSrv = grpc.NewServer(gopts...)
	s.recv.RegisterGRPC(s.grpcSrv)
	s.httpSrv = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	s.otlpHTTPSrv = &http.Server{Handler: s.recv.OTLPHandler(), ReadHeaderTimeout: 10 * time.Second}

	serve := func(name string, f func() error) {
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			if err := f(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, grpc.ErrServerStopped) {
				s.log.Error("listener stopped", "listener", name, "err", err)
			}
		}()
	}
	serve("http", func() error { return s.httpSrv.Serve(httpL) })
	serve("otlp-http", func() error { return s.otlpHTTPSrv.Serve(otlpHTTPL) })
	serve("otlp-grpc", func() error { return s.grpcSrv.Serve(grpcL) })
	s.bg.Add(2)
	go s.selfMonitor()
	go s.persistAgents()
	bgCtx, cancel := context.WithCancel(context.Background())
	s.bgCancel = cancel
	s.bg.Add(4)
	go func() { defer s.bg.Done(); s.apm.Run(bgCtx) }()
	go func() {
		defer s.bg.Done()
		retention.Enforcer{Meta: s.Meta, Events: s.events, Logger: s.log.With("part", "retention")}.Run(bgCtx)
	}()
	go func() { defer s.bg.Done(); s.sender.Run(bgCtx) }()
	go func() { defer s.bg.Done(); s.alerts.Run(bgCtx) }()
	s.ready.Store(true)
	s.log.Info("osprey server ready", "http", httpL.Addr().String(), "otlp_grpc", grpcL.Addr().String(),
		"otlp_http", otlpHTTPL.Addr().String(), "data_dir", s.cfg.DataDir, "tls", tlsCfg != nil)
	return nil
}

// Addrs returns the bound addresses (http, otlp-grpc, otlp-http); useful
// when ports were chosen by the system (":0").
func (s *Server) Addrs() (httpAddr, grpcAddr, otlpHTTPAddr string) {
	if len(s.listeners) < 3 {
		return "", "", ""
	}
	return s.listeners[0].Addr().String(), s.listeners[2].Addr().String(), s.listeners[1].Addr().String()
}

// DefaultProject is the project created on the first start.
func (s *Server) DefaultProject() meta.Project { return s.defaultP }

// Pipeline exposes ingest for tests and benchmarks in this module.
func (s *Server) Pipeline() *ingest.Pipeline { return s.pipe }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.Handle("POST /api/v1/write", s.recv.RemoteWriteHandler())
	s.auth.Routes(mux)

	promH := s.auth.Require(prom.NewHandler(s.metrics, authn.ProjectID, prom.Options{
		QueryTimeout: time.Duration(s.cfg.Query.Timeout), MaxSamples: s.cfg.Query.MaxSamples,
	}))
	for _, p := range []string{"/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels",
		"/api/v1/label/", "/api/v1/status/", "/api/v1/metadata", "/api/v1/query_exemplars", "/api/v1/format_query",
		"/api/v1/parse_query"} {
		mux.Handle(p, promH)
	}
	evH := s.auth.Require(events.NewHandler(s.events, authn.ProjectID))
	mux.Handle("/api/v1/events", evH)
	mux.Handle("/api/v1/events/", evH)
	mux.Handle("/api/v1/traces/", evH)
	srvH := s.auth.Require(servers.NewHandler(s.agents, s.metrics, s.events, authn.ProjectID))
	mux.Handle("/api/v1/servers", srvH)
	mux.Handle("/api/v1/servers/", srvH)
	dbH := s.auth.Require(databases.NewHandler(s.agents, s.metrics, s.events, authn.ProjectID))
	mux.Handle("/api/v1/databases", dbH)
	mux.Handle("/api/v1/databases/", dbH)
	alH := s.auth.Require(alerts.NewHandler(s.Meta, s.alerts, s.events, s.sender))
	mux.Handle("/api/v1/alerts", alH)
	mux.Handle("/api/v1/alerts/", alH)
	logH := s.auth.Require(logs.NewHandler(s.events, s.log.With("part", "logs-api")))
	mux.Handle("/api/v1/logs/", logH)
	retMux := http.NewServeMux()
	retention.Routes(retMux, "/api/v1/logs/retention", s.Meta, time.Duration(s.cfg.Retention.Events))
	retH := s.auth.Require(retMux)
	mux.Handle("/api/v1/logs/retention", retH)
	mux.Handle("/api/v1/logs/retention/", retH)
	apmH := s.auth.Require(apm.NewHandler(s.events, s.log.With("part", "apm-api")))
	mux.Handle("/api/v1/apm/", apmH)
	urlH := s.auth.Require(urls.NewHandler(s.Meta, s.metrics, s.events))
	mux.Handle("/api/v1/urls", urlH)
	mux.Handle("/api/v1/urls/", urlH)
	mux.Handle("GET /api/v1/agents", s.auth.Require(http.HandlerFunc(s.handleAgents)))
	mux.Handle("GET /api/v1/live", s.auth.Require(http.HandlerFunc(s.handleLive)))
	mux.Handle("POST /api/v1/project/key", s.auth.Require(http.HandlerFunc(s.handleNewKey)))
	mux.Handle("/", webui.Handler())
	return mux
}

func (s *Server) handleAgents(w http.ResponseWriter, r *http.Request) {
	id, _ := authn.From(r.Context())
	agents := s.agents.List(id.Project.ID, time.Now())
	if kind := r.URL.Query().Get("kind"); kind != "" {
		kept := agents[:0]
		for _, a := range agents {
			if a.Kind == kind {
				kept = append(kept, a)
			}
		}
		agents = kept
	}
	active := 0
	for _, a := range agents {
		if a.Active {
			active++
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{
		"agents": agents, "total": len(agents), "active": active, "inactive": len(agents) - active,
	}})
}

// handleNewKey gives the current project a new access key and answers it
// once, with the agent command to use it. Only an owner may, and only while
// no agent of the project is active: rotating would cut those agents off
// (`osprey project rotate-key` is the tool for that, on the server host).
// The UI offers it in the empty state, where the key is what is missing.
func (s *Server) handleNewKey(w http.ResponseWriter, r *http.Request) {
	id, _ := authn.From(r.Context())
	if id.Role != meta.RoleOwner {
		envelope.WriteError(w, http.StatusForbidden, "forbidden", "only a project owner can make a new access key")
		return
	}
	for _, a := range s.agents.List(id.Project.ID, time.Now()) {
		if a.Active {
			envelope.WriteError(w, http.StatusConflict, "conflict",
				"agents of this project are connected; rotate the key on the server host with `osprey project rotate-key "+id.Project.Name+"` and give them the new one")
			return
		}
	}
	key, err := s.Meta.RotateKey(r.Context(), id.Project.Name, "")
	if err != nil {
		envelope.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	if err := KeepLocalAgentKey(s.cfg.DataDir, id.Project.Name, key); err != nil {
		s.log.Error("update local agent key", "err", err)
	}
	_, grpcAddr, _ := s.Addrs()
	_, port, _ := net.SplitHostPort(grpcAddr)
	s.log.Info("project key rotated from the UI", "project", id.Project.Name, "user", id.User.Name)
	envelope.WriteData(w, map[string]any{"key": key, "grpcPort": port})
}

// Close stops listening, drains ingest, and closes the stores. Everything
// acknowledged is either in the stores or in the ingest log when it returns.
func (s *Server) Close(ctx context.Context) error {
	s.ready.Store(false)
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	if s.bgCancel != nil {
		s.bgCancel()
	}
	var errs []error
	if s.httpSrv != nil {
		errs = append(errs, s.httpSrv.Shutdown(ctx), s.otlpHTTPSrv.Shutdown(ctx))
	}
	if s.grpcSrv != nil {
		done := make(chan struct{})
		go func() { s.grpcSrv.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			s.grpcSrv.Stop()
		}
	}
	s.bg.Wait()
	if s.pipe != nil {
		errs = append(errs, s.pipe.Close(ctx))
	}
	if s.apm != nil && s.events != nil {
		// The windows still open go to the store before it closes.
		errs = append(errs, s.apm.Close(ctx))
	}
	s.saveAgents()
	errs = append(errs, s.closeStores())
	return errors.Join(errs...)
}

func (s *Server) closeStores() error {
	var errs []error
	if s.events != nil {
		errs = append(errs, s.events.Close())
	}
	if s.metrics != nil {
		errs = append(errs, s.metrics.Close())
	}
	if s.Meta != nil {
		errs = append(errs, s.Meta.Close())
	}
	return errors.Join(errs...)
}

func (s *Server) persistAgents() {
	defer s.bg.Done()
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.saveAgents()
		}
	}
}

func (s *Server) saveAgents() {
	if s.agents == nil || s.Meta == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for p, states := range s.agents.TakeDirty() {
		if err := s.Meta.SaveAgents(ctx, p, states); err != nil {
			s.log.Warn("save agent list", "err", err)
		}
	}
}
