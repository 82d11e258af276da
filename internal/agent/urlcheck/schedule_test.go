package urlcheck

import (
	"fmt"
	"testing"
	"time"

	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// TestPhasesSpread: 10,000 checks at 60 s must load every second about
// equally, not fire together.
func TestPhasesSpread(t *testing.T) {
	const n, iv = 10000, 60 * time.Second
	var perSecond [60]int
	for i := range n {
		off := phaseOffset(fmt.Sprintf("check-%d", i), iv)
		if off < 0 || off >= iv {
			t.Fatalf("offset %v outside [0, %v)", off, iv)
		}
		perSecond[off/time.Second]++
	}
	mean := n / 60 // 166
	for s, c := range perSecond {
		// ±40% is over 5 standard deviations of a uniform spread.
		if c < mean*6/10 || c > mean*14/10 {
			t.Errorf("second %d has %d checks, want about %d", s, c, mean)
		}
	}
	// The phase is a pure function of the id, pinned so a change of hash
	// (which would move every check's slot on upgrade) is noticed.
	if got, want := phaseOffset("check-0", iv), time.Duration(26348657226); got != want {
		t.Errorf("phase of check-0 = %v, want %v", got, want)
	}
}

func TestSlotAtOrAfter(t *testing.T) {
	iv, off := 60*time.Second, 7*time.Second
	base := time.Unix(1_700_000_000, 0).Truncate(iv) // a slot boundary minus the offset
	tests := []struct {
		name string
		at   time.Time
		want time.Time
	}{
		{"just before the slot", base.Add(off - time.Nanosecond), base.Add(off)},
		{"on the slot", base.Add(off), base.Add(off)},
		{"just after the slot", base.Add(off + time.Nanosecond), base.Add(iv + off)},
		{"at the interval boundary", base, base.Add(off)},
		{"before the epoch", time.Unix(-59, 0), time.Unix(-53, 0)},
		{"on a slot before the epoch", time.Unix(-113, 0), time.Unix(-113, 0)},
		{"just before a slot before the epoch", time.Unix(-114, 0), time.Unix(-113, 0)},
		{"just after a slot before the epoch", time.Unix(-112, 0), time.Unix(-53, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := slotAtOrAfter(tt.at, iv, off); !got.Equal(tt.want) {
				t.Errorf("slotAtOrAfter(%v) = %v, want %v", tt.at.Unix(), got.Unix(), tt.want.Unix())
			}
		})
	}
}

// checkHeap verifies the heap holds exactly the module's entries with
// correct indexes and order.
func checkHeap(t *testing.T, m *Module) {
	t.Helper()
	if len(m.queue) != len(m.entries) {
		t.Fatalf("heap has %d entries, map %d", len(m.queue), len(m.entries))
	}
	for i, e := range m.queue {
		if e.index != i {
			t.Errorf("entry %s at %d has index %d", e.check.Id, i, e.index)
		}
		if m.entries[e.check.Id] != e {
			t.Errorf("entry %s in the heap is not the map's", e.check.Id)
		}
		if i > 0 && e.next.Before(m.queue[(i-1)/2].next) {
			t.Errorf("heap order broken at %d", i)
		}
	}
}

func TestSetChecksKeepsSchedule(t *testing.T) {
	m := New(Config{Enabled: true}, nil, nil)
	m.SetChecks([]*agentpb.URLCheck{
		{Id: "keep", Url: "http://a/", IntervalSeconds: 60},
		{Id: "reinterval", Url: "http://b/", IntervalSeconds: 60},
		{Id: "remove", Url: "http://c/", IntervalSeconds: 60},
		{Id: "tiny", Url: "http://d/", IntervalSeconds: 0},
	})
	checkHeap(t, m)
	if got := m.entries["tiny"].interval; got != DefaultInterval {
		t.Errorf("interval 0 became %v, want the default %v", got, DefaultInterval)
	}
	keep := *m.entries["keep"]
	keepPtr := m.entries["keep"]

	m.SetChecks([]*agentpb.URLCheck{
		{Id: "keep", Url: "http://a2/", IntervalSeconds: 60},
		{Id: "reinterval", Url: "http://b/", IntervalSeconds: 10},
		{Id: "tiny", Url: "http://d/", IntervalSeconds: -5},
		{Id: "new", Url: "http://e/", IntervalSeconds: 30},
		{Id: "", Url: "http://no-id/"},
	})
	checkHeap(t, m)
	k := m.entries["keep"]
	if k != keepPtr || !k.next.Equal(keep.next) || k.offset != keep.offset {
		t.Errorf("kept check rescheduled: next %v offset %v, was %v %v", k.next, k.offset, keep.next, keep.offset)
	}
	if k.check.Url != "http://a2/" {
		t.Errorf("kept check not updated: url %q", k.check.Url)
	}
	r := m.entries["reinterval"]
	if r.interval != 10*time.Second || r.offset >= 10*time.Second || time.Until(r.next) > 10*time.Second {
		t.Errorf("re-intervaled check: interval %v offset %v next in %v", r.interval, r.offset, time.Until(r.next))
	}
	if (r.next.UnixNano()-int64(r.offset))%int64(r.interval) != 0 {
		t.Errorf("re-intervaled check off its phase")
	}
	if _, ok := m.entries["remove"]; ok {
		t.Error("removed check still scheduled")
	}
	if _, ok := m.entries["new"]; !ok {
		t.Error("new check not scheduled")
	}
	if _, ok := m.entries[""]; ok {
		t.Error("a check without id was scheduled")
	}
	if st := m.Stats(); st.Checks != 4 {
		t.Errorf("Stats().Checks = %d, want 4", st.Checks)
	}
}

// TestSetChecksCopies: the caller may reuse its messages.
func TestSetChecksCopies(t *testing.T) {
	m := New(Config{}, nil, nil)
	c := &agentpb.URLCheck{Id: "a", Url: "http://a/"}
	m.SetChecks([]*agentpb.URLCheck{c})
	c.Url = "http://changed/"
	if got := m.entries["a"].check.Url; got != "http://a/" {
		t.Errorf("module sees the caller's later change: %q", got)
	}
}

func TestTakeDue(t *testing.T) {
	iv := 10 * time.Second
	now := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name        string
		next        time.Time
		running     bool
		wantStarted bool
		wantSkipped uint64
		wantNext    time.Time
	}{
		{"not due", now.Add(time.Second), false, false, 0, now.Add(time.Second)},
		{"due now", now, false, true, 0, now.Add(iv)},
		{"due, still running: skipped, not stacked", now, true, false, 1, now.Add(iv)},
		{"three slots behind: run once, skip the missed", now.Add(-3*iv - time.Second), false, true, 3, now.Add(iv - time.Second)},
		{"behind and running", now.Add(-2*iv - time.Second), true, false, 3, now.Add(iv - time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(Config{}, nil, nil)
			m.SetChecks([]*agentpb.URLCheck{{Id: "a", IntervalSeconds: 10}})
			e := m.entries["a"]
			e.next, e.running = tt.next, tt.running
			due := m.takeDue(now, nil)
			if started := len(due) == 1; started != tt.wantStarted {
				t.Errorf("started %v, want %v", started, tt.wantStarted)
			}
			if got := m.skipped.Load(); got != tt.wantSkipped {
				t.Errorf("skipped %d, want %d", got, tt.wantSkipped)
			}
			if !e.next.Equal(tt.wantNext) {
				t.Errorf("next %v, want %v", e.next.Sub(now), tt.wantNext.Sub(now))
			}
			if tt.wantStarted && !e.running {
				t.Error("a started run is not marked running")
			}
		})
	}
}
