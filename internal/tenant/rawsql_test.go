package tenant_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Isolation through raw SQL as the restricted role, without any of our Go
// code in between: the guarantees hold in the database itself.

// asApp runs fn in a transaction of the login role mtdb_tester that entered
// mtdb_app with SET LOCAL ROLE and, unless tenantID is nil, set the tenant.
// The transaction is rolled back; fn's error is returned.
func asApp(t *testing.T, w *world, tenantID uuid.UUID, fn func(ctx context.Context, tx pgx.Tx) error) error {
	t.Helper()
	ctx := context.Background()
	tx, err := w.app.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SET LOCAL ROLE mtdb_app`); err != nil {
		t.Fatal(err)
	}
	if tenantID != uuid.Nil {
		if _, err := tx.Exec(ctx, `SELECT set_config('app.tenant_id', $1, true), set_config('app.role', 'tenant_admin', true)`, tenantID.String()); err != nil {
			t.Fatal(err)
		}
	}
	return fn(ctx, tx)
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// tableCase describes how to attack one tenant-scoped table with raw SQL.
type tableCase struct {
	table, update string
	insert        func(w *world, tenantID uuid.UUID) (string, []any)
	victim        func(w *world, tenantID uuid.UUID) uuid.UUID
}

func tableCases() []tableCase {
	return []tableCase{
		{
			table: "users", update: "display_name = 'pwned'",
			insert: func(w *world, tid uuid.UUID) (string, []any) {
				return `INSERT INTO users (id, tenant_id, email, display_name, role, created_at, updated_at)
					VALUES ($1, $2, 'evil@x.example', '', 'member', now(), now())`, []any{uuid.New(), tid}
			},
			victim: func(w *world, tid uuid.UUID) uuid.UUID { return w.user[tid] },
		},
		{
			table: "projects", update: "name = 'pwned'",
			insert: func(w *world, tid uuid.UUID) (string, []any) {
				return `INSERT INTO projects (id, tenant_id, name, description, owner_id, created_at, updated_at)
					VALUES ($1, $2, 'evil', '', $3, now(), now())`, []any{uuid.New(), tid, w.user[tid]}
			},
			victim: func(w *world, tid uuid.UUID) uuid.UUID { return w.project[tid] },
		},
	}
}

func TestRawSQLAttacks(t *testing.T) {
	w := newWorld(t)
	pairs := []struct {
		name             string
		attacker, victim uuid.UUID
	}{
		{"other organisation", w.B, w.A},
		{"parent to foreign subsidiary", w.B, w.A1},
		{"subsidiary to its parent", w.A1, w.A},
		{"sibling", w.A1, w.A2},
		{"parent to its deleted subsidiary", w.A, w.AD},
	}
	for _, tc := range tableCases() {
		for _, p := range pairs {
			t.Run(tc.table+"/"+p.name, func(t *testing.T) {
				id := tc.victim(w, p.victim)
				check := func(what, query string, args ...any) {
					t.Helper()
					err := asApp(t, w, p.attacker, func(ctx context.Context, tx pgx.Tx) error {
						tag, err := tx.Exec(ctx, query, args...)
						if err == nil && tag.RowsAffected() != 0 {
							t.Errorf("%s touched %d rows", what, tag.RowsAffected())
						}
						return err
					})
					if err != nil {
						t.Errorf("%s: %v", what, err)
					}
				}
				err := asApp(t, w, p.attacker, func(ctx context.Context, tx pgx.Tx) error {
					var n int
					err := tx.QueryRow(ctx, `SELECT count(*) FROM `+tc.table+` WHERE id = $1 OR tenant_id = $2`, id, p.victim).Scan(&n)
					if err == nil && n != 0 {
						t.Errorf("select sees %d victim rows", n)
					}
					return err
				})
				if err != nil {
					t.Errorf("select: %v", err)
				}
				check("update", `UPDATE `+tc.table+` SET `+tc.update+` WHERE id = $1`, id)
				check("delete", `DELETE FROM `+tc.table+` WHERE id = $1`, id)
				// Moving one's own row into the victim tenant fails the WITH CHECK.
				own := tc.victim(w, p.attacker)
				err = asApp(t, w, p.attacker, func(ctx context.Context, tx pgx.Tx) error {
					_, err := tx.Exec(ctx, `UPDATE `+tc.table+` SET tenant_id = $1 WHERE id = $2`, p.victim, own)
					return err
				})
				if code := sqlState(err); code != "42501" && code != "23503" {
					t.Errorf("moving a row into the victim tenant: %v, want an RLS or FK violation", err)
				}
				q, args := tc.insert(w, p.victim)
				err = asApp(t, w, p.attacker, func(ctx context.Context, tx pgx.Tx) error {
					_, err := tx.Exec(ctx, q, args...)
					return err
				})
				if sqlState(err) != "42501" {
					t.Errorf("insert into victim tenant: %v, want 42501", err)
				}
				var unchanged bool
				if err := w.owner.QueryRow(context.Background(),
					`SELECT count(*) = 1 AND bool_and(NOT (row_to_json(x)::text LIKE '%pwned%')) FROM `+tc.table+` x WHERE id = $1`, id).Scan(&unchanged); err != nil || !unchanged {
					t.Errorf("victim row changed or gone (err %v)", err)
				}
			})
		}
	}
}

func TestRawSQLCrossTenantReference(t *testing.T) {
	w := newWorld(t)
	for _, p := range []struct {
		name          string
		actor, victim uuid.UUID
	}{
		{"other organisation's user", w.B, w.A},
		{"own subsidiary's user", w.A, w.A1}, // visible, still another tenant
	} {
		err := asApp(t, w, p.actor, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO projects (id, tenant_id, name, description, owner_id, created_at, updated_at)
				VALUES ($1, $2, 'x', '', $3, now(), now())`, uuid.New(), p.actor, w.user[p.victim])
			return err
		})
		if sqlState(err) != "23503" {
			t.Errorf("%s: project owned by another tenant's user: %v, want FK violation 23503", p.name, err)
		}
	}
	// Control: the same insert with one's own user works.
	err := asApp(t, w, w.B, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO projects (id, tenant_id, name, description, owner_id, created_at, updated_at)
			VALUES ($1, $2, 'x', '', $3, now(), now())`, uuid.New(), w.B, w.user[w.B])
		return err
	})
	if err != nil {
		t.Fatalf("own project: %v", err)
	}
}

func TestRawSQLNoTenant(t *testing.T) {
	w := newWorld(t)
	for _, tc := range tableCases() {
		// Fresh connection state (setting never defined) and after use ('').
		for _, setEmpty := range []bool{false, true} {
			err := asApp(t, w, uuid.Nil, func(ctx context.Context, tx pgx.Tx) error {
				if setEmpty {
					if _, err := tx.Exec(ctx, `SELECT set_config('app.tenant_id', '', true)`); err != nil {
						return err
					}
				}
				var n int
				if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+tc.table).Scan(&n); err != nil {
					return err
				}
				if n != 0 {
					t.Errorf("%s without tenant: %d rows visible", tc.table, n)
				}
				tag, err := tx.Exec(ctx, `UPDATE `+tc.table+` SET `+tc.update)
				if err != nil || tag.RowsAffected() != 0 {
					t.Errorf("%s update without tenant: %v rows, err %v", tc.table, tag.RowsAffected(), err)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%s without tenant: %v", tc.table, err)
			}
			q, args := tc.insert(w, w.A)
			err = asApp(t, w, uuid.Nil, func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, q, args...)
				return err
			})
			if sqlState(err) != "42501" {
				t.Errorf("%s insert without tenant: %v, want 42501", tc.table, err)
			}
		}
	}
}

func TestRawSQLVisibility(t *testing.T) {
	w := newWorld(t)
	for _, tc := range tableCases() {
		for _, actor := range w.live() {
			err := asApp(t, w, actor, func(ctx context.Context, tx pgx.Tx) error {
				rows, err := tx.Query(ctx, `SELECT tenant_id FROM `+tc.table)
				if err != nil {
					return err
				}
				ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
				if err != nil {
					return err
				}
				got := map[uuid.UUID]bool{}
				for _, id := range ids {
					got[id] = true
				}
				want := w.visible(actor)
				if len(ids) != len(want) {
					t.Errorf("%s as %s: %d rows, want %d", tc.table, actor, len(ids), len(want))
				}
				assertSameSet(t, tc.table+" tenants", got, want)
				return nil
			})
			if err != nil {
				t.Fatalf("%s as %s: %v", tc.table, actor, err)
			}
		}
	}
}
