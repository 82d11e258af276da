package metric

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
)

type rejectReason int

const (
	reasonFuture rejectReason = iota
	reasonTooOld
	reasonOutOfOrder
	reasonDuplicate
	reasonInvalid
	reasonTranslate
	numReasons
)

func (r rejectReason) words() string {
	switch r {
	case reasonFuture:
		return "too far in the future"
	case reasonTooOld:
		return "too old (outside the out-of-order window or retention)"
	case reasonOutOfOrder:
		return "out of order"
	case reasonDuplicate:
		return "with a different value for an existing timestamp"
	case reasonTranslate:
		return "could not be converted from OTLP"
	default:
		return "invalid"
	}
}

// projectAppender wraps one TSDB appender for one batch of one project. It
// stamps the project label on every series (overwriting the payload's) and
// turns per-sample refusals into counted rejections instead of errors, because
// the OTLP translator abandons the rest of a metric on the first Append error
// and one bad sample must not drop its neighbours.
type projectAppender struct {
	app       storage.AppenderV2
	store     *Store
	project   int64
	projectID string
	maxT      int64 // samples newer than this are rejected as future
	b         *labels.Builder

	// record makes Append keep what it appended, for the fast path to learn.
	record   bool
	recorded []recordedAppend

	accepted    int
	rejects     [numReasons]int
	firstReason rejectReason
	firstErr    error
	anyRejected bool
}

func (s *Store) newAppender(ctx context.Context, project int64) *projectAppender {
	return &projectAppender{
		app:       s.db.AppenderV2(ctx),
		store:     s,
		project:   project,
		projectID: projectString(project),
		maxT:      s.now().Add(s.opts.MaxFutureSkew).UnixMilli(),
		b:         labels.NewBuilder(labels.EmptyLabels()),
	}
}

// withProject returns ls with the project label set to this appender's
// project, whatever the payload said.
func (a *projectAppender) withProject(ls labels.Labels) labels.Labels {
	if ls.Get(ProjectLabel) == a.projectID {
		return ls
	}
	a.b.Reset(ls)
	a.b.Set(ProjectLabel, a.projectID)
	return a.b.Labels()
}

// Append implements storage.AppenderV2 for the OTLP translator.
func (a *projectAppender) Append(ref storage.SeriesRef, ls labels.Labels, st, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AOptions) (storage.SeriesRef, error) {
	if t > a.maxT {
		a.reject(reasonFuture, 1, nil)
		return 0, nil
	}
	hash := ls.Hash()
	e, hit := a.store.cache.get(a.project, hash, ls)
	if !hit {
		e = cacheEntry{project: a.project, in: ls, out: a.withProject(ls), ref: ref}
	}
	r, err := a.app.Append(e.ref, e.out, st, t, v, h, fh, opts)
	r = a.result(r, err)
	if r != 0 && r != e.ref {
		e.ref = r
		a.store.cache.put(hash, e)
	}
	if a.record {
		a.recorded = append(a.recorded, recordedAppend{out: e.out, ref: r})
	}
	return r, nil
}

// appendFast appends a float sample to a series whose project-stamped
// labels and ref the fast path already knows.
func (a *projectAppender) appendFast(out labels.Labels, ref storage.SeriesRef, st, t int64, v float64) {
	if t > a.maxT {
		a.reject(reasonFuture, 1, nil)
		return
	}
	r, err := a.app.Append(ref, out, st, t, v, nil, nil, storage.AOptions{})
	a.result(r, err)
}

// appendScoped appends a remote-write sample whose labels already carry the
// project label. It returns the series ref to reuse for the same series.
func (a *projectAppender) appendScoped(ref storage.SeriesRef, ls labels.Labels, t int64, v float64, ph *prompb.Histogram) storage.SeriesRef {
	if ref == 0 && !ls.IsValid(model.UTF8Validation) {
		a.reject(reasonInvalid, 1, fmt.Errorf("invalid label set %s", ls.String()))
		return 0
	}
	if t > a.maxT {
		a.reject(reasonFuture, 1, nil)
		return ref
	}
	var (
		h  *histogram.Histogram
		fh *histogram.FloatHistogram
	)
	if ph != nil {
		if ph.IsFloatHistogram() {
			fh = ph.ToFloatHistogram()
		} else {
			h = ph.ToIntHistogram()
		}
	}
	r, err := a.app.Append(ref, ls, 0, t, v, h, fh, storage.AOptions{})
	if r = a.result(r, err); r == 0 {
		return ref
	}
	return r
}

func (a *projectAppender) result(r storage.SeriesRef, err error) storage.SeriesRef {
	if err == nil {
		a.accepted++
		return r
	}
	if _, ok := errors.AsType[*storage.AppendPartialError](err); ok {
		// Only auxiliary data (exemplars) failed; the sample is stored.
		a.accepted++
		return r
	}
	switch {
	case errors.Is(err, storage.ErrOutOfBounds), errors.Is(err, storage.ErrTooOldSample):
		a.reject(reasonTooOld, 1, err)
	case errors.Is(err, storage.ErrOutOfOrderSample):
		a.reject(reasonOutOfOrder, 1, err)
	case errors.Is(err, storage.ErrDuplicateSampleForTimestamp):
		a.reject(reasonDuplicate, 1, err)
	default:
		a.reject(reasonInvalid, 1, err)
	}
	return 0
}

func (a *projectAppender) reject(r rejectReason, n int, err error) {
	if !a.anyRejected {
		a.anyRejected = true
		a.firstReason = r
		a.firstErr = err
	}
	a.rejects[r] += n
}

// Commit implements storage.AppenderV2.
func (a *projectAppender) Commit() error { return a.app.Commit() }

// Rollback implements storage.AppenderV2.
func (a *projectAppender) Rollback() error { return a.app.Rollback() }

func (a *projectAppender) commit() (AppendResult, error) {
	if err := a.app.Commit(); err != nil {
		return AppendResult{}, fmt.Errorf("metric store: commit batch for project %d: %w", a.project, err)
	}
	res := AppendResult{Accepted: a.accepted}
	for _, n := range a.rejects {
		res.Rejected += n
	}
	if a.anyRejected {
		n := a.rejects[a.firstReason]
		noun := "samples"
		if a.firstReason == reasonTranslate {
			noun = "metrics"
		}
		if n == 1 {
			noun = noun[:len(noun)-1]
		}
		res.RejectReason = fmt.Sprintf("%d %s %s", n, noun, a.firstReason.words())
		if a.firstReason == reasonInvalid || a.firstReason == reasonTranslate {
			res.RejectReason += ": " + a.firstErr.Error()
		}
	}
	a.store.appended.Add(uint64(res.Accepted))
	a.store.rejected.Add(uint64(res.Rejected))
	return res, nil
}

var _ storage.AppenderV2 = (*projectAppender)(nil)
