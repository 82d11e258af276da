package meta

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestProjectKeysAreHashedAndRotate(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	p, key, err := s.CreateProject(ctx, "web", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, "osp_") || len(key) < 30 {
		t.Fatalf("generated key %q", key)
	}
	var stored string
	if err := s.db.QueryRow(`SELECT key_hash FROM projects WHERE id=?`, p.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, key) || stored != HashSecret(key) {
		t.Fatalf("key stored as %q, want its SHA-256", stored)
	}
	if got, err := s.ProjectByKey(ctx, key); err != nil || got.ID != p.ID {
		t.Fatalf("ProjectByKey: %v %v", got, err)
	}
	newKey, err := s.RotateKey(ctx, "web", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ProjectByKey(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Errorf("old key still valid after rotation: %v", err)
	}
	if got, err := s.ProjectByKey(ctx, newKey); err != nil || got.ID != p.ID {
		t.Errorf("new key: %v %v", got, err)
	}
	if _, _, err := s.CreateProject(ctx, "web", ""); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate project: %v, want ErrExists", err)
	}
}

func TestNamesAndSecretsAreValidated(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	tests := []struct {
		name string
		do   func() error
	}{
		{"empty project name", func() error { _, _, err := s.CreateProject(ctx, "", ""); return err }},
		{"project name with space", func() error { _, _, err := s.CreateProject(ctx, "a b", ""); return err }},
		{"short project key", func() error { _, _, err := s.CreateProject(ctx, "p", "short"); return err }},
		{"short password", func() error { _, err := s.CreateUser(ctx, "u", "1234567", false); return err }},
		{"quote in user name", func() error { _, err := s.CreateUser(ctx, `u"`, "12345678", false); return err }},
		{"unknown role", func() error { return s.SetMember(ctx, 1, 1, "god") }},
	}
	for _, tc := range tests {
		if err := tc.do(); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func TestPasswordsTokensSessionsMemberships(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	u, err := s.CreateUser(ctx, "ana", "correct horse", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckPassword(ctx, "ana", "wrong horse"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := s.CheckPassword(ctx, "nobody", "x"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("unknown user: %v (must look the same as a wrong password)", err)
	}
	if got, err := s.CheckPassword(ctx, "ana", "correct horse"); err != nil || got.ID != u.ID {
		t.Fatalf("right password: %v %v", got, err)
	}

	tok, err := s.CreateToken(ctx, u.ID, "grafana")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.UserByToken(ctx, tok); err != nil || got.Name != "ana" {
		t.Errorf("token: %v %v", got, err)
	}
	if _, err := s.UserByToken(ctx, tok+"x"); err == nil {
		t.Error("a wrong token resolved")
	}

	id, csrf, err := s.CreateSession(ctx, u.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got, c, err := s.Session(ctx, id); err != nil || got.ID != u.ID || c != csrf {
		t.Errorf("session: %v %q %v", got, c, err)
	}
	if err := s.SetPassword(ctx, "ana", "battery staple"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Session(ctx, id); err == nil {
		t.Error("session survived a password change")
	}
	expired, _, _ := s.CreateSession(ctx, u.ID, -time.Second)
	if _, _, err := s.Session(ctx, expired); err == nil {
		t.Error("expired session accepted")
	}

	a, _, _ := s.CreateProject(ctx, "a", "")
	b, _, _ := s.CreateProject(ctx, "b", "")
	if err := s.SetMember(ctx, u.ID, a.ID, RoleViewer); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMember(ctx, u.ID, a.ID, RoleEditor); err != nil { // role change, not a second row
		t.Fatal(err)
	}
	ms, err := s.Memberships(ctx, u)
	if err != nil || len(ms) != 1 || ms[0].Project.Name != "a" || ms[0].Role != RoleEditor {
		t.Errorf("memberships of ana: %+v %v", ms, err)
	}
	admin, _ := s.CreateUser(ctx, "root", "12345678", true)
	ms, _ = s.Memberships(ctx, admin)
	if len(ms) != 2 || ms[1].Project.ID != b.ID {
		t.Errorf("admin memberships: %+v, want every project", ms)
	}
}

func TestAgentStatesPersist(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if err := s.SaveAgents(ctx, 1, map[string][]byte{"a1": []byte(`{"id":"a1"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveAgents(ctx, 1, map[string][]byte{"a1": []byte(`{"id":"a1","name":"x"}`)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadAgents(ctx)
	if err != nil || string(got[1]["a1"]) != `{"id":"a1","name":"x"}` {
		t.Fatalf("LoadAgents: %v %v", got, err)
	}
}
