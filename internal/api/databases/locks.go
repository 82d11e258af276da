package databases

import (
	"net/http"
	"sort"
	"strconv"

	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/store/event"
	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// lockNode is one session in the lock tree. A root holds what others wait
// for and waits for nothing itself; its children wait for it.
type lockNode struct {
	ID                 string  `json:"id"`
	User               string  `json:"user"`
	Query              string  `json:"query"`
	State              string  `json:"state,omitempty"`
	HeldMode           string  `json:"heldMode,omitempty"`
	TransactionSeconds float64 `json:"transactionSeconds,omitempty"`
	// Wait: what this session waits for (empty on roots).
	WaitMode    string  `json:"waitMode,omitempty"`
	LockType    string  `json:"lockType,omitempty"`
	Table       string  `json:"table,omitempty"`
	Index       string  `json:"index,omitempty"`
	WaitSeconds float64 `json:"waitSeconds,omitempty"`
	// Blocking counts every session below this one.
	Blocking int         `json:"blocking"`
	Children []*lockNode `json:"children"`
	// Cycle marks a node already shown higher up: a deadlock in progress.
	Cycle bool `json:"cycle,omitempty"`
}

type waitJSON struct {
	WaiterID                 string  `json:"waiterId"`
	HolderID                 string  `json:"holderId"`
	LockMode                 string  `json:"lockMode"`
	LockType                 string  `json:"lockType"`
	Table                    string  `json:"table"`
	Index                    string  `json:"index"`
	WaitSeconds              float64 `json:"waitSeconds"`
	WaiterQuery              string  `json:"waiterQuery"`
	HolderQuery              string  `json:"holderQuery"`
	WaiterUser               string  `json:"waiterUser"`
	HolderUser               string  `json:"holderUser"`
	HolderState              string  `json:"holderState"`
	HolderMode               string  `json:"holderMode"`
	HolderTransactionSeconds float64 `json:"holderTransactionSeconds"`
}

// BuildLockTree turns waiter→holder edges into trees rooted at the
// sessions that block others without waiting themselves. A session
// waiting on several holders appears under each. Sessions in a cycle (a
// deadlock the engine has not broken yet) are rooted at the one with the
// longest wait and marked where the cycle closes.
func BuildLockTree(waits []*agentpb.DBLockWait) []*lockNode {
	type info struct {
		user, query, state, mode string
		trx                      float64
	}
	who := map[string]*info{}
	get := func(id string) *info {
		if who[id] == nil {
			who[id] = &info{}
		}
		return who[id]
	}
	children := map[string][]*agentpb.DBLockWait{}
	waiting := map[string]bool{}
	for _, w := range waits {
		h, wt := get(w.GetHolderId()), get(w.GetWaiterId())
		if h.user == "" {
			h.user = w.GetHolderUser()
		}
		if h.query == "" {
			h.query = w.GetHolderQuery()
		}
		if h.state == "" {
			h.state = w.GetHolderState()
		}
		if h.mode == "" {
			h.mode = w.GetHolderMode()
		}
		if w.GetHolderTransactionSeconds() > h.trx {
			h.trx = w.GetHolderTransactionSeconds()
		}
		if wt.user == "" {
			wt.user = w.GetWaiterUser()
		}
		if wt.query == "" {
			wt.query = w.GetWaiterQuery()
		}
		children[w.GetHolderId()] = append(children[w.GetHolderId()], w)
		waiting[w.GetWaiterId()] = true
	}
	var build func(id string, edge *agentpb.DBLockWait, path map[string]bool) *lockNode
	build = func(id string, edge *agentpb.DBLockWait, path map[string]bool) *lockNode {
		in := get(id)
		n := &lockNode{ID: id, User: in.user, Query: in.query, State: in.state, HeldMode: in.mode,
			TransactionSeconds: in.trx, Children: []*lockNode{}}
		if edge != nil {
			n.WaitMode, n.LockType, n.Table, n.Index, n.WaitSeconds =
				edge.GetLockMode(), edge.GetLockType(), edge.GetTable(), edge.GetIndex(), edge.GetWaitSeconds()
		}
		if path[id] {
			n.Cycle = true
			return n
		}
		path[id] = true
		kids := children[id]
		sort.SliceStable(kids, func(i, j int) bool { return kids[i].GetWaitSeconds() > kids[j].GetWaitSeconds() })
		for _, k := range kids {
			c := build(k.GetWaiterId(), k, path)
			n.Blocking += 1 + c.Blocking
			n.Children = append(n.Children, c)
		}
		delete(path, id)
		return n
	}
	var roots []*lockNode
	seen := map[string]bool{}
	var mark func(n *lockNode)
	mark = func(n *lockNode) {
		seen[n.ID] = true
		for _, c := range n.Children {
			mark(c)
		}
	}
	holders := make([]string, 0, len(children))
	for id := range children {
		holders = append(holders, id)
	}
	sort.Strings(holders)
	for _, id := range holders {
		if !waiting[id] {
			r := build(id, nil, map[string]bool{})
			mark(r)
			roots = append(roots, r)
		}
	}
	// What is left is in cycles: root each at its longest waiter.
	for {
		var best *agentpb.DBLockWait
		for _, w := range waits {
			if !seen[w.GetWaiterId()] && (best == nil || w.GetWaitSeconds() > best.GetWaitSeconds()) {
				best = w
			}
		}
		if best == nil {
			break
		}
		r := build(best.GetHolderId(), nil, map[string]bool{})
		mark(r)
		roots = append(roots, r)
	}
	sort.SliceStable(roots, func(i, j int) bool { return roots[i].Blocking > roots[j].Blocking })
	return roots
}

func toWaits(ws []*agentpb.DBLockWait) []waitJSON {
	out := make([]waitJSON, len(ws))
	for i, w := range ws {
		out[i] = waitJSON{
			WaiterID: w.GetWaiterId(), HolderID: w.GetHolderId(), LockMode: w.GetLockMode(), LockType: w.GetLockType(),
			Table: w.GetTable(), Index: w.GetIndex(), WaitSeconds: w.GetWaitSeconds(),
			WaiterQuery: w.GetWaiterQuery(), HolderQuery: w.GetHolderQuery(),
			WaiterUser: w.GetWaiterUser(), HolderUser: w.GetHolderUser(), HolderState: w.GetHolderState(),
			HolderMode: w.GetHolderMode(), HolderTransactionSeconds: w.GetHolderTransactionSeconds(),
		}
	}
	return out
}

// locks answers the lock tree at ?at= (default now). No lock snapshot
// near that moment means nobody waited: an empty tree, not an error.
func (h *handler) locks(w http.ResponseWriter, r *http.Request) {
	_, _, rec, ok := h.snapshotAt(w, r, wire.SnapshotDBLocks, lockWindow)
	if !ok {
		return
	}
	var l agentpb.DBLocks
	var t string
	if rec != nil {
		if err := decodeBody(rec, &l); err != nil {
			envelope.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
			return
		}
		t = rec[event.FieldTime]
	}
	tree := BuildLockTree(l.GetWaits())
	if tree == nil {
		tree = []*lockNode{}
	}
	envelope.WriteData(w, map[string]any{"time": t, "tree": tree, "waits": toWaits(l.GetWaits())})
}

type lockHistoryJSON struct {
	Time           string  `json:"time"`
	Waits          int     `json:"waits"`
	MaxWaitSeconds float64 `json:"maxWaitSeconds"`
	Table          string  `json:"table"`
	HolderID       string  `json:"holderId"`
	HolderQuery    string  `json:"holderQuery"`
}

// lockHistory lists the moments with lock waits in [start, end], newest
// first, with the longest wait of each.
func (h *handler) lockHistory(w http.ResponseWriter, r *http.Request) {
	project, a, ok := h.find(w, r)
	if !ok {
		return
	}
	start, end, err := envelope.ParseRange(r.URL.Query(), h.now(), defaultRange)
	if err != nil {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	res, err := h.es.Search(r.Context(), project, event.Query{
		Start: start, End: end, Type: typeSnapshot, Filters: snapshotFilters(wire.SnapshotDBLocks, a.ID), Limit: maxHistory,
		Fields: []string{event.FieldTime, "db.lock.waits", "db.lock.max_wait_seconds", "db.lock.table", "db.lock.holder_id", "db.lock.holder_query"},
	})
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	out := make([]lockHistoryJSON, 0, len(res.Records))
	for _, rec := range res.Records {
		n, _ := strconv.Atoi(rec["db.lock.waits"])
		mx, _ := strconv.ParseFloat(rec["db.lock.max_wait_seconds"], 64)
		out = append(out, lockHistoryJSON{Time: rec[event.FieldTime], Waits: n, MaxWaitSeconds: mx,
			Table: rec["db.lock.table"], HolderID: rec["db.lock.holder_id"], HolderQuery: rec["db.lock.holder_query"]})
	}
	envelope.WriteData(w, map[string]any{"history": out, "partial": res.Partial})
}
