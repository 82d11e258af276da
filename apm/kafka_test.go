package apm_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/osprey-monitoring/osprey/apm"
	"github.com/osprey-monitoring/osprey/apm/internal/collector"
)

// TestKafkaPropagation: an HTTP transaction produces a Kafka record through
// franz-go with its OpenTelemetry plugin (kotel), which carries traceparent
// in the record headers; the consumer's "receive" span continues the trace
// as a transaction of its own and its "process" span is a step of it.
//
// Kafka cannot run here (Debian has no package, and no download site is
// reachable), so the broker is franz-go's kfake: an in-process
// implementation of the Kafka wire protocol. The client, the plugin and
// the headers are the real ones.
func TestKafkaPropagation(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	col, err := collector.Start(testKey, false)
	if err != nil {
		t.Fatal(err)
	}
	defer col.Stop()
	agent, err := apm.Start(context.Background(), apm.Config{
		Endpoint: col.Addr, Key: testKey, App: "kafka-demo", Insecure: true,
		StatInterval: time.Hour, ActiveInterval: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	tracer := kotel.NewTracer(kotel.TracerProvider(agent.TracerProvider()))
	hooks := kotel.NewKotel(kotel.WithTracer(tracer)).Hooks()
	producer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.WithHooks(hooks...))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	consumer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.WithHooks(hooks...),
		kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		rec := &kgo.Record{Topic: "orders", Value: []byte(`{"id":42}`)}
		if err := producer.ProduceSync(r.Context(), rec).FirstErr(); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		io.WriteString(w, "queued")
	})
	srv := httptest.NewServer(agent.Handler(mux, "orders"))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/orders", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /orders: %d", resp.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got int
	for got == 0 {
		fs := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("no record consumed: %v", err)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			pctx, span := tracer.WithProcessSpan(rec)
			apm.Do(pctx, func(context.Context) { got++ })
			span.End()
		})
	}
	if err := agent.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	var httpTx, publish, receive, process *collector.Span
	spans := col.Spans()
	for i := range spans {
		s := &spans[i]
		switch {
		case s.Kind == ptrace.SpanKindServer:
			httpTx = s
		case s.Kind == ptrace.SpanKindProducer:
			publish = s
		case s.Kind == ptrace.SpanKindConsumer && s.Name == "orders receive":
			receive = s
		case s.Kind == ptrace.SpanKindConsumer && s.Name == "orders process":
			process = s
		}
	}
	if httpTx == nil || publish == nil || receive == nil || process == nil {
		t.Fatalf("want the HTTP transaction, publish, receive and process spans; got %+v", spans)
	}
	for _, s := range []*collector.Span{publish, receive, process} {
		if s.TraceID != httpTx.TraceID {
			t.Errorf("%s: trace %s, want the HTTP transaction's %s (traceparent lost in the record headers)", s.Name, s.TraceID, httpTx.TraceID)
		}
	}
	if publish.ParentID != httpTx.SpanID || receive.ParentID != publish.SpanID || process.ParentID != receive.SpanID {
		t.Errorf("parents: publish %s (want %s), receive %s (want %s), process %s (want %s)",
			publish.ParentID, httpTx.SpanID, receive.ParentID, publish.SpanID, process.ParentID, receive.SpanID)
	}
	// receive is the consumer's transaction (summarised); process is one
	// of its steps, not a second transaction.
	if _, ok := receive.Attrs["osprey.tx.sql_count"]; !ok {
		t.Errorf("the receive span is not a transaction: %v", receive.Attrs)
	}
	if _, ok := process.Attrs["osprey.tx.sql_count"]; ok {
		t.Errorf("the process span was made a transaction of its own: %v", process.Attrs)
	}
}
