// Package meta keeps Osprey's metadata — projects, users, memberships,
// access keys, API tokens and sessions — in SQLite (pure Go, no cgo). Secrets
// are stored hashed: passwords with bcrypt, high-entropy keys and tokens with
// SHA-256 (they are random, so a slow hash would only cost ingest latency).
package meta

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Roles a user can hold in a project, most powerful first.
const (
	RoleOwner  = "owner"
	RoleEditor = "editor"
	RoleViewer = "viewer"
)

// DefaultProject is created on the first start; agents and queries use it
// when they name no project.
const DefaultProject = "default"

var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

// Store is the metadata database.
type Store struct {
	db *sql.DB
}

type Project struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	KeyPrefix string    `json:"keyPrefix"` // first characters of the key, to tell keys apart
	CreatedAt time.Time `json:"createdAt"`
}

type User struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Admin     bool      `json:"admin"`
	CreatedAt time.Time `json:"createdAt"`
}

type Membership struct {
	Project Project `json:"project"`
	Role    string  `json:"role"`
}

const schema = `
CREATE TABLE IF NOT EXISTS projects (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	name TEXT NOT NULL UNIQUE,
	key_hash TEXT NOT NULL UNIQUE,
	key_prefix TEXT NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	name TEXT NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,
	admin INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
	role TEXT NOT NULL,
	PRIMARY KEY (user_id, project_id)
);
CREATE TABLE IF NOT EXISTS api_tokens (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	token_hash TEXT NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
	id_hash TEXT PRIMARY KEY,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	csrf TEXT NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	project_id INTEGER NOT NULL,
	kind TEXT NOT NULL,
	body TEXT NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_by_kind ON objects (kind, project_id);
CREATE TABLE IF NOT EXISTS object_revs (
	project_id INTEGER NOT NULL,
	kind TEXT NOT NULL,
	rev INTEGER NOT NULL,
	PRIMARY KEY (project_id, kind)
);
CREATE TABLE IF NOT EXISTS alert_state (
	project_id INTEGER NOT NULL,
	alert_id TEXT NOT NULL,
	body TEXT NOT NULL,
	PRIMARY KEY (project_id, alert_id)
);
CREATE TABLE IF NOT EXISTS agents (
	project_id INTEGER NOT NULL,
	agent_id TEXT NOT NULL,
	state TEXT NOT NULL,
	PRIMARY KEY (project_id, agent_id)
);
`

