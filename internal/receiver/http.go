package receiver

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/osprey-monitoring/osprey/internal/ingest"
)

// OTLPHandler serves OTLP/HTTP: POST /v1/traces, /v1/metrics, /v1/logs with
// application/x-protobuf or application/json bodies, optionally gzipped.
func (r *Receiver) OTLPHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", r.httpOTLP(ingest.KindTraces))
	mux.HandleFunc("POST /v1/metrics", r.httpOTLP(ingest.KindMetrics))
	mux.HandleFunc("POST /v1/logs", r.httpOTLP(ingest.KindLogs))
	return mux
}

type encoding int

const (
	encProto encoding = iota
	encJSON
)

// writeStatus answers with a google.rpc.Status body in the request's
// encoding, as the OTLP/HTTP specification asks for errors.
func writeStatus(w http.ResponseWriter, enc encoding, httpCode int, code codes.Code, msg string) {
	st := &spb.Status{Code: int32(code), Message: msg}
	var body []byte
	if enc == encJSON {
		body, _ = protojson.Marshal(st)
		w.Header().Set("Content-Type", "application/json")
	} else {
		body, _ = proto.Marshal(st)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}
	if httpCode == http.StatusTooManyRequests || httpCode == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(httpCode)
	_, _ = w.Write(body)
}

// readBody reads a request body within the size limit, undoing gzip. The
// limit applies to the decompressed size too, so a small zip bomb cannot
// exhaust memory.
func (r *Receiver) readBody(req *http.Request) ([]byte, error) {
	limit := int64(r.opts.MaxRequestBytes)
	var src io.Reader = http.MaxBytesReader(nil, req.Body, limit)
	switch req.Header.Get("Content-Encoding") {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, fmt.Errorf("%w: bad gzip body: %v", errMalformed, err)
		}
		defer zr.Close()
		src = zr
	default:
		return nil, fmt.Errorf("%w: unsupported Content-Encoding %q", errMalformed, req.Header.Get("Content-Encoding"))
	}
	b, err := io.ReadAll(io.LimitReader(src, limit+1))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || int64(len(b)) > limit {
		return nil, errTooLarge
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read body: %v", errMalformed, err)
	}
	return b, nil
}

var (
	errTooLarge  = errors.New("request body too large")
	errMalformed = errors.New("malformed request")
)

func (r *Receiver) httpAuth(w http.ResponseWriter, req *http.Request, enc encoding) (context.Context, bool) {
	ctx, err := r.authenticate(req.Context(), keyFromHTTP(req))
	switch {
	case errors.Is(err, ErrBadKey):
		writeStatus(w, enc, http.StatusUnauthorized, codes.Unauthenticated, "unknown or missing project key: send 'Authorization: Bearer KEY'")
		return nil, false
	case errors.Is(err, errRateLimited):
		writeStatus(w, enc, http.StatusTooManyRequests, codes.ResourceExhausted, err.Error())
		return nil, false
	case err != nil:
		writeStatus(w, enc, http.StatusServiceUnavailable, codes.Unavailable, "cannot check the project key now")
		return nil, false
	}
	return ctx, true
}

