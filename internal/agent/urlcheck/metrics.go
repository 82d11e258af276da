package urlcheck

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// scopeName is the instrumentation scope of the module's metrics.
const scopeName = "github.com/osprey-monitoring/osprey/internal/agent/urlcheck"

// Metric names and attribute keys. The failure kind is deliberately not an
// attribute: it changes from run to run and would create a series per kind;
// the result rows carry it.
const (
	MetricUp            = "osprey.url.up"
	MetricDuration      = "osprey.url.duration"
	MetricPhaseDuration = "osprey.url.phase.duration"
	MetricStatusCode    = "osprey.url.status_code"
	MetricTLSExpiry     = "osprey.url.tls.expiry"
	MetricBodySize      = "osprey.url.body.size"

	AttrCheckID   = "url.check.id"
	AttrCheckName = "url.check.name"
	AttrURL       = "url.full"
	AttrPhase     = "phase"
)

// output turns results into the push and the metrics of one emit.
func (m *Module) output(results []*agentpb.URLResult, now time.Time) Output {
	push := &agentpb.PushRequest{
		Agent: m.ident,
		Snapshots: []*agentpb.Snapshot{{
			TimeUnixNano: now.UnixNano(),
			Type:         SnapshotURLResults,
			Body:         &agentpb.Snapshot_UrlResults{UrlResults: &agentpb.URLResults{Results: results}},
		}},
	}
	return Output{Metrics: m.metrics(results), Push: push}
}

func (m *Module) metrics(results []*agentpb.URLResult) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	putResource(rm.Resource().Attributes(), m.ident)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(scopeName)
	sm.Scope().SetVersion(m.ident.GetVersion())
	ms := sm.Metrics()
	ms.EnsureCapacity(6)

	up := gauge(ms, MetricUp, "", "1 when the last run of the URL check succeeded, else 0.")
	dur := gauge(ms, MetricDuration, "s", "Duration of the run, reading the body included.")
	phase := gauge(ms, MetricPhaseDuration, "s", "Duration of each part of the run: dns, connect, tls, first_byte (connection ready to first response byte).")
	status := gauge(ms, MetricStatusCode, "", "HTTP status code of the final response, 0 without a response.")
	var expiry pmetric.NumberDataPointSlice
	haveExpiry := false
	size := gauge(ms, MetricBodySize, "By", "Size of the response body.")

	n := len(results)
	up.EnsureCapacity(n)
	dur.EnsureCapacity(n)
	phase.EnsureCapacity(4 * n)
	status.EnsureCapacity(n)
	size.EnsureCapacity(n)
	for _, r := range results {
		ts := pcommon.Timestamp(r.GetTimeUnixNano())
		point := func(s pmetric.NumberDataPointSlice) pmetric.NumberDataPoint {
			dp := s.AppendEmpty()
			dp.SetTimestamp(ts)
			a := dp.Attributes()
			a.EnsureCapacity(4)
			a.PutStr(AttrCheckID, r.GetCheckId())
			a.PutStr(AttrCheckName, r.GetName())
			a.PutStr(AttrURL, r.GetUrl())
			return dp
		}
		v := int64(0)
		if r.GetUp() {
			v = 1
		}
		point(up).SetIntValue(v)
		point(dur).SetDoubleValue(r.GetTotalMs() / 1e3)
		for _, p := range [...]struct {
			name string
			ms   float64
		}{{"dns", r.GetDnsMs()}, {"connect", r.GetConnectMs()}, {"tls", r.GetTlsMs()}, {"first_byte", r.GetFirstByteMs()}} {
			dp := point(phase)
			dp.Attributes().PutStr(AttrPhase, p.name)
			dp.SetDoubleValue(p.ms / 1e3)
		}
		point(status).SetIntValue(int64(r.GetStatusCode()))
		if r.GetTlsExpiryUnix() != 0 {
			if !haveExpiry {
				haveExpiry = true
				expiry = gauge(ms, MetricTLSExpiry, "s", "NotAfter of the leaf TLS certificate, in Unix seconds.")
			}
			point(expiry).SetIntValue(r.GetTlsExpiryUnix())
		}
		point(size).SetIntValue(r.GetBodyBytes())
	}
	return md
}

func gauge(ms pmetric.MetricSlice, name, unit, desc string) pmetric.NumberDataPointSlice {
	m := ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	m.SetDescription(desc)
	return m.SetEmptyGauge().DataPoints()
}

// putResource stamps the agent identity as the agent's host module does,
// so the server sees one resource per agent.
func putResource(attrs pcommon.Map, ident *agentpb.AgentIdentity) {
	attrs.PutStr(wire.AttrAgentID, ident.GetId())
	attrs.PutStr(wire.AttrAgentName, ident.GetName())
	attrs.PutStr(wire.AttrAgentGroup, ident.GetGroup())
	attrs.PutStr(wire.AttrAgentKind, ident.GetKind())
	attrs.PutStr(wire.AttrHostName, ident.GetName())
	attrs.PutStr(wire.AttrServiceName, "osprey-agent")
	attrs.PutStr(wire.AttrServiceInstanceID, ident.GetId())
	attrs.PutStr("service.version", ident.GetVersion())
}