// Open opens (creating if needed) the metadata database at path.
func Open(ctx context.Context, path string) (*Store, error) {
	// WAL journal and a busy timeout let the admin CLI write while a server
	// runs on the same file.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open metadata db %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create metadata schema in %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

func (s *Store) Close() error { return s.db.Close() }

// NewSecret returns a random, URL-safe secret with a readable prefix.
func NewSecret(prefix string) string {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // the OS has no randomness: nothing safe to do
	}
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// HashSecret is the stored form of a key, token or session id.
func HashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func keyPrefix(key string) string {
	if len(key) > 8 {
		return key[:8]
	}
	return key
}

// CreateProject creates a project. An empty key gets a random one; the key
// is returned because only its hash is kept.
func (s *Store) CreateProject(ctx context.Context, name, key string) (Project, string, error) {
	if err := validName(name); err != nil {
		return Project{}, "", fmt.Errorf("project name: %w", err)
	}
	if key == "" {
		key = NewSecret("osp_")
	} else if len(key) < 16 {
		return Project{}, "", errors.New("project key: at least 16 characters")
	}
	now := time.Now()
	res, err := s.db.ExecContext(ctx, `INSERT INTO projects(name, key_hash, key_prefix, created_at) VALUES (?,?,?,?)`,
		name, HashSecret(key), keyPrefix(key), now.Unix())
	if err != nil {
		if isUnique(err) {
			return Project{}, "", fmt.Errorf("project %q or its key: %w", name, ErrExists)
		}
		return Project{}, "", fmt.Errorf("insert project %q: %w", name, err)
	}
	id, _ := res.LastInsertId()
	return Project{ID: id, Name: name, KeyPrefix: keyPrefix(key), CreatedAt: time.Unix(now.Unix(), 0)}, key, nil
}

// RotateKey gives the project a new key (random when key is empty); the old
// one stops working at once.
func (s *Store) RotateKey(ctx context.Context, name, key string) (string, error) {
	if key == "" {
		key = NewSecret("osp_")
	}
	res, err := s.db.ExecContext(ctx, `UPDATE projects SET key_hash=?, key_prefix=? WHERE name=?`, HashSecret(key), keyPrefix(key), name)
	if err != nil {
		return "", fmt.Errorf("rotate key of project %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return "", fmt.Errorf("project %q: %w", name, ErrNotFound)
	}
	return key, nil
}

func (s *Store) scanProjects(rows *sql.Rows) ([]Project, error) {
	defer rows.Close()
	var out []Project
	for rows.Next() {
		var p Project
		var created int64
		if err := rows.Scan(&p.ID, &p.Name, &p.KeyPrefix, &created); err != nil {
			return nil, fmt.Errorf("scan project: %w", err)
		}
		p.CreatedAt = time.Unix(created, 0)
		out = append(out, p)
	}
	return out, rows.Err()
}

func (s *Store) Projects(ctx context.Context) ([]Project, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, key_prefix, created_at FROM projects ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return s.scanProjects(rows)
}

func (s *Store) ProjectByName(ctx context.Context, name string) (Project, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, key_prefix, created_at FROM projects WHERE name=?`, name)
	if err != nil {
		return Project{}, fmt.Errorf("find project %q: %w", name, err)
	}
	ps, err := s.scanProjects(rows)
	if err != nil {
		return Project{}, err
	}
	if len(ps) == 0 {
		return Project{}, fmt.Errorf("project %q: %w", name, ErrNotFound)
	}
	return ps[0], nil
}

// ProjectByKey finds the project an access key belongs to.
func (s *Store) ProjectByKey(ctx context.Context, key string) (Project, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, key_prefix, created_at FROM projects WHERE key_hash=?`, HashSecret(key))
	if err != nil {
		return Project{}, fmt.Errorf("find project by key: %w", err)
	}
	ps, err := s.scanProjects(rows)
	if err != nil {
		return Project{}, err
	}
	if len(ps) == 0 {
		return Project{}, fmt.Errorf("project key: %w", ErrNotFound)
	}
	return ps[0], nil
}

// CreateUser adds a user with a bcrypt-hashed password.
func (s *Store) CreateUser(ctx context.Context, name, password string, admin bool) (User, error) {
	if err := validName(name); err != nil {
		return User{}, fmt.Errorf("user name: %w", err)
	}
	hash, err := hashPassword(password)
	if err != nil {
		return User{}, err
	}
	now := time.Now().Unix()
	res, err := s.db.ExecContext(ctx, `INSERT INTO users(name, password_hash, admin, created_at) VALUES (?,?,?,?)`, name, hash, admin, now)
	if err != nil {
		if isUnique(err) {
			return User{}, fmt.Errorf("user %q: %w", name, ErrExists)
		}
		return User{}, fmt.Errorf("insert user %q: %w", name, err)
	}
	id, _ := res.LastInsertId()
	return User{ID: id, Name: name, Admin: admin, CreatedAt: time.Unix(now, 0)}, nil
}

func hashPassword(password string) (string, error) {
	if len(password) < 8 {
		return "", errors.New("password: at least 8 characters")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

func (s *Store) SetPassword(ctx context.Context, name, password string) error {
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `UPDATE users SET password_hash=? WHERE name=?`, hash, name)
	if err != nil {
		return fmt.Errorf("set password of %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("user %q: %w", name, ErrNotFound)
	}
	// A new password ends every open session of the user.
	_, err = s.db.ExecContext(ctx, `DELETE FROM sessions WHERE user_id=(SELECT id FROM users WHERE name=?)`, name)
	return err
}

func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, admin, created_at FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		var created int64
		if err := rows.Scan(&u.ID, &u.Name, &u.Admin, &created); err != nil {
			return nil, fmt.Errorf("scan user: %w", err)
		}
		u.CreatedAt = time.Unix(created, 0)
		out = append(out, u)
	}
	return out, rows.Err()
}

func (s *Store) userWhere(ctx context.Context, where string, arg any) (User, string, error) {
	var u User
	var hash string
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT id, name, admin, created_at, password_hash FROM users WHERE `+where, arg).
		Scan(&u.ID, &u.Name, &u.Admin, &created, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, "", fmt.Errorf("user: %w", ErrNotFound)
	}
	if err != nil {
		return User{}, "", fmt.Errorf("find user: %w", err)
	}
	u.CreatedAt = time.Unix(created, 0)
	return u, hash, nil
}

func (s *Store) UserByName(ctx context.Context, name string) (User, error) {
	u, _, err := s.userWhere(ctx, "name=?", name)
	return u, err
}

// errBadCredentials is returned for an unknown user and a wrong password
// alike, so that a caller cannot probe for user names.
var ErrBadCredentials = errors.New("wrong user name or password")

// dummyHash keeps the time of a login for an unknown user close to that of
// a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("osprey-dummy-password"), bcrypt.MinCost)

// CheckPassword returns the user when name and password match.
func (s *Store) CheckPassword(ctx context.Context, name, password string) (User, error) {
	u, hash, err := s.userWhere(ctx, "name=?", name)
	if errors.Is(err, ErrNotFound) {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, err
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return User{}, ErrBadCredentials
	}
	return u, nil
}

// SetMember gives a user a role in a project (replacing any earlier role).
func (s *Store) SetMember(ctx context.Context, userID, projectID int64, role string) error {
	switch role {
	case RoleOwner, RoleEditor, RoleViewer:
	default:
		return fmt.Errorf("role %q: want owner, editor or viewer", role)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO members(user_id, project_id, role) VALUES (?,?,?)
		ON CONFLICT(user_id, project_id) DO UPDATE SET role=excluded.role`, userID, projectID, role)
	if err != nil {
		return fmt.Errorf("set member %d of project %d: %w", userID, projectID, err)
	}
	return nil
}

