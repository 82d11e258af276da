package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Object is a configuration document of some kind (alert rule,
// notification channel, URL check, maintenance window) owned by a project.
// Its body is the owning package's JSON: meta stores, the owner validates.
type Object struct {
	ID        int64
	Project   int64
	Kind      string
	Body      []byte
	UpdatedAt time.Time
}

// bumpRev advances the revision of a project's objects of one kind, so
// agents polling for their configuration see any change, deletes included.
func bumpRev(ctx context.Context, tx *sql.Tx, project int64, kind string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO object_revs (project_id, kind, rev) VALUES (?, ?, 1)
		ON CONFLICT (project_id, kind) DO UPDATE SET rev = rev + 1`, project, kind)
	return err
}

func (s *Store) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// PutObject stores body as a new object (id 0, returning the new id) or
// replaces object id, which must belong to project and be of kind.
func (s *Store) PutObject(ctx context.Context, project int64, kind string, id int64, body []byte) (int64, error) {
	now := time.Now().UnixMilli()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if id == 0 {
			res, err := tx.ExecContext(ctx, `INSERT INTO objects (project_id, kind, body, updated_at) VALUES (?, ?, ?, ?)`,
				project, kind, string(body), now)
			if err != nil {
				return err
			}
			if id, err = res.LastInsertId(); err != nil {
				return err
			}
		} else {
			res, err := tx.ExecContext(ctx, `UPDATE objects SET body = ?, updated_at = ? WHERE id = ? AND project_id = ? AND kind = ?`,
				string(body), now, id, project, kind)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return ErrNotFound
			}
		}
		return bumpRev(ctx, tx, project, kind)
	})
	if err != nil {
		return 0, fmt.Errorf("store %s %d: %w", kind, id, err)
	}
	return id, nil
}

// DeleteObject removes object id of kind from project.
func (s *Store) DeleteObject(ctx context.Context, project int64, kind string, id int64) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM objects WHERE id = ? AND project_id = ? AND kind = ?`, id, project, kind)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return bumpRev(ctx, tx, project, kind)
	})
	if err != nil {
		return fmt.Errorf("delete %s %d: %w", kind, id, err)
	}
	return nil
}

// Object returns one object of kind in project.
func (s *Store) Object(ctx context.Context, project int64, kind string, id int64) (Object, error) {
	o := Object{ID: id, Project: project, Kind: kind}
	var body string
	var ms int64
	err := s.db.QueryRowContext(ctx, `SELECT body, updated_at FROM objects WHERE id = ? AND project_id = ? AND kind = ?`,
		id, project, kind).Scan(&body, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return o, fmt.Errorf("%s %d: %w", kind, id, ErrNotFound)
	}
	if err != nil {
		return o, fmt.Errorf("read %s %d: %w", kind, id, err)
	}
	o.Body, o.UpdatedAt = []byte(body), time.UnixMilli(ms).UTC()
	return o, nil
}

// Objects lists the objects of kind, oldest first; project 0 means every
// project (the alert engine evaluates them all).
func (s *Store) Objects(ctx context.Context, project int64, kind string) ([]Object, error) {
	q := `SELECT id, project_id, body, updated_at FROM objects WHERE kind = ?`
	args := []any{kind}
	if project != 0 {
		q += ` AND project_id = ?`
		args = append(args, project)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", kind, err)
	}
	defer rows.Close()
	var out []Object
	for rows.Next() {
		o := Object{Kind: kind}
		var body string
		var ms int64
		if err := rows.Scan(&o.ID, &o.Project, &body, &ms); err != nil {
			return nil, fmt.Errorf("list %s: %w", kind, err)
		}
		o.Body, o.UpdatedAt = []byte(body), time.UnixMilli(ms).UTC()
		out = append(out, o)
	}
	return out, rows.Err()
}

// ObjectsRev is a number that changes whenever a project's objects of
// kind change (0 before the first).
func (s *Store) ObjectsRev(ctx context.Context, project int64, kind string) (int64, error) {
	var rev int64
	err := s.db.QueryRowContext(ctx, `SELECT rev FROM object_revs WHERE project_id = ? AND kind = ?`, project, kind).Scan(&rev)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s revision: %w", kind, err)
	}
	return rev, nil
}

// PutAlertState saves the state of one alert instance; a nil body deletes
// it (the alert resolved long enough ago to be forgotten).
func (s *Store) PutAlertState(ctx context.Context, project int64, alertID string, body []byte) error {
	var err error
	if body == nil {
		_, err = s.db.ExecContext(ctx, `DELETE FROM alert_state WHERE project_id = ? AND alert_id = ?`, project, alertID)
	} else {
		_, err = s.db.ExecContext(ctx, `INSERT INTO alert_state (project_id, alert_id, body) VALUES (?, ?, ?)
			ON CONFLICT (project_id, alert_id) DO UPDATE SET body = excluded.body`, project, alertID, string(body))
	}
	if err != nil {
		return fmt.Errorf("save alert state %s: %w", alertID, err)
	}
	return nil
}

// AlertStates loads every saved alert state, by project.
func (s *Store) AlertStates(ctx context.Context) (map[int64][][]byte, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT project_id, body FROM alert_state`)
	if err != nil {
		return nil, fmt.Errorf("load alert states: %w", err)
	}
	defer rows.Close()
	out := map[int64][][]byte{}
	for rows.Next() {
		var p int64
		var b string
		if err := rows.Scan(&p, &b); err != nil {
			return nil, fmt.Errorf("load alert states: %w", err)
		}
		out[p] = append(out[p], []byte(b))
	}
	return out, rows.Err()
}
