package wire

// APM: what the Go library (apm/) and the server agree on.

// SnapshotApmActive carries the running transactions of one process with
// their sampled stacks; SnapshotApmRollup carries the counters, hitmap and
// statistics the library computed in-process.
const (
	SnapshotApmActive = "apm_active"
	SnapshotApmRollup = "apm_rollup"
)

// KindApp is the agent kind of an application process.
const KindApp = "app"

// AttrApmRollups on a resource says who computes the rollups of its
// spans. With ApmRollupsInProcess the server stores the spans but leaves
// the hitmap, counters and statistics to the ApmRollup snapshots, so
// nothing is counted twice.
const (
	AttrApmRollups      = "osprey.apm.rollups"
	ApmRollupsInProcess = "in-process"
)

// Transaction summary attributes the library sets on an entry span when it
// ends. The server computes the same values from child spans for apps
// without the library.
const (
	AttrTxSQLCount   = "osprey.tx.sql_count"
	AttrTxSQLMs      = "osprey.tx.sql_ms"
	AttrTxHTTPCCount = "osprey.tx.httpc_count"
	AttrTxHTTPCMs    = "osprey.tx.httpc_ms"
	AttrTxCPUMs      = "osprey.tx.cpu_ms"
	AttrTxAllocBytes = "osprey.tx.alloc_bytes"
	// AttrTxStepsDropped counts child spans the library did not export
	// (fast transactions keep only their summary).
	AttrTxStepsDropped = "osprey.tx.steps_dropped"
)

// HitmapBuckets is the number of response-time buckets of the hitmap:
// 125 ms wide to 5 s, 250 ms to 10 s, 500 ms to 20 s, 1 s to 40 s and 2 s
// to 80 s; slower transactions land in the last bucket.
const HitmapBuckets = 120

// hitmapBands are the bucket widths in ms and where each band ends.
var hitmapBands = [...]struct{ width, end float64 }{
	{125, 5000}, {250, 10000}, {500, 20000}, {1000, 40000}, {2000, 80000},
}

// HitmapBucket is the bucket of a transaction that took ms milliseconds.
func HitmapBucket(ms float64) int {
	if ms < 0 {
		ms = 0
	}
	start, base := 0.0, 0
	for _, b := range hitmapBands {
		if ms < b.end {
			return base + int((ms-start)/b.width)
		}
		base += int((b.end - start) / b.width)
		start = b.end
	}
	return HitmapBuckets - 1
}

// HitmapBounds returns the HitmapBuckets+1 bucket edges in ms.
func HitmapBounds() []float64 {
	out := make([]float64, 0, HitmapBuckets+1)
	start := 0.0
	for _, b := range hitmapBands {
		for v := start; v < b.end; v += b.width {
			out = append(out, v)
		}
		start = b.end
	}
	return append(out, start)
}

// ApdexT is the default Apdex threshold in ms: satisfied at or below T,
// tolerating up to 4T.
const ApdexT = 1200
