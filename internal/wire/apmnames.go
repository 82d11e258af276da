package wire

import "strings"

// How the APM library and the server name calls and addresses. Both must
// give the same strings: the service map joins a caller's out target to
// the callee's in address, and statistics from the library and from the
// server land under the same keys.

// HostPort is host:port, brackets around an IPv6 host; host alone
// without a port.
func HostPort(host, port string) string {
	if port == "" {
		return host
	}
	if strings.IndexByte(host, ':') >= 0 {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// URLOrigin is scheme://host[:port] of an absolute URL, as url.Parse's
// Scheme + "://" + Host, without allocating; "" for a relative URL.
func URLOrigin(u string) string {
	i := strings.Index(u, "://")
	if i <= 0 {
		return ""
	}
	rest := u[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	host := rest[:end]
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		// userinfo is not part of the host; rare (instrumentations strip
		// it), so the concatenation is fine.
		return u[:i+3] + host[at+1:]
	}
	if host == "" {
		return ""
	}
	return u[:i+3+end]
}

// DBTarget is the out target of a database call ("mysql://host:port");
// "" without a host, which says nothing about where the call went (a
// pool or connect span). MariaDB is named mysql, as clients see it.
func DBTarget(system, host, port string) string {
	if host == "" || system == "" {
		return ""
	}
	if system == "mariadb" {
		system = "mysql"
	}
	return system + "://" + HostPort(host, port)
}

// MsgKey names a messaging destination ("nats:orders.created",
// "kafka:orders"): the out target of a producer and the in address of a
// consumer.
func MsgKey(system, destination string) string { return system + ":" + destination }

// RPCText names an RPC call: newer semantic conventions put the whole
// "package.Service/Method" in rpc.method and drop rpc.service.
func RPCText(system, service, method string) string {
	if service == "" {
		return system + " " + method
	}
	return system + " " + service + "/" + method
}

// CallTarget is the out target of an HTTP or RPC call that has no
// absolute URL: scheme://host[:port] (http when the scheme is unknown),
// or system:service for an RPC without an address.
func CallTarget(scheme, host, port, rpcSystem, rpcService string) string {
	if host == "" && rpcService != "" {
		return rpcSystem + ":" + rpcService
	}
	if scheme == "" {
		scheme = "http"
	}
	return scheme + "://" + HostPort(host, port)
}
