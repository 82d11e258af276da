package apm

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/osprey-monitoring/osprey/internal/wire"
)

// Config configures an Agent. The zero value works: every field has a
// default, most taken from the environment.
type Config struct {
	// Endpoint is the Osprey gRPC listener, host:port; it takes both OTLP
	// traces and the agent protocol. Default: env OSPREY_ENDPOINT, else
	// "localhost:4317".
	Endpoint string
	// Key is the project access key. Default: env OSPREY_KEY.
	Key string
	// App is the application name (resource service.name). Default: env
	// OTEL_SERVICE_NAME, else the executable's name.
	App string
	// Instance names this process. Default: hostname + "-" + pid.
	Instance string
	// Insecure sends plaintext gRPC; TLS (system roots) otherwise.
	// Default: true when env OSPREY_INSECURE is "true" or "1".
	Insecure bool
	// BaseTime: the steps (child spans) of transactions at least this slow
	// are exported; faster ones keep only their summary. Default 500ms.
	BaseTime time.Duration
	// StepLimit bounds the steps kept per transaction; default 1000,
	// at most 1024.
	StepLimit int
	// StatInterval is the statistics window; default 5m.
	StatInterval time.Duration
	// ActiveInterval is how often active transactions and the 5-s
	// counters are sent; default 5s.
	ActiveInterval time.Duration
	// StackInterval is how often the stacks of running transactions are
	// sampled; default 10s.
	StackInterval time.Duration
	// ShowSQLParams sends SQL text as it is; by default literals are
	// replaced with ?.
	ShowSQLParams bool
	// ApdexT is the Apdex threshold; default wire.ApdexT ms.
	ApdexT time.Duration
	// Attributes are extra resource attributes (k8s.namespace.name,
	// k8s.pod.name, ...). They also label the agent's identity, which is
	// how the server files the library's own rollups.
	Attributes map[string]string
	// Logger receives the library's own problems, each kind at most once
	// a minute. Default slog.Default().
	Logger *slog.Logger
}

const (
	defaultEndpoint  = "localhost:4317"
	defaultBaseTime  = 500 * time.Millisecond
	defaultStepLimit = 1000
	maxStepLimit     = 1024
	defaultStat      = 5 * time.Minute
	defaultActive    = 5 * time.Second
	defaultStack     = 10 * time.Second
)

// withDefaults fills what the caller left empty.
func (c Config) withDefaults() (Config, error) {
	if c.Endpoint == "" {
		c.Endpoint = os.Getenv("OSPREY_ENDPOINT")
	}
	if c.Endpoint == "" {
		c.Endpoint = defaultEndpoint
	}
	if c.Key == "" {
		c.Key = os.Getenv("OSPREY_KEY")
	}
	if !c.Insecure {
		if v, err := strconv.ParseBool(os.Getenv("OSPREY_INSECURE")); err == nil {
			c.Insecure = v
		}
	}
	if c.App == "" {
		c.App = os.Getenv("OTEL_SERVICE_NAME")
	}
	if c.App == "" {
		if exe, err := os.Executable(); err == nil {
			c.App = strings.TrimSuffix(filepath.Base(exe), ".exe")
		}
	}
	if c.App == "" {
		c.App = "unknown_service:go"
	}
	if c.Instance == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "localhost"
		}
		c.Instance = host + "-" + strconv.Itoa(os.Getpid())
	}
	if c.BaseTime <= 0 {
		c.BaseTime = defaultBaseTime
	}
	if c.StepLimit <= 0 {
		c.StepLimit = defaultStepLimit
	}
	c.StepLimit = min(c.StepLimit, maxStepLimit)
	if c.StatInterval <= 0 {
		c.StatInterval = defaultStat
	}
	if c.ActiveInterval <= 0 {
		c.ActiveInterval = defaultActive
	}
	if c.StackInterval <= 0 {
		c.StackInterval = defaultStack
	}
	if c.ApdexT <= 0 {
		c.ApdexT = wire.ApdexT * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.StatInterval < c.ActiveInterval {
		return c, fmt.Errorf("apm: StatInterval %s is shorter than ActiveInterval %s", c.StatInterval, c.ActiveInterval)
	}
	return c, nil
}
