package agent

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

const idFile = "agent-id"

// KindHost is the agent kind of the host agent.
const KindHost = "host"

// loadOrCreateID returns the agent id kept in dir, creating it once. The
// id must survive restarts and upgrades so the server sees the same agent.
func loadOrCreateID(dir string) (string, error) {
	path := filepath.Join(dir, idFile)
	b, err := os.ReadFile(path)
	if err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read agent id %s: %w", path, err)
	}
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("generate agent id: %w", err)
	}
	r[6] = r[6]&0x0f | 0x40 // UUID version 4
	r[8] = r[8]&0x3f | 0x80 // RFC 4122 variant
	id := fmt.Sprintf("%x-%x-%x-%x-%x", r[0:4], r[4:6], r[6:8], r[8:10], r[10:16])
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o640); err != nil {
		return "", fmt.Errorf("write agent id %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("save agent id %s: %w", path, err)
	}
	return id, nil
}

func identity(cfg *Config, id string) *agentpb.AgentIdentity {
	return &agentpb.AgentIdentity{
		Id:      id,
		Name:    cfg.Name,
		Group:   cfg.Group,
		Kind:    KindHost,
		Version: cfg.Version,
		Labels:  cfg.Labels,
	}
}

// putResource stamps the identity on OTLP data. The server decides tenancy
// from the key; these only say which agent of the project reported.
func putResource(attrs pcommon.Map, ident *agentpb.AgentIdentity) {
	attrs.PutStr(wire.AttrAgentID, ident.Id)
	attrs.PutStr(wire.AttrAgentName, ident.Name)
	attrs.PutStr(wire.AttrAgentGroup, ident.Group)
	attrs.PutStr(wire.AttrAgentKind, ident.Kind)
	attrs.PutStr(wire.AttrHostName, ident.Name)
	attrs.PutStr(wire.AttrServiceName, "osprey-agent")
	attrs.PutStr(wire.AttrServiceInstanceID, ident.Id)
	attrs.PutStr("service.version", ident.Version)
}
