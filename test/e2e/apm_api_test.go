package e2e

import (
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The answers of /api/v1/apm (docs/apm.md), as the test reads them.

// flexBool reads true/false, 1/0 and "1"/"0".
type flexBool bool

func (b *flexBool) UnmarshalJSON(d []byte) error {
	switch strings.Trim(string(d), `"`) {
	case "true", "1":
		*b = true
	case "false", "0", "", "null":
		*b = false
	default:
		return fmt.Errorf("not a boolean: %s", d)
	}
	return nil
}

// flexNum reads a number, a number in a string, or null (0).
type flexNum float64

func (n *flexNum) UnmarshalJSON(d []byte) error {
	s := strings.Trim(string(d), `"`)
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	*n = flexNum(f)
	return err
}

type apmTx struct {
	Time        string   `json:"time"`
	StartUnixMs flexNum  `json:"start_unix_ms"`
	TraceID     string   `json:"trace_id"`
	SpanID      string   `json:"span_id"`
	App         string   `json:"app"`
	Instance    string   `json:"instance"`
	Name        string   `json:"name"`
	ElapsedMs   flexNum  `json:"elapsed_ms"`
	Error       flexBool `json:"error"`
	Status      flexNum  `json:"status"`
	Method      string   `json:"method"`
	ClientIP    string   `json:"client_ip"`
	User        string   `json:"user"`
	SQLCount    flexNum  `json:"sql_count"`
	SQLMs       flexNum  `json:"sql_ms"`
	HTTPCCount  flexNum  `json:"httpc_count"`
	HTTPCMs     flexNum  `json:"httpc_ms"`
}

func (x apmTx) String() string {
	return fmt.Sprintf("{%s %s %s %.0fms err=%v status=%v ip=%q user=%q sql=%v httpc=%v span=%s}", x.App, x.Instance, x.Name,
		float64(x.ElapsedMs), bool(x.Error), x.Status, x.ClientIP, x.User, x.SQLCount, x.HTTPCCount, x.SpanID)
}

type apmStep struct {
	SpanID        string         `json:"span_id"`
	ParentSpanID  string         `json:"parent_span_id"`
	Depth         flexNum        `json:"depth"`
	OffsetMs      flexNum        `json:"offset_ms"`
	ElapsedMs     flexNum        `json:"elapsed_ms"`
	Type          string         `json:"type"`
	Text          string         `json:"text"`
	Name          string         `json:"name"`
	Rows          flexNum        `json:"rows"`
	Error         flexBool       `json:"error"`
	StatusMessage string         `json:"status_message"`
	Attributes    map[string]any `json:"attributes"`
}

type apmProfile struct {
	Tx struct {
		apmTx
		UserAgent    string  `json:"user_agent"`
		CPUMs        flexNum `json:"cpu_ms"`
		AllocBytes   flexNum `json:"alloc_bytes"`
		StepsDropped flexNum `json:"steps_dropped"`
	} `json:"tx"`
	Steps   []apmStep  `json:"steps"`
	Stacks  []apmStack `json:"stacks"`
	Events  []apmEvent `json:"events"`
	Partial bool       `json:"partial"`
}

type apmStack struct {
	OffsetMs flexNum `json:"offset_ms"`
	Hash     string  `json:"hash"`
	Text     string  `json:"text"`
	StepType string  `json:"step_type"`
	StepText string  `json:"step_text"`
}

type apmEvent struct {
	OffsetMs   flexNum        `json:"offset_ms"`
	Name       string         `json:"name"`
	Attributes map[string]any `json:"attributes"`
}

func (p apmProfile) stepsString() string {
	var b strings.Builder
	if p.Partial {
		b.WriteString(" (partial)")
	}
	for _, s := range p.Steps {
		fmt.Fprintf(&b, "\n  +%.1fms %.1fms %s %q (%s)", float64(s.OffsetMs), float64(s.ElapsedMs), s.Type, s.Text, s.Name)
	}
	return b.String()
}

type apmHitmap struct {
	Step   flexNum     `json:"step"`
	Bounds []float64   `json:"bounds"`
	Start  flexNum     `json:"start"`
	End    flexNum     `json:"end"`
	Cells  [][]flexNum `json:"cells"` // [t_ms, bucket, ok, err]
	Total  flexNum     `json:"total"`
	Errors flexNum     `json:"errors"`
}

type apmStepRef struct {
	Type      string  `json:"type"`
	Text      string  `json:"text"`
	ElapsedMs flexNum `json:"elapsed_ms"`
}

type apmActiveTx struct {
	App        string      `json:"app"`
	Instance   string      `json:"instance"`
	AgentID    string      `json:"agent_id"`
	TraceID    string      `json:"trace_id"`
	SpanID     string      `json:"span_id"`
	Name       string      `json:"name"`
	ElapsedMs  flexNum     `json:"elapsed_ms"`
	ClientIP   string      `json:"client_ip"`
	SQLCount   flexNum     `json:"sql_count"`
	HTTPCCount flexNum     `json:"httpc_count"`
	Step       *apmStepRef `json:"step"`
	StackHash  string      `json:"stack_hash"`
}

type apmActive struct {
	Transactions []apmActiveTx `json:"transactions"`
	Instances    []struct {
		App      string  `json:"app"`
		Instance string  `json:"instance"`
		Normal   flexNum `json:"normal"`
		Slow     flexNum `json:"slow"`
		VerySlow flexNum `json:"very_slow"`
	} `json:"instances"`
	Bottleneck map[string]flexNum `json:"bottleneck"`
}

type apmStatRow struct {
	Key        string  `json:"key"`
	Count      flexNum `json:"count"`
	Errors     flexNum `json:"errors"`
	SumMs      flexNum `json:"sum_ms"`
	AvgMs      flexNum `json:"avg_ms"`
	MaxMs      flexNum `json:"max_ms"`
	SQLCount   flexNum `json:"sql_count"`
	HTTPCCount flexNum `json:"httpc_count"`
}

type apmStats struct {
	Kind string       `json:"kind"`
	Rows []apmStatRow `json:"rows"`
}

// count sums the rows whose key satisfies match.
func (st apmStats) count(match func(key string) bool) (n, errs int) {
	for _, r := range st.Rows {
		if match(r.Key) {
			n += int(r.Count)
			errs += int(r.Errors)
		}
	}
	return n, errs
}

func (st apmStats) keys() []string {
	var out []string
	for _, r := range st.Rows {
		out = append(out, fmt.Sprintf("%s=%v", r.Key, r.Count))
	}
	return out
}

type apmTraceTx struct {
	App       string      `json:"app"`
	Instance  string      `json:"instance"`
	Name      string      `json:"name"`
	SpanID    string      `json:"span_id"`
	ParentTx  string      `json:"parent_tx"`
	Via       *apmStepRef `json:"via"`
	OffsetMs  flexNum     `json:"offset_ms"`
	ElapsedMs flexNum     `json:"elapsed_ms"`
	Error     flexBool    `json:"error"`
	Depth     flexNum     `json:"depth"`
}

type apmTrace struct {
	TraceID      string       `json:"trace_id"`
	ElapsedMs    flexNum      `json:"elapsed_ms"`
	Transactions []apmTraceTx `json:"transactions"`
	Partial      bool         `json:"partial"`
}

type apmMap struct {
	Nodes []struct {
		ID    string  `json:"id"`
		Name  string  `json:"name"`
		Kind  string  `json:"kind"`
		Count flexNum `json:"count"`
	} `json:"nodes"`
	Edges []apmEdge `json:"edges"`
}

type apmEdge struct {
	From  string  `json:"from"`
	To    string  `json:"to"`
	Count flexNum `json:"count"`
}

type apmApp struct {
	App       string `json:"app"`
	Instances []struct {
		Instance string   `json:"instance"`
		AgentID  string   `json:"agent_id"`
		Language string   `json:"language"`
		Active   flexBool `json:"active"`
	} `json:"instances"`
}

// apm calls GET /api/v1/apm/<path> as admin.
func (e *apmEnv) apm(path string, params url.Values, out any) error {
	_, err := e.s.api("admin", adminPassword, "", "/api/v1/apm"+path, params, out)
	return err
}

// rangeOf is the query range around the test's load, with filters.
func rangeOf(from time.Time, kv ...string) url.Values {
	v := url.Values{"start": {strconv.FormatInt(from.Add(-time.Minute).Unix(), 10)},
		"end": {strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// apmCSV fetches an endpoint's CSV answer.
func (e *apmEnv) apmCSV(path string, params url.Values) ([][]string, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+e.s.httpAddr+"/api/v1/apm"+path+"?"+params.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth("admin", adminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: %d %s", path, resp.StatusCode, tail(string(body), 300))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		return nil, fmt.Errorf("%s: content type %q, want text/csv", path, ct)
	}
	return csv.NewReader(strings.NewReader(string(body))).ReadAll()
}

// spanLines lists a trace's span rows (GET /api/v1/traces/{id}) ordered by
// start, for failure messages: name, kind, span
// and parent ids, end time, and the APM fields.
func (e *apmEnv) spanLines(traceID string) string {
	var tr struct {
		Spans []map[string]string `json:"spans"`
	}
	if _, err := e.s.api("admin", adminPassword, "", "/api/v1/traces/"+traceID, nil, &tr); err != nil {
		return fmt.Sprintf("(trace %s: %v)", traceID, err)
	}
	var b strings.Builder
	for _, r := range tr.Spans {
		fmt.Fprintf(&b, "\n    %s %q kind=%s span=%s parent=%s end=%s role=%s app=%s instance=%s step=%s %q tx.sql_count=%s tx.httpc_count=%s",
			r["service.name"], r["span.name"], r["span.kind"], r["span_id"], r["parent_span_id"], r["end"],
			r["apm.role"], r["app"], r["instance"], r["step.type"], r["step.text"], r["tx.sql_count"], r["tx.httpc_count"])
	}
	return b.String()
}
