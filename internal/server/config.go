package server

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the server's configuration. Every key can be set in the YAML
// file given with --config and overridden by the flag of the same name.
type Config struct {
	DataDir      string    `yaml:"data_dir"`
	HTTPAddr     string    `yaml:"http_addr"`
	OTLPGRPCAddr string    `yaml:"otlp_grpc_addr"`
	OTLPHTTPAddr string    `yaml:"otlp_http_addr"`
	TLS          TLSConfig `yaml:"tls"`
	Retention    struct {
		Metrics Duration `yaml:"metrics"`
		Events  Duration `yaml:"events"`
	} `yaml:"retention"`
	Ingest struct {
		MaxRequestBytes int      `yaml:"max_request_bytes"`
		RateLimit       float64  `yaml:"rate_limit"` // requests/s per project
		RateBurst       int      `yaml:"rate_burst"`
		MaxFutureSkew   Duration `yaml:"max_future_skew"`
		WALSync         string   `yaml:"wal_sync"` // interval (default) or always
	} `yaml:"ingest"`
	Query struct {
		Timeout    Duration `yaml:"timeout"`
		MaxSamples int      `yaml:"max_samples"`
	} `yaml:"query"`
	Events struct {
		MaxMemoryBytes int64 `yaml:"max_memory_bytes"`
	} `yaml:"events"`
	Alerts struct {
		// Interval is how often every alert rule is evaluated.
		Interval Duration `yaml:"interval"`
		// BaseURL is the UI's address as users reach it, for links in
		// notifications (e.g. https://osprey.example.com).
		BaseURL string `yaml:"base_url"`
	} `yaml:"alerts"`
	APM struct {
		// StatWindow is the window of the APM statistics (per
		// transaction, SQL, external call, ...).
		StatWindow Duration `yaml:"stat_window"`
	} `yaml:"apm"`
	LogLevel string `yaml:"log_level"`
}

// TLSConfig turns on TLS for every listener when both files are set.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

func (t TLSConfig) Enabled() bool { return t.CertFile != "" && t.KeyFile != "" }

// Duration reads "15d", "36h", "10m" in YAML and flags.
type Duration time.Duration

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func (d *Duration) String() string { return time.Duration(*d).String() }
func (d *Duration) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// parseDuration extends time.ParseDuration with days ("15d"), the unit
// retention is usually thought in.
func parseDuration(s string) (time.Duration, error) {
	if n := len(s); n > 1 && s[n-1] == 'd' {
		var days float64
		if _, err := fmt.Sscanf(s[:n-1], "%g", &days); err != nil {
			return 0, fmt.Errorf("duration %q: %w", s, err)
		}
		return time.Duration(days * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: %w", s, err)
	}
	return d, nil
}

// DefaultConfig is what a bare `osprey server` runs with.
func DefaultConfig() Config {
	var c Config
	c.DataDir = "./data"
	c.HTTPAddr = ":8800"
	c.OTLPGRPCAddr = ":4317"
	c.OTLPHTTPAddr = ":4318"
	c.Retention.Metrics = Duration(15 * 24 * time.Hour)
	c.Retention.Events = Duration(7 * 24 * time.Hour)
	c.Ingest.MaxRequestBytes = 16 << 20
	c.Ingest.RateLimit = 5000
	c.Ingest.RateBurst = 10000
	c.Ingest.MaxFutureSkew = Duration(10 * time.Minute)
	c.Ingest.WALSync = "interval"
	c.Query.Timeout = Duration(30 * time.Second)
	c.Query.MaxSamples = 50_000_000
	c.Events.MaxMemoryBytes = 512 << 20
	c.Alerts.Interval = Duration(15 * time.Second)
	c.APM.StatWindow = Duration(5 * time.Minute)
	c.LogLevel = "info"
	return c
}

// BindFlags registers the config's flags on fs. Call LoadFile first so that
// flags given on the command line override the file.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for all server data")
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "UI, query API and remote-write listen address")
	fs.StringVar(&c.OTLPGRPCAddr, "otlp-grpc-addr", c.OTLPGRPCAddr, "OTLP gRPC and agent protocol listen address")
	fs.StringVar(&c.OTLPHTTPAddr, "otlp-http-addr", c.OTLPHTTPAddr, "OTLP HTTP listen address")
	fs.StringVar(&c.TLS.CertFile, "tls-cert", c.TLS.CertFile, "TLS certificate file (enables TLS on every listener)")
	fs.StringVar(&c.TLS.KeyFile, "tls-key", c.TLS.KeyFile, "TLS key file")
	fs.Var(&c.Retention.Metrics, "retention-metrics", "how long metrics are kept (e.g. 15d)")
	fs.Var(&c.Retention.Events, "retention-events", "how long traces, logs and snapshots are kept (e.g. 7d)")
	fs.IntVar(&c.Ingest.MaxRequestBytes, "max-request-bytes", c.Ingest.MaxRequestBytes, "largest accepted ingest request")
	fs.Float64Var(&c.Ingest.RateLimit, "rate-limit", c.Ingest.RateLimit, "ingest requests per second per project (0 = unlimited)")
	fs.StringVar(&c.Ingest.WALSync, "wal-sync", c.Ingest.WALSync, "ingest log fsync: interval (kill -9 safe, power loss may lose ~1s) or always")
	fs.Var(&c.Query.Timeout, "query-timeout", "longest a query may run")
	fs.Var(&c.Alerts.Interval, "alert-interval", "how often alert rules are evaluated")
	fs.StringVar(&c.Alerts.BaseURL, "base-url", c.Alerts.BaseURL, "the UI's address as users reach it, for links in notifications")
	fs.Var(&c.APM.StatWindow, "apm-stat-window", "window of the APM statistics (per transaction, SQL, call, error, client)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
}

// LoadFile reads a YAML config file over c. A missing path is not an error
// when it is empty.
func (c *Config) LoadFile(path string) error {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config %s: %w", path, err)
	}
	if err := yaml.Unmarshal(b, c); err != nil {
		return fmt.Errorf("parse config %s: %w", path, err)
	}
	return nil
}

func (c *Config) validate() error {
	if c.DataDir == "" {
		return errors.New("data_dir is empty")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("tls: set both cert_file and key_file, or neither")
	}
	if c.Ingest.WALSync != "interval" && c.Ingest.WALSync != "always" {
		return fmt.Errorf("ingest.wal_sync %q: want interval or always", c.Ingest.WALSync)
	}
	if sw := time.Duration(c.APM.StatWindow); sw < 5*time.Second || sw > time.Hour || sw%(5*time.Second) != 0 {
		return fmt.Errorf("apm.stat_window %s: want a multiple of 5s between 5s and 1h", sw)
	}
	return nil
}
