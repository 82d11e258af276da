package receiver

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The stores reject records far in the future too; dropping them here lets
// the sender be told, in the OTLP partial-success answer, before the batch
// is acknowledged.

func dropFutureSpans(td ptrace.Traces, limit pcommon.Timestamp) (dropped int) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			sss.At(j).Spans().RemoveIf(func(s ptrace.Span) bool {
				if s.EndTimestamp() > limit || s.StartTimestamp() > limit {
					dropped++
					return true
				}
				return false
			})
		}
	}
	return dropped
}

func dropFutureLogs(ld plog.Logs, limit pcommon.Timestamp) (dropped int) {
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sls.At(j).LogRecords().RemoveIf(func(r plog.LogRecord) bool {
				if r.Timestamp() > limit {
					dropped++
					return true
				}
				return false
			})
		}
	}
	return dropped
}

func dropFutureMetrics(md pmetric.Metrics, limit pcommon.Timestamp) (dropped int) {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					m.Gauge().DataPoints().RemoveIf(func(dp pmetric.NumberDataPoint) bool { return future(dp.Timestamp(), limit, &dropped) })
				case pmetric.MetricTypeSum:
					m.Sum().DataPoints().RemoveIf(func(dp pmetric.NumberDataPoint) bool { return future(dp.Timestamp(), limit, &dropped) })
				case pmetric.MetricTypeHistogram:
					m.Histogram().DataPoints().RemoveIf(func(dp pmetric.HistogramDataPoint) bool { return future(dp.Timestamp(), limit, &dropped) })
				case pmetric.MetricTypeExponentialHistogram:
					m.ExponentialHistogram().DataPoints().RemoveIf(func(dp pmetric.ExponentialHistogramDataPoint) bool {
						return future(dp.Timestamp(), limit, &dropped)
					})
				case pmetric.MetricTypeSummary:
					m.Summary().DataPoints().RemoveIf(func(dp pmetric.SummaryDataPoint) bool { return future(dp.Timestamp(), limit, &dropped) })
				}
			}
		}
	}
	return dropped
}

func future(ts, limit pcommon.Timestamp, n *int) bool {
	if ts > limit {
		*n++
		return true
	}
	return false
}

func limitFrom(now time.Time, skew time.Duration) pcommon.Timestamp {
	return pcommon.NewTimestampFromTime(now.Add(skew))
}
