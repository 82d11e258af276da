// Package apm is Osprey's application performance monitoring library for
// Go. It sits on the OpenTelemetry Go SDK, so otelhttp, otelgrpc, otelsql
// and messaging instrumentations work unchanged, and adds what a WhaTap-
// class APM shows beyond traces:
//
//   - transactions (an app's entry spans) summarised in-process: SQL and
//     HTTP-call counts and times on the entry span, the 5-second counters
//     and response-time hitmap, distinct users, and 5-minute statistics per
//     transaction, SQL, external call, error, client IP, user agent and
//     call target, sent as apm_rollup snapshots;
//   - profiles only where they matter: the steps (child spans) of a
//     transaction are exported when it was slower than Config.BaseTime,
//     failed, or was the first of its name in the statistics window; fast
//     ones keep only the entry span and its summary;
//   - the running transactions every few seconds with what each is doing
//     (its open step) and a sampled goroutine stack, sent as apm_active
//     snapshots.
//
// SQL literals are masked before anything leaves the process unless
// Config.ShowSQLParams is set. When the server is down the application is
// never blocked: queues are bounded and drop their oldest data.
//
// Usage:
//
//	func main() {
//		ctx := context.Background()
//		agent, err := apm.Start(ctx, apm.Config{
//			Endpoint: "osprey.example.com:4317",
//			Key:      os.Getenv("OSPREY_KEY"),
//			App:      "orders",
//		})
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer agent.Shutdown(context.Background())
//
//		db, err := apm.OpenDB("mysql", "app:secret@tcp(db:3306)/orders")
//		if err != nil {
//			log.Fatal(err)
//		}
//		client := &http.Client{Transport: agent.Transport(nil)}
//
//		mux := http.NewServeMux()
//		mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
//			apm.SetUser(r.Context(), r.Header.Get("X-User"))
//			row := db.QueryRowContext(r.Context(), "SELECT total FROM orders WHERE id = ?", r.PathValue("id"))
//			// ... client.Do(req.WithContext(r.Context())) ...
//		})
//		log.Fatal(http.ListenAndServe(":8080", agent.Handler(mux, "orders")))
//	}
//
// A consumer (or any hand-started entry span) runs its work under Do, so
// stack samples find it:
//
//	ctx, span := otel.Tracer("consumer").Start(ctx, "orders.created process",
//		trace.WithSpanKind(trace.SpanKindConsumer))
//	apm.Do(ctx, func(ctx context.Context) { handle(ctx, msg) })
//	span.End()
//
// The data model and what the server does with it are in docs/apm.md.
package apm
