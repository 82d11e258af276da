package apm

import (
	"context"
	"net/http"
	"runtime/pprof"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/osprey-monitoring/osprey/apm/internal/stacks"
)

// Handler wraps h with otelhttp (a server span per request, the caller's
// traceparent honoured) and labels the goroutine serving the request with
// the span, so the stack sampler can tell what the transaction is doing.
// operation names the span when no route is known; the transaction name
// is "METHOD route" when h is (or contains) a ServeMux with patterns, else
// "METHOD path".
func (a *Agent) Handler(h http.Handler, operation string) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		span := trace.SpanFromContext(ctx)
		sc := span.SpanContext()
		if !sc.IsValid() {
			h.ServeHTTP(w, r)
			return
		}
		if r.Header.Get("X-Forwarded-For") == "" {
			// otelhttp takes X-Forwarded-For; proxies that set only
			// X-Real-IP are common too.
			if ip := r.Header.Get("X-Real-IP"); ip != "" {
				span.SetAttributes(keyClientAddr.String(strings.TrimSpace(ip)))
			}
		}
		// pprof.Do without its closure: label the goroutine (goroutines
		// it starts inherit the label) and the context (so a nested
		// pprof.Do or Do keeps it), and restore the labels afterwards.
		lctx := pprof.WithLabels(ctx, pprof.Labels(stacks.Label, sc.SpanID().String()))
		pprof.SetGoroutineLabels(lctx)
		defer pprof.SetGoroutineLabels(ctx)
		r2 := r.WithContext(lctx)
		h.ServeHTTP(w, r2)
		// A ServeMux inside h matched a pattern on our copy of the
		// request: hand it to otelhttp (which renames the span) and record
		// the route. (Not deferred: a closure per request, and after a
		// panic the name matters little.)
		if r2.Pattern != "" && r.Pattern == "" {
			r.Pattern = r2.Pattern
			if route := patternRoute(r2.Pattern); route != "" {
				span.SetAttributes(keyHTTPRoute.String(route))
			}
		}
	})
	return otelhttp.NewHandler(inner, operation,
		otelhttp.WithTracerProvider(a.tp),
		otelhttp.WithPropagators(a.prop),
		otelhttp.WithSpanNameFormatter(func(op string, r *http.Request) string {
			if route := patternRoute(r.Pattern); route != "" {
				return r.Method + " " + route
			}
			if op != "" {
				return op
			}
			return r.Method
		}),
	)
}

// patternRoute is the path part of a ServeMux pattern ("GET
// example.com/orders/{id}" -> "/orders/{id}").
func patternRoute(pattern string) string {
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		return pattern[i:]
	}
	return ""
}

// Transport wraps base (http.DefaultTransport when nil) with otelhttp: a
// client span per request, which becomes an httpc step of the calling
// transaction, and a traceparent header so the callee joins the trace.
func (a *Agent) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return otelhttp.NewTransport(base,
		otelhttp.WithTracerProvider(a.tp),
		otelhttp.WithPropagators(a.prop),
	)
}

// Do runs fn with the goroutine labelled by the span in ctx, so stack
// samples of the goroutine are tied to that span's transaction. Use it for
// entry spans started by hand (message consumers, jobs) and for goroutines
// a transaction starts. Without a span in ctx it just calls fn.
func Do(ctx context.Context, fn func(ctx context.Context)) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		fn(ctx)
		return
	}
	pprof.Do(ctx, pprof.Labels(stacks.Label, sc.SpanID().String()), fn)
}

// SetUser sets the user (enduser.id) of the transaction ctx belongs to;
// it counts towards the distinct users instead of the client IP. It is set
// on the span in ctx: with a Handler's request context (or a hand-started
// entry span's) that is the transaction itself, and the user shows in the
// active transactions at once; with a step's context it reaches the
// transaction when the step ends.
func SetUser(ctx context.Context, user string) {
	if user == "" {
		return
	}
	trace.SpanFromContext(ctx).SetAttributes(keyEndUser.String(user))
}
