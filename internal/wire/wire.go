// Package wire holds what the agent and the server agree on besides the
// generated protocol code: resource attribute keys that carry agent identity
// on OTLP data, header names, and snapshot types. It is the only package
// both sides import.
package wire

// Resource attributes that identify the reporting agent on OTLP data. The
// OpenTelemetry semantic conventions cover host and service; the osprey.*
// keys carry what they do not (our agent group and kind).
const (
	AttrAgentID           = "osprey.agent.id"
	AttrAgentName         = "osprey.agent.name"
	AttrAgentGroup        = "osprey.agent.group"
	AttrAgentKind         = "osprey.agent.kind"
	AttrHostName          = "host.name"
	AttrServiceName       = "service.name"
	AttrServiceInstanceID = "service.instance.id"
	AttrServiceNamespace  = "service.namespace"
)

// HeaderAuthorization carries "Bearer KEY" on every agent call (gRPC
// metadata keys are lower case). HeaderProjectKey is the alternative
// OTLP-exporter-friendly form: `x-osprey-key: KEY`.
const (
	HeaderAuthorization = "authorization"
	HeaderProjectKey    = "x-osprey-key"
)

// Snapshot types sent through AgentService.Push.
const (
	SnapshotProcessList  = "process_list"
	SnapshotInventory    = "inventory"
	SnapshotLoadSnapshot = "load_snapshot"
	SnapshotDBSessions   = "db_sessions"
	SnapshotDBLocks      = "db_locks"
	SnapshotDBStatements = "db_statements"
	SnapshotURLResults   = "url_results"
)

// Agent kinds. A database instance monitored by an agent's db module
// reports under its own identity of kind db, so it is listed apart from
// the host the agent runs on.
const (
	KindHost = "host"
	KindDB   = "db"
)

// DefaultReportInterval is how often agents report counters, in seconds.
const DefaultReportInterval = 5
