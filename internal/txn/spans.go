package txn

import (
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/osprey-monitoring/osprey/internal/sqlmask"
	"github.com/osprey-monitoring/osprey/internal/store/event"
	"github.com/osprey-monitoring/osprey/internal/wire"
)

// resInfo is what a resource tells about the process that sent its spans.
type resInfo struct {
	app, instance           string
	agentID, language, host string
	namespace, deploy, pod  string
	inProcess               bool // the Go library sends its own rollups
}

func resourceInfo(m pcommon.Map) resInfo {
	var r resInfo
	var agentName, instanceID, host, pid string
	m.Range(func(k string, v pcommon.Value) bool {
		switch k {
		case wire.AttrServiceName:
			r.app = v.AsString()
		case wire.AttrAgentName:
			agentName = v.AsString()
		case wire.AttrAgentID:
			r.agentID = v.AsString()
		case "telemetry.sdk.language":
			r.language = v.AsString()
		case wire.AttrServiceInstanceID:
			instanceID = v.AsString()
		case wire.AttrHostName:
			host = v.AsString()
		case "process.pid":
			pid = v.AsString()
		case FieldNamespace:
			r.namespace = v.AsString()
		case FieldDeployment:
			r.deploy = v.AsString()
		case FieldPod:
			r.pod = v.AsString()
		case wire.AttrApmRollups:
			r.inProcess = v.AsString() == wire.ApmRollupsInProcess
		}
		return true
	})
	r.host = host
	switch {
	case agentName != "":
		r.instance = agentName
	case instanceID != "":
		r.instance = instanceID
	case host != "" && pid != "":
		r.instance = host + ":" + pid
	case host != "":
		r.instance = host
	default:
		r.instance = r.app
	}
	if r.app == "" {
		r.app = "unknown_service"
	}
	if r.agentID == "" {
		// As eventrow names the agent of plain OTel data.
		r.agentID = firstNonEmpty(instanceID, host)
	}
	return r
}

// spanAttrs holds the attributes APM reads, gathered in one pass: the
// semantic conventions renamed most of them, so both names are read.
type spanAttrs struct {
	method, route, target, urlFull, urlPath, scheme string
	status                                          int64
	clientIP, userAgent, user                       string
	serverAddr, serverPort, hostHeader              string
	peerName, peerPort                              string
	dbSystem, dbText, dbName                        string
	dbRows                                          int64
	rpcSystem, rpcService, rpcMethod                string
	msgSystem, msgDest                              string
	// What the Go library computed.
	hasSummary                           bool
	sqlCount, httpcCount, dropped, alloc int64
	sqlMs, httpcMs, cpuMs                float64
}