func (r *Receiver) httpOTLP(kind ingest.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		enc := encProto
		ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
		switch ct {
		case "application/x-protobuf", "application/protobuf":
		case "application/json":
			enc = encJSON
		default:
			r.rejected.WithLabelValues(reasonMalformed).Inc()
			writeStatus(w, enc, http.StatusUnsupportedMediaType, codes.InvalidArgument,
				fmt.Sprintf("unsupported Content-Type %q: use application/x-protobuf or application/json", ct))
			return
		}
		ctx, ok := r.httpAuth(w, req, enc)
		if !ok {
			return
		}
		raw, err := r.readBody(req)
		if errors.Is(err, errTooLarge) {
			r.rejected.WithLabelValues(reasonTooLarge).Inc()
			writeStatus(w, enc, http.StatusRequestEntityTooLarge, codes.InvalidArgument,
				fmt.Sprintf("request body larger than %d bytes", r.opts.MaxRequestBytes))
			return
		}
		if err != nil {
			r.rejected.WithLabelValues(reasonMalformed).Inc()
			writeStatus(w, enc, http.StatusBadRequest, codes.InvalidArgument, err.Error())
			return
		}
		p, _ := ProjectFrom(ctx)
		limit := limitFrom(time.Now(), r.opts.MaxFutureSkew)
		b := &ingest.Batch{Kind: kind, Project: p.ID}
		var (
			count, dropped int
			respBody       []byte
			unit           string
		)
		unmarshal := func(u interface {
			UnmarshalProto([]byte) error
			UnmarshalJSON([]byte) error
		}) error {
			if enc == encJSON {
				return u.UnmarshalJSON(raw)
			}
			return u.UnmarshalProto(raw)
		}
		switch kind {
		case ingest.KindTraces:
			er := ptraceotlp.NewExportRequest()
			if err = unmarshal(&er); err == nil {
				b.Traces = er.Traces()
				dropped = dropFutureSpans(b.Traces, limit)
				count, unit = b.Traces.SpanCount(), "span"
				b.Body, err = reencode(enc, dropped, raw, er.MarshalProto)
				resp := ptraceotlp.NewExportResponse()
				if dropped > 0 {
					resp.PartialSuccess().SetRejectedSpans(int64(dropped))
					resp.PartialSuccess().SetErrorMessage(futureMsg(dropped, "spans", r.opts.MaxFutureSkew))
				}
				respBody, _ = marshalResp(enc, resp.MarshalProto, resp.MarshalJSON)
			}
		case ingest.KindMetrics:
			er := pmetricotlp.NewExportRequest()
			if err = unmarshal(&er); err == nil {
				b.Metrics = er.Metrics()
				dropped = dropFutureMetrics(b.Metrics, limit)
				count, unit = b.Metrics.DataPointCount(), "datapoint"
				b.Body, err = reencode(enc, dropped, raw, er.MarshalProto)
				resp := pmetricotlp.NewExportResponse()
				if dropped > 0 {
					resp.PartialSuccess().SetRejectedDataPoints(int64(dropped))
					resp.PartialSuccess().SetErrorMessage(futureMsg(dropped, "data points", r.opts.MaxFutureSkew))
				}
				respBody, _ = marshalResp(enc, resp.MarshalProto, resp.MarshalJSON)
			}
		case ingest.KindLogs:
			er := plogotlp.NewExportRequest()
			if err = unmarshal(&er); err == nil {
				b.Logs = er.Logs()
				dropped = dropFutureLogs(b.Logs, limit)
				count, unit = b.Logs.LogRecordCount(), "log"
				b.Body, err = reencode(enc, dropped, raw, er.MarshalProto)
				resp := plogotlp.NewExportResponse()
				if dropped > 0 {
					resp.PartialSuccess().SetRejectedLogRecords(int64(dropped))
					resp.PartialSuccess().SetErrorMessage(futureMsg(dropped, "log records", r.opts.MaxFutureSkew))
				}
				respBody, _ = marshalResp(enc, resp.MarshalProto, resp.MarshalJSON)
			}
		}
		if err != nil {
			r.rejected.WithLabelValues(reasonMalformed).Inc()
			writeStatus(w, enc, http.StatusBadRequest, codes.InvalidArgument, "cannot decode OTLP "+kind.String()+": "+err.Error())
			return
		}
		if dropped > 0 {
			r.rejected.WithLabelValues(reasonFuture).Add(float64(dropped))
		}
		if count > 0 {
			if err := r.accept(ctx, b, count, unit); err != nil {
				writeStatus(w, enc, http.StatusServiceUnavailable, codes.Unavailable, err.Error())
				return
			}
		}
		if enc == encJSON {
			w.Header().Set("Content-Type", "application/json")
		} else {
			w.Header().Set("Content-Type", "application/x-protobuf")
		}
		_, _ = w.Write(respBody)
	}
}