// Memberships lists the projects a user can see. Admins see every project
// as owner.
func (s *Store) Memberships(ctx context.Context, u User) ([]Membership, error) {
	if u.Admin {
		ps, err := s.Projects(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]Membership, len(ps))
		for i, p := range ps {
			out[i] = Membership{Project: p, Role: RoleOwner}
		}
		return out, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT p.id, p.name, p.key_prefix, p.created_at, m.role
		FROM members m JOIN projects p ON p.id=m.project_id WHERE m.user_id=? ORDER BY p.name`, u.ID)
	if err != nil {
		return nil, fmt.Errorf("list memberships of %q: %w", u.Name, err)
	}
	defer rows.Close()
	var out []Membership
	for rows.Next() {
		var m Membership
		var created int64
		if err := rows.Scan(&m.Project.ID, &m.Project.Name, &m.Project.KeyPrefix, &created, &m.Role); err != nil {
			return nil, fmt.Errorf("scan membership: %w", err)
		}
		m.Project.CreatedAt = time.Unix(created, 0)
		out = append(out, m)
	}
	return out, rows.Err()
}

// CreateToken issues an API token for a user; the token is returned once.
func (s *Store) CreateToken(ctx context.Context, userID int64, name string) (string, error) {
	tok := NewSecret("ospt_")
	_, err := s.db.ExecContext(ctx, `INSERT INTO api_tokens(user_id, name, token_hash, created_at) VALUES (?,?,?,?)`,
		userID, name, HashSecret(tok), time.Now().Unix())
	if err != nil {
		return "", fmt.Errorf("insert api token: %w", err)
	}
	return tok, nil
}

// UserByToken resolves an API token.
func (s *Store) UserByToken(ctx context.Context, token string) (User, error) {
	u, _, err := s.userWhere(ctx, "id=(SELECT user_id FROM api_tokens WHERE token_hash=?)", HashSecret(token))
	return u, err
}

// CreateSession starts a browser session; it returns the session id (for the
// cookie) and the CSRF token the UI must echo on unsafe requests.
func (s *Store) CreateSession(ctx context.Context, userID int64, ttl time.Duration) (id, csrf string, err error) {
	id, csrf = NewSecret("s_"), NewSecret("c_")
	_, err = s.db.ExecContext(ctx, `INSERT INTO sessions(id_hash, user_id, csrf, expires_at) VALUES (?,?,?,?)`,
		HashSecret(id), userID, csrf, time.Now().Add(ttl).Unix())
	if err != nil {
		return "", "", fmt.Errorf("insert session: %w", err)
	}
	// Expired sessions are swept here so the table stays bounded.
	_, _ = s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < ?`, time.Now().Unix())
	return id, csrf, nil
}

