// Package urlchecks holds the URL checks a project registers and hands
// each agent the ones it should run (its "region").
package urlchecks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/osprey-monitoring/osprey/internal/meta"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// ObjKind is the metadata object kind of URL checks.
const ObjKind = "url_check"

// Check is a registered URL check.
type Check struct {
	ID              int64             `json:"id"`
	Name            string            `json:"name"`
	URL             string            `json:"url"`
	Method          string            `json:"method"`
	Headers         map[string]string `json:"headers"`
	Body            string            `json:"body"`
	ExpectedStatus  []int             `json:"expectedStatus"` // empty: 200-399
	ExpectedBody    string            `json:"expectedBody"`
	IntervalSeconds int               `json:"intervalSeconds"`
	TimeoutMs       int               `json:"timeoutMs"`
	FollowRedirects bool              `json:"followRedirects"`
	InsecureTLS     bool              `json:"insecureSkipVerify"`
	// Agents run the check; empty means every agent of the project.
	Agents  []string `json:"agents"`
	Enabled bool     `json:"enabled"`
}

// Normalize fills defaults and checks the fields.
func (c *Check) Normalize() error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	c.Name = strings.TrimSpace(c.Name)
	if c.Name == "" {
		bad("name is empty")
	}
	u, err := url.Parse(strings.TrimSpace(c.URL))
	switch {
	case err != nil:
		bad("url: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		bad("url %q: want an http:// or https:// address", c.URL)
	case u.Host == "":
		bad("url %q has no host", c.URL)
	default:
		c.URL = u.String()
	}
	c.Method = strings.ToUpper(strings.TrimSpace(c.Method))
	switch c.Method {
	case "":
		c.Method = http.MethodGet
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
	default:
		bad("method %q is not an HTTP method", c.Method)
	}
	for _, s := range c.ExpectedStatus {
		if s < 100 || s > 599 {
			bad("expected status %d is not an HTTP status", s)
		}
	}
	if c.IntervalSeconds == 0 {
		c.IntervalSeconds = 60
	}
	if c.IntervalSeconds < 5 || c.IntervalSeconds > 86400 {
		bad("interval %ds: want 5 s to a day", c.IntervalSeconds)
	}
	if c.TimeoutMs == 0 {
		c.TimeoutMs = 10000
	}
	if c.TimeoutMs < 100 || c.TimeoutMs > 120000 {
		bad("timeout %d ms: want 100 ms to 2 min", c.TimeoutMs)
	}
	if c.TimeoutMs > c.IntervalSeconds*1000 {
		bad("timeout %d ms is longer than the interval", c.TimeoutMs)
	}
	for k := range c.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			bad("header name %q is not valid", k)
		}
	}
	if c.Headers == nil {
		c.Headers = map[string]string{}
	}
	if c.Agents == nil {
		c.Agents = []string{}
	}
	if c.ExpectedStatus == nil {
		c.ExpectedStatus = []int{}
	}
	return errors.Join(errs...)
}

// Proto is the check as an agent receives it.
func (c *Check) Proto() *agentpb.URLCheck {
	st := make([]int32, len(c.ExpectedStatus))
	for i, s := range c.ExpectedStatus {
		st[i] = int32(s)
	}
	return &agentpb.URLCheck{
		Id: strconv.FormatInt(c.ID, 10), Name: c.Name, Url: c.URL, Method: c.Method, Headers: c.Headers, Body: c.Body,
		ExpectedStatus: st, ExpectedBody: c.ExpectedBody, IntervalSeconds: int32(c.IntervalSeconds),
		TimeoutMs: int32(c.TimeoutMs), FollowRedirects: c.FollowRedirects, InsecureSkipVerify: c.InsecureTLS,
	}
}

// Runs reports whether agentID runs the check.
func (c *Check) Runs(agentID string) bool {
	return c.Enabled && (len(c.Agents) == 0 || slices.Contains(c.Agents, agentID))
}

// List returns a project's checks.
func List(ctx context.Context, m *meta.Store, project int64) ([]Check, error) {
	objs, err := m.Objects(ctx, project, ObjKind)
	if err != nil {
		return nil, err
	}
	out := make([]Check, 0, len(objs))
	for _, o := range objs {
		var c Check
		if err := json.Unmarshal(o.Body, &c); err != nil {
			return nil, fmt.Errorf("url check %d is unreadable: %w", o.ID, err)
		}
		c.ID = o.ID
		out = append(out, c)
	}
	return out, nil
}

// Source answers agents' configuration requests from the metadata store.
type Source struct {
	Meta *meta.Store
}

// AgentConfig returns the checks agentID runs and a version that changes
// when any of the project's checks do.
func (s Source) AgentConfig(ctx context.Context, project int64, agentID string) (string, []*agentpb.URLCheck, error) {
	rev, err := s.Meta.ObjectsRev(ctx, project, ObjKind)
	if err != nil {
		return "", nil, err
	}
	checks, err := List(ctx, s.Meta, project)
	if err != nil {
		return "", nil, err
	}
	var out []*agentpb.URLCheck
	for i := range checks {
		if checks[i].Runs(agentID) {
			out = append(out, checks[i].Proto())
		}
	}
	return strconv.FormatInt(project, 10) + "." + strconv.FormatInt(rev, 10), out, nil
}

// DefaultPollInterval is how often agents ask for their configuration.
const DefaultPollInterval = 30 * time.Second
