// Command goshop is the Go service of Osprey's APM end-to-end test: a small
// shop traced by the apm library. Its HTTP handlers go through
// Agent.Handler, its MariaDB queries through apm.OpenDB, its calls to the
// Node.js inventory service through Agent.Transport, and it publishes a
// NATS message per checkout that it consumes itself, with the trace
// context in the message headers.
//
//	GET  /api/products/{id}  one query (fast)
//	GET  /api/price/{sku}    one query; the inventory service calls it back
//	GET  /api/orders/{id}    query, GET inventory /stock/{sku} (which calls
//	                         /api/price/{sku} here), update: Go → Node → Go
//	POST /api/checkout       publish to NATS; the consumer inserts a row
//	GET  /api/fail           query, then a 500 with a recorded exception
//	GET  /api/slow?ms=N      slowReport: SELECT SLEEP(N/1000), then GET
//	                         inventory /items
//
// The X-User request header, when set, becomes the transaction's user.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/osprey-monitoring/osprey/apm"
)

// Subject is the NATS subject of checkouts.
const Subject = "orders.created"

type shop struct {
	db        *sql.DB
	client    *http.Client
	inventory string // base URL of the Node.js service
	nc        *nats.Conn
	subject   string
	tracer    trace.Tracer
	log       *slog.Logger
}

func main() {
	var (
		addr      = flag.String("addr", "127.0.0.1:8080", "listen address")
		server    = flag.String("server", "127.0.0.1:4317", "Osprey server gRPC address")
		key       = flag.String("key", os.Getenv("OSPREY_KEY"), "project key (default $OSPREY_KEY)")
		app       = flag.String("app", "goshop", "application name")
		instance  = flag.String("instance", "", "instance name (default host-pid)")
		dsn       = flag.String("mysql", "root@tcp(127.0.0.1:3306)/test", "MariaDB DSN")
		inventory = flag.String("inventory", "http://127.0.0.1:3000", "inventory service base URL")
		natsURL   = flag.String("nats", nats.DefaultURL, "NATS URL")
		subject   = flag.String("subject", Subject, "NATS subject of checkouts")
		baseTime  = flag.Duration("base-time", 100*time.Millisecond, "transactions faster than this keep only their summary")
		interval  = flag.Duration("interval", time.Second, "active transaction and stack sampling interval")
	)
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log, *addr, *server, *key, *app, *instance, *dsn, *inventory, *natsURL, *subject, *baseTime, *interval); err != nil {
		log.Error("goshop", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, addr, server, key, app, instance, dsn, inventory, natsURL, subject string, baseTime, interval time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	agent, err := apm.Start(ctx, apm.Config{
		Endpoint:       server,
		Key:            key,
		App:            app,
		Instance:       instance,
		Insecure:       true,
		BaseTime:       baseTime,
		ActiveInterval: interval,
		StackInterval:  interval,
		StatInterval:   5 * time.Second,
		Attributes:     map[string]string{"deployment.environment.name": "e2e"},
		Logger:         log,
	})
	if err != nil {
		return fmt.Errorf("apm: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := agent.Shutdown(sctx); err != nil {
			log.Error("apm shutdown", "err", err)
		}
	}()

	db, err := apm.OpenDB("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	nc, err := nats.Connect(natsURL, nats.Name(app))
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	defer nc.Close()

	s := &shop{db: db, client: &http.Client{Transport: agent.Transport(http.DefaultTransport), Timeout: 30 * time.Second},
		inventory: inventory, nc: nc, subject: subject, tracer: otel.Tracer("goshop"), log: log}
	sub, err := nc.Subscribe(subject, s.consume)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		return err
	}

	mux := http.NewServeMux()
	route := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, agent.Handler(h, pattern)) }
	route("GET /api/products/{id}", s.product)
	route("GET /api/price/{sku}", s.price)
	route("GET /api/orders/{id}", s.order)
	route("POST /api/checkout", s.checkout)
	route("GET /api/fail", s.fail)
	route("GET /api/slow", s.slow)

	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.Info("goshop listening", "addr", l.Addr().String())
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func user(r *http.Request) {
	if u := r.Header.Get("X-User"); u != "" {
		apm.SetUser(r.Context(), u)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// fail500 records err on the transaction's span and answers 500.
func fail500(w http.ResponseWriter, r *http.Request, err error) {
	span := trace.SpanFromContext(r.Context())
	span.RecordError(err, trace.WithStackTrace(true))
	span.SetStatus(codes.Error, err.Error())
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

func (s *shop) product(w http.ResponseWriter, r *http.Request) {
	user(r)
	id, _ := strconv.Atoi(r.PathValue("id"))
	var name string
	var price float64
	err := s.db.QueryRowContext(r.Context(), "SELECT name, price FROM products WHERE id = ? AND active = 1", id).Scan(&name, &price)
	if errors.Is(err, sql.ErrNoRows) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		fail500(w, r, err)
		return
	}
	writeJSON(w, map[string]any{"id": id, "name": name, "price": price})
}

func (s *shop) price(w http.ResponseWriter, r *http.Request) {
	user(r)
	var price float64
	if err := s.db.QueryRowContext(r.Context(), "SELECT price FROM products WHERE sku = ?", r.PathValue("sku")).Scan(&price); err != nil {
		fail500(w, r, err)
		return
	}
	writeJSON(w, map[string]any{"sku": r.PathValue("sku"), "price": price})
}

// getJSON calls another service through the traced client.
func (s *shop) getJSON(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return json.Unmarshal(body, out)
}

func (s *shop) order(w http.ResponseWriter, r *http.Request) {
	user(r)
	ctx := r.Context()
	id, _ := strconv.Atoi(r.PathValue("id"))
	var sku string
	var qty int
	if err := s.db.QueryRowContext(ctx, "SELECT sku, qty FROM orders WHERE id = ?", id).Scan(&sku, &qty); err != nil {
		fail500(w, r, err)
		return
	}
	var stock struct {
		Qty   int     `json:"qty"`
		Price float64 `json:"price"`
	}
	if err := s.getJSON(ctx, s.inventory+"/stock/"+sku, &stock); err != nil {
		fail500(w, r, err)
		return
	}
	if _, err := s.db.ExecContext(ctx, "UPDATE orders SET checked = checked + 1 WHERE id = ?", id); err != nil {
		fail500(w, r, err)
		return
	}
	writeJSON(w, map[string]any{"id": id, "sku": sku, "qty": qty, "in_stock": stock.Qty, "total": float64(qty) * stock.Price})
}

// checkout publishes the order to NATS with the trace context in the
// message headers, from a producer span.
func (s *shop) checkout(w http.ResponseWriter, r *http.Request) {
	user(r)
	id := r.URL.Query().Get("order")
	ctx, span := s.tracer.Start(r.Context(), "send "+s.subject, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", s.subject),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.operation.name", "publish"),
		))
	msg := nats.NewMsg(s.subject)
	msg.Data = []byte(id)
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(msg.Header))
	err := s.nc.PublishMsg(msg)
	if err == nil {
		err = s.nc.FlushTimeout(5 * time.Second)
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	if err != nil {
		fail500(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	writeJSON(w, map[string]any{"order": id, "queued": true})
}

// consume is the entry of a consumer transaction: a consumer span whose
// parent is the producer's, and the work labelled with it by apm.Do.
func (s *shop) consume(m *nats.Msg) {
	ctx := otel.GetTextMapPropagator().Extract(context.Background(), propagation.HeaderCarrier(m.Header))
	ctx, span := s.tracer.Start(ctx, "process "+m.Subject, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", m.Subject),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.operation.name", "process"),
			attribute.Int("messaging.message.body.size", len(m.Data)),
		))
	defer span.End()
	apm.Do(ctx, func(ctx context.Context) {
		id, _ := strconv.Atoi(string(m.Data))
		if _, err := s.db.ExecContext(ctx, "INSERT INTO order_log (order_id, note) VALUES (?, 'created')", id); err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
			s.log.Error("consume", "err", err)
		}
	})
}

