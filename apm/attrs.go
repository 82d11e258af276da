package apm

import (
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys the library reads or writes. The semantic conventions
// renamed most of them over time, so both names are read, as the server
// does for plain OpenTelemetry apps (internal/txn): the library must name,
// classify and key things exactly as the server would.
const (
	keyEndUser    = attribute.Key("enduser.id")
	keyHTTPRoute  = attribute.Key("http.route")
	keyClientAddr = attribute.Key("client.address")
	keyDBSystem   = attribute.Key("db.system")
	keyDBSysName  = attribute.Key("db.system.name")
	keyDBQuery    = attribute.Key("db.query.text")
	keyDBStmt     = attribute.Key("db.statement")
	keyServerAddr = attribute.Key("server.address")
	keyServerPort = attribute.Key("server.port")
	// keySQLSkip marks otelsql spans of calls the driver declined with
	// driver.ErrSkip (database/sql retries them another way, under a span
	// of its own); they are neither counted nor exported.
	keySQLSkip = attribute.Key("osprey.sql.skip")
)

// spanAttrs holds what APM reads from a span's attributes, gathered in one
// pass. Strings are the attribute values themselves (no copies).
type spanAttrs struct {
	method, route, target, urlFull, urlPath, scheme string
	status                                          int64
	clientIP, userAgent, user                       string
	serverAddr, hostHeader, peerName                string
	serverPort, peerPort                            attribute.Value
	dbSystem, dbText                                string
	dbRows                                          int64
	rpcSystem, rpcService, rpcMethod                string
	msgSystem, msgDest                              string
	sqlSkip                                         bool
}

func (a *spanAttrs) read(kvs []attribute.KeyValue) {
	for i := range kvs {
		kv := &kvs[i]
		switch kv.Key {
		case "http.request.method", "http.method":
			a.method = kv.Value.AsString()
		case "http.route":
			a.route = kv.Value.AsString()
		case "http.target":
			a.target = kv.Value.AsString()
		case "url.path":
			a.urlPath = kv.Value.AsString()
		case "url.full", "http.url":
			a.urlFull = kv.Value.AsString()
		case "url.scheme", "http.scheme":
			a.scheme = kv.Value.AsString()
		case "http.response.status_code", "http.status_code":
			a.status = intValue(kv.Value)
		case "client.address", "http.client_ip":
			a.clientIP = kv.Value.AsString()
		case "net.sock.peer.addr", "network.peer.address", "net.peer.ip":
			// The socket peer only when no client address was given (a
			// proxy's address is worse than the client's own).
			if a.clientIP == "" {
				a.clientIP = kv.Value.AsString()
			}
		case "user_agent.original", "http.user_agent":
			a.userAgent = kv.Value.AsString()
		case "enduser.id", "user.id":
			a.user = kv.Value.AsString()
		case "server.address", "net.host.name":
			a.serverAddr = kv.Value.AsString()
		case "server.port", "net.host.port":
			a.serverPort = kv.Value
		case "http.host":
			a.hostHeader = kv.Value.AsString()
		case "net.peer.name":
			a.peerName = kv.Value.AsString()
		case "net.peer.port":
			a.peerPort = kv.Value
		case "db.system", "db.system.name":
			a.dbSystem = kv.Value.AsString()
		case "db.query.text", "db.statement":
			a.dbText = kv.Value.AsString()
		case "db.response.returned_rows", "db.rows_affected", "db.sql.rows":
			a.dbRows = intValue(kv.Value)
		case "rpc.system", "rpc.system.name":
			a.rpcSystem = kv.Value.AsString()
		case "rpc.service":
			a.rpcService = kv.Value.AsString()
		case "rpc.method":
			a.rpcMethod = kv.Value.AsString()
		case "messaging.system":
			a.msgSystem = kv.Value.AsString()
		case "messaging.destination.name", "messaging.destination":
			a.msgDest = kv.Value.AsString()
		case keySQLSkip:
			a.sqlSkip = kv.Value.AsBool()
		}
	}
}

func intValue(v attribute.Value) int64 {
	switch v.Type() {
	case attribute.INT64:
		return v.AsInt64()
	case attribute.FLOAT64:
		return int64(v.AsFloat64())
	case attribute.STRING:
		n, _ := strconv.ParseInt(v.AsString(), 10, 64)
		return n
	}
	return 0
}

// portString formats a port attribute; "" when absent.
func portString(v attribute.Value) string {
	switch v.Type() {
	case attribute.INT64:
		return strconv.FormatInt(v.AsInt64(), 10)
	case attribute.STRING:
		return v.AsString()
	case attribute.FLOAT64:
		return strconv.FormatInt(int64(v.AsFloat64()), 10)
	}
	return ""
}

// Step types.
const (
	stepSQL    = "sql"
	stepHTTPC  = "httpc"
	stepMsg    = "msg"
	stepDBC    = "dbc"
	stepMethod = "method"
)

// Statistic kinds, in ApmStat order.
type statKind uint8

const (
	statTx statKind = iota
	statSQL
	statHTTPC
	statError
	statIP
	statUA
	statOut
	statIn
	numStatKinds
)

var statKindNames = [numStatKinds]string{"tx", "sql", "httpc", "error", "ip", "ua", "out", "in"}

// isEntry says whether a span starts a transaction: a server span, a root
// span, or one whose parent is in another process. A consumer span under a
// local parent is a step: Kafka instrumentations open a "receive" span
// (the transaction, its parent the producer's) and a "process" span under
// it.
func isEntry(kind trace.SpanKind, parent trace.SpanContext) bool {
	if kind == trace.SpanKindServer {
		return true
	}
	return !parent.IsValid() || parent.IsRemote()
}

// stepType classifies a child span as the server does.
func stepType(kind trace.SpanKind, name string, a *spanAttrs) string {
	switch {
	case a.dbSystem != "":
		if a.dbText == "" && isConnect(name) {
			return stepDBC
		}
		return stepSQL
	case a.msgSystem != "" && (kind == trace.SpanKindProducer || kind == trace.SpanKindConsumer):
		return stepMsg
	case kind == trace.SpanKindClient && (a.method != "" || a.urlFull != ""):
		return stepHTTPC
	case kind == trace.SpanKindClient && a.rpcSystem != "":
		return stepHTTPC
	case isConnect(name):
		return stepDBC
	}
	return stepMethod
}

// isConnect recognises connection spans by name (otelsql's
// sql.connector.connect, pool acquisition spans of other instrumentations)
// without allocating.
func isConnect(name string) bool {
	return containsFold(name, "connect") || containsFold(name, "conn.") || containsFold(name, "pool.")
}

// containsFold reports whether s contains the lower-case ASCII sub,
// ignoring ASCII case.
func containsFold(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for j < n {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				break
			}
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

// stripQuery cuts the query and fragment off a URL.
func stripQuery(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}

// errorKey names a failed transaction for the error statistics: the type
// of its last exception, else the HTTP status, else the status message.
func errorKey(s sdktrace.ReadOnlySpan, a *spanAttrs) string {
	evs := s.Events()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Name != "exception" {
			continue
		}
		for _, kv := range evs[i].Attributes {
			if kv.Key == "exception.type" && kv.Value.AsString() != "" {
				return kv.Value.AsString()
			}
		}
		break
	}
	if a.status >= 500 {
		return "HTTP " + strconv.FormatInt(a.status, 10)
	}
	if m := s.Status().Description; m != "" {
		if len(m) > 200 {
			m = m[:200]
		}
		return m
	}
	return "error"
}