// reencode returns the protobuf form to log: the raw body when it already is
// one and nothing was dropped from it.
func reencode(enc encoding, dropped int, raw []byte, marshal func() ([]byte, error)) ([]byte, error) {
	if enc == encProto && dropped == 0 {
		return raw, nil
	}
	return marshal()
}

func marshalResp(enc encoding, p, j func() ([]byte, error)) ([]byte, error) {
	if enc == encJSON {
		return j()
	}
	return p()
}

func futureMsg(n int, what string, skew time.Duration) string {
	return strconv.Itoa(n) + " " + what + " have timestamps more than " + skew.String() + " in the future"
}

// RemoteWriteHandler accepts Prometheus remote-write 1.0 (snappy-compressed
// prompb.WriteRequest), authenticated by project key.
func (r *Receiver) RemoteWriteHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			http.Error(w, "remote write takes POST", http.StatusMethodNotAllowed)
			return
		}
		ctx, err := r.authenticate(req.Context(), keyFromHTTP(req))
		switch {
		case errors.Is(err, ErrBadKey):
			http.Error(w, "unknown or missing project key: send 'Authorization: Bearer KEY'", http.StatusUnauthorized)
			return
		case errors.Is(err, errRateLimited):
			http.Error(w, err.Error(), http.StatusTooManyRequests)
			return
		case err != nil:
			http.Error(w, "cannot check the project key now", http.StatusServiceUnavailable)
			return
		}
		compressed, err := io.ReadAll(http.MaxBytesReader(w, req.Body, int64(r.opts.MaxRequestBytes)))
		if err != nil {
			r.rejected.WithLabelValues(reasonTooLarge).Inc()
			http.Error(w, fmt.Sprintf("read body (limit %d bytes): %v", r.opts.MaxRequestBytes, err), http.StatusRequestEntityTooLarge)
			return
		}
		if n, err := snappy.DecodedLen(compressed); err != nil || n > r.opts.MaxRequestBytes {
			r.rejected.WithLabelValues(reasonMalformed).Inc()
			http.Error(w, "body is not snappy-compressed protobuf within the size limit", http.StatusBadRequest)
			return
		}
		raw, err := snappy.Decode(nil, compressed)
		if err != nil {
			r.rejected.WithLabelValues(reasonMalformed).Inc()
			http.Error(w, "snappy decode: "+err.Error(), http.StatusBadRequest)
			return
		}
		wr := &prompb.WriteRequest{}
		if err := wr.Unmarshal(raw); err != nil {
			r.rejected.WithLabelValues(reasonMalformed).Inc()
			http.Error(w, "decode remote write request: "+err.Error(), http.StatusBadRequest)
			return
		}
		limitMs := time.Now().Add(r.opts.MaxFutureSkew).UnixMilli()
		samples, dropped := 0, 0
		for i := range wr.Timeseries {
			ts := &wr.Timeseries[i]
			kept := ts.Samples[:0]
			for _, s := range ts.Samples {
				if s.Timestamp > limitMs {
					dropped++
					continue
				}
				kept = append(kept, s)
			}
			ts.Samples = kept
			samples += len(kept)
		}
		if dropped > 0 {
			r.rejected.WithLabelValues(reasonFuture).Add(float64(dropped))
			raw, _ = wr.Marshal()
		}
		p, _ := ProjectFrom(ctx)
		if samples > 0 {
			if err := r.accept(ctx, &ingest.Batch{Kind: ingest.KindRemoteWrite, Project: p.ID, Body: raw, RemoteWrite: wr}, samples, "sample"); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		if dropped > 0 {
			// Remote-write senders retry 5xx but not 4xx: the good samples are
			// kept, and the answer says what was dropped.
			http.Error(w, futureMsg(dropped, "samples", r.opts.MaxFutureSkew), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