// ErrDeclined is what /api/fail always ends with.
var ErrDeclined = errors.New("payment declined: card expired")

func (s *shop) fail(w http.ResponseWriter, r *http.Request) {
	user(r)
	var n int
	if err := s.db.QueryRowContext(r.Context(), "SELECT COUNT(*) FROM products WHERE price > ?", 1000).Scan(&n); err != nil {
		fail500(w, r, err)
		return
	}
	fail500(w, r, fmt.Errorf("charge order: %w", ErrDeclined))
}

func (s *shop) slow(w http.ResponseWriter, r *http.Request) {
	user(r)
	ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
	items, err := s.slowReport(r.Context(), ms)
	if err != nil {
		fail500(w, r, err)
		return
	}
	writeJSON(w, map[string]any{"slept_ms": ms, "items": items})
}

// slowReport is the deliberately slow work; the test looks for its name in
// the active transaction's stack.
func (s *shop) slowReport(ctx context.Context, ms int) (int, error) {
	var slept int
	if err := s.db.QueryRowContext(ctx, "SELECT SLEEP(?)", float64(ms)/1000).Scan(&slept); err != nil {
		return 0, err
	}
	var items []json.RawMessage
	if err := s.getJSON(ctx, s.inventory+"/items", &items); err != nil {
		return 0, err
	}
	return len(items), nil
}