// Session resolves a live session id to its user and CSRF token.
func (s *Store) Session(ctx context.Context, id string) (User, string, error) {
	var uid int64
	var csrf string
	err := s.db.QueryRowContext(ctx, `SELECT user_id, csrf FROM sessions WHERE id_hash=? AND expires_at >= ?`,
		HashSecret(id), time.Now().Unix()).Scan(&uid, &csrf)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, "", fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return User{}, "", fmt.Errorf("find session: %w", err)
	}
	u, _, err := s.userWhere(ctx, "id=?", uid)
	return u, csrf, err
}

func (s *Store) DeleteSession(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash=?`, HashSecret(id))
	return err
}

// SaveAgents stores the latest-state documents of agents so that the agent
// list survives a restart.
func (s *Store) SaveAgents(ctx context.Context, project int64, states map[string][]byte) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save agents: %w", err)
	}
	defer tx.Rollback()
	for id, st := range states {
		if _, err := tx.ExecContext(ctx, `INSERT INTO agents(project_id, agent_id, state) VALUES (?,?,?)
			ON CONFLICT(project_id, agent_id) DO UPDATE SET state=excluded.state`, project, id, string(st)); err != nil {
			return fmt.Errorf("save agent %s: %w", id, err)
		}
	}
	return tx.Commit()
}

// LoadAgents returns every saved agent state by project.
func (s *Store) LoadAgents(ctx context.Context) (map[int64]map[string][]byte, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT project_id, agent_id, state FROM agents`)
	if err != nil {
		return nil, fmt.Errorf("load agents: %w", err)
	}
	defer rows.Close()
	out := map[int64]map[string][]byte{}
	for rows.Next() {
		var p int64
		var id, st string
		if err := rows.Scan(&p, &id, &st); err != nil {
			return nil, fmt.Errorf("scan agent: %w", err)
		}
		if out[p] == nil {
			out[p] = map[string][]byte{}
		}
		out[p][id] = []byte(st)
	}
	return out, rows.Err()
}

// DeleteAgentsBefore forgets agents whose state says they were last seen
// before cutoff; callers pass the ids.
func (s *Store) DeleteAgent(ctx context.Context, project int64, id string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM agents WHERE project_id=? AND agent_id=?`, project, id)
	return err
}

func validName(name string) error {
	if name == "" || len(name) > 64 {
		return errors.New("1 to 64 characters")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '@') {
			return fmt.Errorf("%q: only letters, digits, '-', '_', '.', '@'", name)
		}
	}
	return nil
}

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
