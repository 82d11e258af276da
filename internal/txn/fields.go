// Package txn turns spans into APM data: it marks each span row as a
// transaction (an app's entry span) or a step of one, names transactions,
// sums a transaction's SQL and external calls from the child spans that
// arrived before it, and keeps the rollups that raw rows cannot answer
// quickly at 100k transactions/s: the 5-second hitmap and counters and the
// windowed statistics per transaction name, SQL, external call, error,
// client IP, user agent and call target. It also stores what the Go APM
// library computed in-process (active transactions, stacks, rollups). The
// row schema is in docs/apm.md.
package txn

// Row types.
const (
	TypeRollup = "apmroll"
	TypeStat   = "apmstat"
	TypeActive = "active"
	TypeStack  = "stack"
)

// Field names of the APM rows (docs/apm.md).
const (
	FieldRole     = "apm.role"
	RoleTx        = "tx"
	RoleStep      = "step"
	FieldApp      = "app"
	FieldInstance = "instance"

	FieldTxName         = "tx.name"
	FieldTxError        = "tx.error"
	FieldTxClientIP     = "tx.client_ip"
	FieldTxUser         = "tx.user"
	FieldTxUserAgent    = "tx.user_agent"
	FieldTxMethod       = "tx.method"
	FieldTxStatus       = "tx.status"
	FieldTxSQLCount     = "tx.sql_count"
	FieldTxSQLMs        = "tx.sql_ms"
	FieldTxHTTPCCount   = "tx.httpc_count"
	FieldTxHTTPCMs      = "tx.httpc_ms"
	FieldTxCPUMs        = "tx.cpu_ms"
	FieldTxAllocBytes   = "tx.alloc_bytes"
	FieldTxStepsDropped = "tx.steps_dropped"
	FieldTxRemoteParent = "tx.remote_parent"

	FieldStepType = "step.type"
	FieldStepText = "step.text"
	FieldStepRows = "step.rows"
	FieldStepMs   = "step.elapsed_ms"

	FieldStatKind  = "stat.kind"
	FieldStatKey   = "stat.key"
	FieldStackHash = "stack.hash"

	FieldNamespace  = "k8s.namespace.name"
	FieldDeployment = "k8s.deployment.name"
	FieldPod        = "k8s.pod.name"
)

// Step types.
const (
	StepSQL    = "sql"
	StepHTTPC  = "httpc"
	StepMsg    = "msg"
	StepDBC    = "dbc"
	StepMethod = "method"
)

// Statistic kinds.
const (
	StatTx    = "tx"
	StatSQL   = "sql"
	StatHTTPC = "httpc"
	StatError = "error"
	StatIP    = "ip"
	StatUA    = "ua"
	StatOut   = "out"
	StatIn    = "in"
)
