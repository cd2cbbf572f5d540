package schemagen

import (
	"context"
	"database/sql"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/tenant"
)

// grantTempSQL gives the restricted role TEMPORARY in the current database,
// as in a database the migration could not revoke it in.
const grantTempSQL = `DO $$ BEGIN EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO mtdb_app', current_database()); END $$`

// TestTempShadowingAttack: anything that runs SQL as the restricted role on
// a pooled connection (a future raw query, an extension, a compromised
// dependency) must not be able to plant a temporary table that later
// transactions of other tenants read from and write to. The migrations
// revoke TEMPORARY from the role (it comes through PUBLIC); where it is
// granted anyway, the settings statement pins the transaction's
// search_path with pg_temp last, so unqualified names stay on the
// application's tables.
func TestTempShadowingAttack(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	// The restricted role cannot create temporary objects.
	for _, stmt := range []string{
		`CREATE TEMP TABLE users (id uuid, tenant_id uuid, email varchar)`,
		`CREATE TABLE pg_temp.projects (id uuid)`,
		`CREATE TEMP VIEW tenants AS SELECT 1 AS id`,
	} {
		err := f.as(t, f.b.String(), "tenant_admin", func(tx *sql.Tx) error {
			_, err := tx.Exec(stmt)
			return err
		})
		if got := sqlState(err); got != "42501" {
			t.Errorf("%s as the restricted role: SQLSTATE %q (%v), want 42501 (insufficient_privilege)", stmt, got, err)
		}
	}

	// Where TEMPORARY is granted anyway, the pinned search_path still
	// protects: an attacker in tenant B plants a users table on the
	// connection...
	f.exec(t, grantTempSQL)
	conn, err := f.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	inTx := func(id uuid.UUID, fn func(tx *sql.Tx) error) {
		t.Helper()
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		tc := tenant.Context{TenantID: id, Role: tenant.RoleTenantAdmin}
		q, args := tenant.SettingsStatement(tc, 0)
		if settingsMode() == "set_local" {
			set, enter, eargs, err := tenant.LocalSettings(tc, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, set); err != nil {
				t.Fatal(err)
			}
			q, args = enter, eargs
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
		if err := fn(tx); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	inTx(f.b, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`CREATE TEMP TABLE users (id uuid, tenant_id uuid, email varchar, display_name varchar,
			role varchar, created_at timestamptz, updated_at timestamptz)`); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO pg_temp.users (id, tenant_id, email) VALUES ($1, $2, 'planted@evil.example')`, uuid.New(), f.a)
		return err
	})
	// ...and a later transaction of tenant A on the same connection reads
	// and writes the real table.
	newUser := uuid.New()
	inTx(f.a, func(tx *sql.Tx) error {
		got, err := emails(tx)
		if err != nil {
			return err
		}
		if want := []string{"a1@example.com", "a@example.com"}; !slices.Equal(got, want) {
			t.Errorf("tenant A reads users %v through a planted temporary table, want %v", got, want)
		}
		_, err = tx.Exec(`INSERT INTO users (id, tenant_id, email, display_name, role, created_at, updated_at)
			VALUES ($1, $2, 'new@example.com', '', 'member', now(), now())`, newUser, f.a)
		return err
	})
	var n int
	if err := f.db.QueryRowContext(ctx, `SELECT count(*) FROM public.users WHERE id = $1`, newUser).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("tenant A's insert did not reach public.users (it went to the planted table)")
	}
}
