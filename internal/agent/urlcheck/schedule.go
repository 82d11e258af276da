package urlcheck

import (
	"container/heap"
	"hash/fnv"
	"time"

	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// entry is one scheduled check. Its fields are guarded by Module.mu.
type entry struct {
	check    *agentpb.URLCheck
	interval time.Duration
	offset   time.Duration // stable phase within the interval
	next     time.Time     // the slot it runs at next
	index    int           // position in the heap, -1 when not in it
	running  bool          // dispatched and not finished (queued or probing)
}

// phaseOffset spreads checks over their interval by a hash of the id, so
// 10,000 checks with a 60 s interval do not all fire at second 0 and a
// check keeps its slot across restarts and config updates.
func phaseOffset(id string, interval time.Duration) time.Duration {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	return time.Duration(h.Sum64() % uint64(interval))
}

// slotAtOrAfter is the first time >= t at which a check with this interval
// and offset runs. Slots are aligned to the Unix epoch so they do not depend
// on when the agent started.
func slotAtOrAfter(t time.Time, interval, offset time.Duration) time.Time {
	n, iv, off := t.UnixNano(), int64(interval), int64(offset)
	k := (n - off) / iv
	if (n-off)%iv < 0 {
		k-- // floor division for times before the epoch
	}
	slot := k*iv + off
	if slot < n {
		slot += iv
	}
	return time.Unix(0, slot)
}

// entryHeap orders entries by their next slot.
type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*h = old[:len(old)-1]
	return e
}

var _ heap.Interface = (*entryHeap)(nil)
