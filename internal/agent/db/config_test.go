package db

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func fakeEnv(m map[string]string) lookupEnv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestConfigValidation(t *testing.T) {
	env := fakeEnv(map[string]string{"PG_DSN": "postgres://mon@db1:5432/app", "PW": "s3cret", "EMPTY": ""})
	mysqlDSN := "mon:pw@tcp(db2:3306)/"
	tests := []struct {
		name    string
		inst    []InstanceConfig
		wantErr string
	}{
		{"minimal mysql", []InstanceConfig{{Name: "a", Engine: "mysql", DSN: mysqlDSN}}, ""},
		{"mariadb alias", []InstanceConfig{{Name: "a", Engine: "MariaDB", DSN: mysqlDSN}}, ""},
		{"dsn from env", []InstanceConfig{{Name: "a", Engine: "postgres", DSNEnv: "PG_DSN", PasswordEnv: "PW"}}, ""},
		{"missing name", []InstanceConfig{{Engine: "mysql", DSN: mysqlDSN}}, "name is required"},
		{"duplicate name", []InstanceConfig{{Name: "a", Engine: "mysql", DSN: mysqlDSN}, {Name: "a", Engine: "mysql", DSN: mysqlDSN}}, `duplicate name "a"`},
		{"unknown engine", []InstanceConfig{{Name: "a", Engine: "oracle", DSN: "x"}}, `unknown engine "oracle"`},
		{"no dsn", []InstanceConfig{{Name: "a", Engine: "mysql"}}, "no dsn"},
		{"both dsn and env", []InstanceConfig{{Name: "a", Engine: "mysql", DSN: mysqlDSN, DSNEnv: "PG_DSN"}}, "not both"},
		{"dsn env unset", []InstanceConfig{{Name: "a", Engine: "mysql", DSNEnv: "NOPE"}}, "dsn_env NOPE is unset or empty"},
		{"password env empty", []InstanceConfig{{Name: "a", Engine: "mysql", DSN: mysqlDSN, PasswordEnv: "EMPTY"}}, "password_env EMPTY"},
		{"short interval", []InstanceConfig{{Name: "a", Engine: "mysql", DSN: mysqlDSN, Interval: time.Millisecond}}, "below 1s"},
		{"statements shorter than interval", []InstanceConfig{{Name: "a", Engine: "mysql", DSN: mysqlDSN, Interval: 10 * time.Second, StatementsInterval: time.Second}}, "statements_interval"},
		{"negative max sessions", []InstanceConfig{{Name: "a", Engine: "mysql", DSN: mysqlDSN, MaxSessions: -1}}, "max_sessions"},
		{"bad mysql dsn", []InstanceConfig{{Name: "a", Engine: "mysql", DSN: "mon:pw@tcp(db2:3306)"}}, "parse mysql dsn"},
		{"bad postgres dsn", []InstanceConfig{{Name: "a", Engine: "postgresql", DSN: "postgres://mon:pw@db1:notaport/app"}}, "parse postgresql dsn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newModule(Config{Enabled: true, Instances: tt.inst}, "agent", "v", nil, env)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("no error, want %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	off := false
	all, err := Config{Instances: []InstanceConfig{
		{Name: " a ", Engine: "mysql", DSN: "u@tcp(h:1)/"},
		{Name: "b", Engine: "pg", DSN: "postgres://u@h/d", MaskLiterals: &off, MaxSessions: 7, Group: "g"},
	}}.validate(fakeEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	a, b := all[0], all[1]
	if a.name != "a" || a.group != DefaultGroup || a.interval != DefaultInterval || a.queryTimeout != DefaultQueryTimeout ||
		a.statementsInterval != DefaultStatementsInterval || !a.mask || a.maxSessions != DefaultMaxSessions ||
		a.topStatements != DefaultTopStatements || a.engine != EngineMySQL {
		t.Errorf("defaults not applied: %+v", a)
	}
	if b.mask || b.maxSessions != 7 || b.group != "g" || b.engine != EnginePostgreSQL {
		t.Errorf("settings not kept: %+v", b)
	}
}

func TestDisabledConfigIsNotValidated(t *testing.T) {
	m, err := New(Config{Instances: []InstanceConfig{{Engine: "nope"}}}, "", "", nil)
	if err != nil || len(m.instances) != 0 {
		t.Fatalf("disabled module: %v, %d instances", err, len(m.instances))
	}
}

// Errors and identity must not carry the password, wherever it came from.
func TestSecretsStayOutOfErrors(t *testing.T) {
	env := fakeEnv(map[string]string{"PW": "envS3cret"})
	for _, ic := range []InstanceConfig{
		{Name: "a", Engine: "mysql", DSN: "mon:dsnS3cret@tcp(db:3306)"},
		{Name: "b", Engine: "postgresql", DSN: "postgres://mon:dsnS3cret@db:notaport/app"},
		{Name: "c", Engine: "postgresql", DSN: "host=db port=notaport user=mon password=dsnS3cret"},
	} {
		_, err := newModule(Config{Enabled: true, Instances: []InstanceConfig{ic}}, "agent", "v", nil, env)
		if err == nil {
			t.Fatalf("%s: no error", ic.Name)
		}
		if strings.Contains(err.Error(), "S3cret") {
			t.Errorf("%s: error leaks the password: %v", ic.Name, err)
		}
	}
	r := newRedactor("postgres://u:pw1234@h/d", "pw1234")
	if got := r.String(`connect "postgres://u:pw1234@h/d" failed; password pw1234`); strings.Contains(got, "pw1234") {
		t.Errorf("redactor left the secret: %s", got)
	}
}

func TestInstanceID(t *testing.T) {
	sum := sha256.Sum256([]byte("agent-1\x00orders-db"))
	want := hex.EncodeToString(sum[:16])
	if got := InstanceID("agent-1", "orders-db"); got != want || len(got) != 32 {
		t.Fatalf("InstanceID = %s, want %s", got, want)
	}
	if InstanceID("agent-1", "a") == InstanceID("agent-2", "a") {
		t.Fatal("ids of different agents collide")
	}
}

func TestNextTick(t *testing.T) {
	base := time.Date(2026, 1, 1, 12, 0, 3, 0, time.UTC)
	iv := 5 * time.Second
	tests := []struct {
		fails int
		want  time.Time
	}{
		{0, base.Truncate(iv).Add(iv)},                     // 12:00:05
		{1, time.Date(2026, 1, 1, 12, 0, 10, 0, time.UTC)}, // +10s, aligned
		{2, time.Date(2026, 1, 1, 12, 0, 20, 0, time.UTC)},
		{3, time.Date(2026, 1, 1, 12, 0, 40, 0, time.UTC)},
		{4, time.Date(2026, 1, 1, 12, 1, 0, 0, time.UTC)}, // capped at a minute
		{9, time.Date(2026, 1, 1, 12, 1, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got := nextTick(base, iv, tt.fails)
		if !got.Equal(tt.want) {
			t.Errorf("fails=%d: next %s, want %s", tt.fails, got.Format(time.TimeOnly), tt.want.Format(time.TimeOnly))
		}
		if !got.After(base) {
			t.Errorf("fails=%d: next %s not after now", tt.fails, got)
		}
	}
	// An interval above the cap is never shortened by back-off.
	if got := nextTick(base, 2*time.Minute, 3); got.Sub(base) > 2*time.Minute {
		t.Errorf("long interval back-off: %s", got.Sub(base))
	}
}