func (a *spanAttrs) read(m pcommon.Map) {
	m.Range(func(k string, v pcommon.Value) bool {
		switch k {
		case "http.request.method", "http.method":
			a.method = v.AsString()
		case "http.route":
			a.route = v.AsString()
		case "http.target":
			a.target = v.AsString()
		case "url.path":
			a.urlPath = v.AsString()
		case "url.full", "http.url":
			a.urlFull = v.AsString()
		case "url.scheme", "http.scheme":
			a.scheme = v.AsString()
		case "http.response.status_code", "http.status_code":
			a.status = intValue(v)
		case "client.address", "http.client_ip":
			a.clientIP = v.AsString()
		case "net.sock.peer.addr", "network.peer.address", "net.peer.ip":
			if a.clientIP == "" || k == "net.peer.ip" {
				a.peerFallback(v.AsString())
			}
		case "user_agent.original", "http.user_agent":
			a.userAgent = v.AsString()
		case "enduser.id", "user.id":
			a.user = v.AsString()
		case "server.address", "net.host.name":
			a.serverAddr = v.AsString()
		case "server.port", "net.host.port":
			a.serverPort = v.AsString()
		case "http.host":
			a.hostHeader = v.AsString()
		case "net.peer.name":
			a.peerName = v.AsString()
		case "net.peer.port":
			a.peerPort = v.AsString()
		case "db.system", "db.system.name":
			a.dbSystem = v.AsString()
		case "db.query.text", "db.statement":
			a.dbText = v.AsString()
		case "db.namespace", "db.name":
			a.dbName = v.AsString()
		case "db.response.returned_rows", "db.rows_affected", "db.sql.rows":
			a.dbRows = intValue(v)
		case "rpc.system", "rpc.system.name":
			a.rpcSystem = v.AsString()
		case "rpc.service":
			a.rpcService = v.AsString()
		case "rpc.method":
			a.rpcMethod = v.AsString()
		case "messaging.system":
			a.msgSystem = v.AsString()
		case "messaging.destination.name", "messaging.destination":
			a.msgDest = v.AsString()
		case wire.AttrTxSQLCount:
			a.hasSummary, a.sqlCount = true, intValue(v)
		case wire.AttrTxSQLMs:
			a.sqlMs = floatValue(v)
		case wire.AttrTxHTTPCCount:
			a.hasSummary, a.httpcCount = true, intValue(v)
		case wire.AttrTxHTTPCMs:
			a.httpcMs = floatValue(v)
		case wire.AttrTxCPUMs:
			a.cpuMs = floatValue(v)
		case wire.AttrTxAllocBytes:
			a.alloc = intValue(v)
		case wire.AttrTxStepsDropped:
			a.dropped = intValue(v)
		}
		return true
	})
}

// peerFallback keeps the socket peer only when no client address was
// given (a proxy's address is worse than the client's own).
func (a *spanAttrs) peerFallback(ip string) {
	if a.clientIP == "" {
		a.clientIP = ip
	}
}

func intValue(v pcommon.Value) int64 {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int()
	case pcommon.ValueTypeDouble:
		return int64(v.Double())
	default:
		n, _ := strconv.ParseInt(v.AsString(), 10, 64)
		return n
	}
}

func floatValue(v pcommon.Value) float64 {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return float64(v.Int())
	case pcommon.ValueTypeDouble:
		return v.Double()
	default:
		f, _ := strconv.ParseFloat(v.AsString(), 64)
		return f
	}
}

// isEntry says whether a span starts a transaction of its process: a
// server span, a root span, one whose parent is remote, or a consumer span
// unless the SDK says its parent is local (Kafka instrumentations open a
// "process" span under their "receive" span, which is the transaction).
func isEntry(sp ptrace.Span) (entry, remoteParent bool) {
	const hasIsRemote, isRemote = 0x100, 0x200
	f := sp.Flags()
	known := f&hasIsRemote != 0
	remoteParent = known && f&isRemote != 0
	hasParent := !sp.ParentSpanID().IsEmpty()
	switch {
	case !hasParent:
		return true, false
	case sp.Kind() == ptrace.SpanKindServer:
		return true, remoteParent || !known
	case sp.Kind() == ptrace.SpanKindConsumer:
		return remoteParent || !known, remoteParent || !known
	}
	return remoteParent, remoteParent
}

// txName is WhaTap's "service": METHOD route for HTTP, else the span name.
func txName(sp ptrace.Span, a *spanAttrs) string {
	route := a.route
	if route == "" && sp.Kind() == ptrace.SpanKindServer && a.method != "" {
		// Without a route the path is all there is; drop the query so
		// one name does not become thousands.
		route = a.urlPath
		if route == "" {
			route = a.target
		}
		if i := strings.IndexByte(route, '?'); i >= 0 {
			route = route[:i]
		}
	}
	if route != "" {
		if a.method != "" {
			return a.method + " " + route
		}
		return route
	}
	return sp.Name()
}

