package urlcheck

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// BenchmarkProbe is one run against a loopback server: a fresh connection,
// the request, a small body searched for the expected text.
func BenchmarkProbe(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "status: ok\n") })
	ca := newTestCA(b)
	cert := ca.leaf(b, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	for _, bc := range []struct {
		name string
		url  string
	}{
		{"http", newServer(b, ok, nil).URL},
		{"https", newServer(b, ok, &cert).URL},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := &agentpb.URLCheck{Id: "b", Url: bc.url + "/", ExpectedBody: "ok", InsecureSkipVerify: true}
			b.ReportAllocs()
			for b.Loop() {
				if r := Probe(context.Background(), c, 0); !r.Up {
					b.Fatalf("%s: %s", r.Failure, r.Error)
				}
			}
		})
	}
}

// BenchmarkOutput builds one flush's push and metrics at 10,000 checks a
// minute (167 results a second).
func BenchmarkOutput(b *testing.B) {
	m := New(Config{Enabled: true}, &agentpb.AgentIdentity{Id: "a", Name: "n", Kind: "url"}, nil)
	results := make([]*agentpb.URLResult, 167)
	for i := range results {
		results[i] = &agentpb.URLResult{
			CheckId: fmt.Sprint("check-", i), Name: fmt.Sprint("Check ", i), Url: fmt.Sprintf("https://example.com/%d", i),
			TimeUnixNano: time.Now().UnixNano(), Up: true, StatusCode: 200, TotalMs: 12, DnsMs: 1, ConnectMs: 2, TlsMs: 3,
			FirstByteMs: 4, BodyBytes: 1234, TlsExpiryUnix: time.Now().Unix(),
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = m.output(results, time.Now())
	}
}
