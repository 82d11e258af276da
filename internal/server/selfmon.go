package server

import (
	"context"
	"math"
	"os"
	"strconv"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/osprey-monitoring/osprey/internal/store/metric"
)

// selfMonitor writes the server's own metrics (ingest rates, queue depth,
// storage size, Go runtime, process) into the default project every 5 s, so
// the server is monitored by itself with nothing else to set up.
func (s *Server) selfMonitor() {
	defer s.bg.Done()
	host, _ := os.Hostname()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			if err := s.recordSelf(now, host); err != nil {
				s.log.Warn("self-monitoring", "err", err)
			}
		}
	}
}

func (s *Server) recordSelf(now time.Time, host string) error {
	mfs, err := s.reg.Gather()
	if err != nil {
		return err
	}
	ts := now.UnixMilli()
	base := []labels.Label{{Name: "job", Value: "osprey-server"}, {Name: "instance", Value: host}}
	var samples []metric.Sample
	add := func(name string, extra []*dto.LabelPair, v float64, more ...labels.Label) {
		b := labels.NewScratchBuilder(len(base) + len(extra) + len(more) + 1)
		b.Add(model.MetricNameLabel, name)
		for _, l := range base {
			b.Add(l.Name, l.Value)
		}
		for _, lp := range extra {
			b.Add(lp.GetName(), lp.GetValue())
		}
		for _, l := range more {
			b.Add(l.Name, l.Value)
		}
		b.Sort()
		samples = append(samples, metric.Sample{Labels: b.Labels(), T: ts, V: v})
	}
	for _, mf := range mfs {
		name := mf.GetName()
		for _, m := range mf.GetMetric() {
			lp := m.GetLabel()
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				add(name, lp, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				add(name, lp, m.GetGauge().GetValue())
			case dto.MetricType_UNTYPED:
				add(name, lp, m.GetUntyped().GetValue())
			case dto.MetricType_SUMMARY:
				sm := m.GetSummary()
				add(name+"_sum", lp, sm.GetSampleSum())
				add(name+"_count", lp, float64(sm.GetSampleCount()))
				for _, q := range sm.GetQuantile() {
					add(name, lp, q.GetValue(), labels.Label{Name: "quantile", Value: strconv.FormatFloat(q.GetQuantile(), 'g', -1, 64)})
				}
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				add(name+"_sum", lp, h.GetSampleSum())
				add(name+"_count", lp, float64(h.GetSampleCount()))
				for _, b := range h.GetBucket() {
					add(name+"_bucket", lp, float64(b.GetCumulativeCount()), labels.Label{Name: "le", Value: strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)})
				}
				add(name+"_bucket", lp, float64(h.GetSampleCount()), labels.Label{Name: "le", Value: strconv.FormatFloat(math.Inf(1), 'g', -1, 64)})
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = s.metrics.AppendSamples(ctx, s.defaultP.ID, samples)
	return err
}
