package db

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// Snapshot types the module sends (to move to internal/wire).
const (
	SnapshotSessions   = "db_sessions"
	SnapshotLocks      = "db_locks"
	SnapshotStatements = "db_statements"
)

// KindDB is the agent kind a monitored instance reports under, so it is
// listed apart from the host the agent runs on.
const KindDB = "db"

// Attribute keys of the OpenTelemetry semantic conventions.
const (
	attrDBSystem      = "db.system"
	attrDBVersion     = "db.version"
	attrServerAddress = "server.address"
	attrServerPort    = "server.port"
)

// InstanceID is the stable id of an instance: the first 16 bytes of
// sha256(agentID + "\x00" + name) in hex. It survives restarts and
// reconfiguration of everything but the agent and the instance name.
func InstanceID(agentID, name string) string {
	sum := sha256.Sum256([]byte(agentID + "\x00" + name))
	return hex.EncodeToString(sum[:16])
}

// resource sets the attributes every ResourceMetrics of an instance
// carries.
func (in *instance) resource(r pcommon.Resource, version string) {
	a := r.Attributes()
	a.EnsureCapacity(8)
	a.PutStr(wire.AttrAgentID, in.id)
	a.PutStr(wire.AttrAgentName, in.s.name)
	a.PutStr(wire.AttrAgentGroup, in.s.group)
	a.PutStr(wire.AttrAgentKind, KindDB)
	a.PutStr(attrDBSystem, in.eng.system)
	a.PutStr(attrServerAddress, in.ep.host)
	if in.ep.port != 0 {
		a.PutInt(attrServerPort, int64(in.ep.port))
	}
	if version != "" {
		a.PutStr(attrDBVersion, version)
	}
}

// identity is the AgentIdentity snapshots of the instance are pushed under.
func (in *instance) identity(version string) *agentpb.AgentIdentity {
	labels := map[string]string{
		attrDBSystem:      in.eng.system,
		attrServerAddress: in.ep.String(),
	}
	if version != "" {
		labels[attrDBVersion] = version
	}
	return &agentpb.AgentIdentity{
		Id:      in.id,
		Name:    in.s.name,
		Group:   in.s.group,
		Kind:    KindDB,
		Version: in.agentVersion,
		Labels:  labels,
	}
}

// redactor removes secrets from text that may quote them (driver errors
// can echo a DSN).
type redactor []string

func newRedactor(secrets ...string) redactor {
	var r redactor
	for _, s := range secrets {
		if s != "" {
			r = append(r, s)
		}
	}
	return r
}

func (r redactor) String(s string) string {
	for _, secret := range r {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}

func (r redactor) err(err error) string {
	if err == nil {
		return ""
	}
	return r.String(err.Error())
}
