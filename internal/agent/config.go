package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/osprey-monitoring/osprey/internal/agent/db"
	"github.com/osprey-monitoring/osprey/internal/agent/host"
	"github.com/osprey-monitoring/osprey/internal/agent/logtail"
	"github.com/osprey-monitoring/osprey/internal/agent/urlcheck"
)

// DefaultVersion is reported when the embedding binary sets no version.
const DefaultVersion = "dev"

// EnvKey names the environment variable that may carry the access key, so
// it need not sit in a file or on a command line.
const EnvKey = "OSPREY_KEY"

// Config is the agent configuration: the YAML file, with flags laid over it
// by cmd/osprey-agent, or built in code by `osprey up`.
type Config struct {
	// Server is the Osprey server's OTLP gRPC address, HOST:PORT.
	Server string `yaml:"server"`
	// Key is the project access key, sent as "authorization: Bearer KEY".
	Key string `yaml:"key"`
	// Name is the agent's display name (default: the hostname).
	Name string `yaml:"name"`
	// Group is the server group the agent belongs to.
	Group string `yaml:"group"`
	// Labels are free-form key/values added to the agent identity.
	Labels map[string]string `yaml:"labels"`
	// StateDir holds the agent id and the spool.
	StateDir string `yaml:"state_dir"`
	// Interval is the collection cycle.
	Interval time.Duration `yaml:"interval"`
	// InventoryInterval is how often the inventory snapshot is resent.
	InventoryInterval time.Duration `yaml:"inventory_interval"`
	// Compression of gRPC calls: "" (none) or "gzip".
	Compression string      `yaml:"compression"`
	TLS         TLSConfig   `yaml:"tls"`
	Spool       SpoolConfig `yaml:"spool"`
	Modules     Modules     `yaml:"modules"`
	// LogLevel is debug, info, warn or error (used by cmd/osprey-agent).
	LogLevel string `yaml:"log_level"`

	// Version is the agent version reported to the server; set by the
	// embedding binary, not the file.
	Version string `yaml:"-"`
}

// TLSConfig secures the connection to the server.
type TLSConfig struct {
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle to trust instead of the system roots.
	CAFile string `yaml:"ca_file"`
	// ServerName overrides the name checked in the server certificate.
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SpoolConfig bounds the disk buffer.
type SpoolConfig struct {
	// MaxBytes bounds the spool on disk; accepts "256MiB", "1GB" or bytes.
	MaxBytes ByteSize `yaml:"max_bytes"`
}

// Modules switches the agent's collectors on and off. Later modules (log,
// k8s) sit beside these.
type Modules struct {
	Host host.Config     `yaml:"host"`
	DB   db.Config       `yaml:"db"`
	URL  urlcheck.Config `yaml:"url"`
	Logs logtail.Config  `yaml:"logs"`
}

// DefaultConfig returns the configuration used when nothing is set.
func DefaultConfig() Config {
	return Config{
		Server:            "localhost:4317",
		Group:             "default",
		StateDir:          DefaultStateDir(),
		Interval:          5 * time.Second,
		InventoryInterval: 10 * time.Minute,
		Spool:             SpoolConfig{MaxBytes: 256 << 20},
		Modules:           Modules{Host: host.DefaultConfig(), URL: urlcheck.Config{Enabled: true}},
		LogLevel:          "info",
		Version:           DefaultVersion,
	}
}

// DefaultStateDir is /var/lib/osprey-agent for root (the packaged
// service) and ./data/agent otherwise, so a user trying it out needs no
// privileges and `osprey up` keeps everything under its data directory.
func DefaultStateDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/osprey-agent"
	}
	return "data/agent"
}

// LoadConfig reads a YAML file over DefaultConfig, then takes the key from
// OSPREY_KEY if it is set. An empty path gives the defaults plus the
// environment. Unknown keys are errors, so a typo does not silently keep a
// default.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	if path != "" {
		// An empty file (io.EOF from the decoder) means all defaults.
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("read agent config %s: %w", path, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return cfg, fmt.Errorf("parse agent config %s: %w", path, err)
		}
	}
	if k := os.Getenv(EnvKey); k != "" {
		cfg.Key = k
	}
	return cfg, nil
}

// normalize fills what was left empty and checks the rest.
func (c *Config) normalize() error {
	if c.Server == "" {
		return errors.New("agent config: server address is empty")
	}
	if c.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("agent config: no name and hostname unknown: %w", err)
		}
		c.Name = h
	}
	if c.Group == "" {
		c.Group = "default"
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir()
	}
	if c.Interval <= 0 {
		c.Interval = 5 * time.Second
	}
	if c.InventoryInterval <= 0 {
		c.InventoryInterval = 10 * time.Minute
	}
	if c.Spool.MaxBytes <= 0 {
		c.Spool.MaxBytes = 256 << 20
	}
	if c.Spool.MaxBytes < 1<<20 {
		return fmt.Errorf("agent config: spool.max_bytes %d is below 1MiB", c.Spool.MaxBytes)
	}
	switch c.Compression {
	case "", "none", "gzip":
	default:
		return fmt.Errorf("agent config: compression %q is not none or gzip", c.Compression)
	}
	if c.Version == "" {
		c.Version = DefaultVersion
	}
	return nil
}

// ByteSize is a byte count that YAML may write as "256MiB" or "1GB".
type ByteSize int64

// UnmarshalYAML accepts a plain number or a number with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = ByteSize(v)
	return nil
}

// ParseByteSize parses "1048576", "512KiB", "256MiB", "1GB", "2g".
func ParseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("parse size %q: %w", s, err)
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1 << 10, "kb": 1e3, "kib": 1 << 10,
		"m": 1 << 20, "mb": 1e6, "mib": 1 << 20,
		"g": 1 << 30, "gb": 1e9, "gib": 1 << 30,
	}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("parse size %q: unknown unit %q", s, unit)
	}
	return int64(f * mult), nil
}