// stepKind classifies a child span and describes it for the profile.
func stepKind(sp ptrace.Span, a *spanAttrs) (typ, text string) {
	switch {
	case a.dbSystem != "":
		if isConnect(sp.Name()) && a.dbText == "" {
			return StepDBC, sp.Name()
		}
		if a.dbText == "" {
			return StepSQL, sp.Name()
		}
		return StepSQL, maskSQL(a.dbSystem, a.dbText)
	case a.msgSystem != "" && (sp.Kind() == ptrace.SpanKindProducer || sp.Kind() == ptrace.SpanKindConsumer):
		return StepMsg, wire.MsgKey(a.msgSystem, a.msgDest)
	case sp.Kind() == ptrace.SpanKindClient && (a.method != "" || a.urlFull != ""):
		return StepHTTPC, httpcText(a)
	case sp.Kind() == ptrace.SpanKindClient && a.rpcSystem != "":
		return StepHTTPC, wire.RPCText(a.rpcSystem, a.rpcService, a.rpcMethod)
	case isConnect(sp.Name()):
		return StepDBC, sp.Name()
	}
	return StepMethod, sp.Name()
}

func isConnect(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "connect") || strings.Contains(n, "conn.") || strings.Contains(n, "pool.")
}

func maskSQL(system, q string) string {
	d := sqlmask.Postgres
	switch system {
	case "mysql", "mariadb", "tidb":
		d = sqlmask.MySQL
	}
	return sqlmask.Mask(sqlmask.Truncate(q), d)
}

// httpcText is "METHOD scheme://host:port/path" without the query, so the
// same call groups under one key.
func httpcText(a *spanAttrs) string {
	u := a.urlFull
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if u == "" {
		host := a.serverAddr
		if host == "" {
			host = a.peerName
		}
		port := a.serverPort
		if port == "" {
			port = a.peerPort
		}
		u = "http://" + wire.HostPort(host, port) + a.urlPath
	}
	if a.method == "" {
		return u
	}
	return a.method + " " + u
}

// outTarget is the key of an outgoing call in the service map: what the
// callee sees as its own address.
func outTarget(typ string, a *spanAttrs) string {
	switch typ {
	case StepSQL, StepDBC:
		host, port := a.serverAddr, a.serverPort
		if host == "" {
			host, port = a.peerName, a.peerPort
		}
		return wire.DBTarget(a.dbSystem, host, port)
	case StepMsg:
		return wire.MsgKey(a.msgSystem, a.msgDest)
	case StepHTTPC:
		if o := wire.URLOrigin(a.urlFull); o != "" {
			return o
		}
		host, port := a.serverAddr, a.serverPort
		if host == "" {
			host, port = a.peerName, a.peerPort
		}
		return wire.CallTarget(a.scheme, host, port, a.rpcSystem, a.rpcService)
	}
	return ""
}

// inAddress is the address the app was reached at, matched against
// callers' out targets: host:port for servers, system:destination for
// consumers.
func inAddress(sp ptrace.Span, a *spanAttrs) string {
	if sp.Kind() == ptrace.SpanKindConsumer && a.msgSystem != "" {
		return wire.MsgKey(a.msgSystem, a.msgDest)
	}
	if a.hostHeader != "" {
		return a.hostHeader
	}
	if a.serverAddr != "" {
		return wire.HostPort(a.serverAddr, a.serverPort)
	}
	if a.urlFull != "" {
		if u, err := url.Parse(a.urlFull); err == nil {
			return u.Host
		}
	}
	return ""
}

func isError(sp ptrace.Span, a *spanAttrs) bool {
	return sp.Status().Code() == ptrace.StatusCodeError || a.status >= 500
}

// errorKey names an error for the error statistics: the exception type,
// else the HTTP status, else the status message.
func errorKey(row []event.Field, sp ptrace.Span, a *spanAttrs) string {
	for i := range row {
		if row[i].Name == "exception.type" && row[i].Value != "" {
			return row[i].Value
		}
	}
	if a.status >= 500 {
		return "HTTP " + strconv.FormatInt(a.status, 10)
	}
	if m := sp.Status().Message(); m != "" {
		if len(m) > 200 {
			m = m[:200]
		}
		return m
	}
	return "error"
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
