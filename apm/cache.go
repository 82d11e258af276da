package apm

// strKey identifies a string built from parts (a transaction name from
// method and route, a target from system, host and port, ...).
type strKey struct {
	kind    uint8
	a, b, c string
}

const (
	ckTxName uint8 = iota
	ckJoin         // host:port
	ckDBOut        // system://host:port
	ckHTTPC        // METHOD url
	ckMsg          // system:destination
	ckRPC          // system service/method
	ckSQL          // masked SQL (a: raw text, b: system)
)

// maxCached bounds each cache. Most apps have a few hundred names and
// targets; what does not fit is built each time instead of kept.
const maxCached = 8192

// strCache keeps strings that would otherwise be concatenated (or masked)
// again for every span.
type strCache struct {
	m rmap[strKey, string]
}

func (c *strCache) get(k strKey, build func(strKey) string) string {
	v, _ := c.m.loadOrCreate(k, func(size int) (string, bool) {
		return build(k), size < maxCached
	})
	return v
}
