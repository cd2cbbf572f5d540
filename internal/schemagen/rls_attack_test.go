package schemagen

import (
	"context"
	"database/sql"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// fixture is a migrated database with tenants A (parent), A1 (subsidiary of
// A) and B (parent), and one user in each, set up as superuser.
type fixture struct {
	db                   *sql.DB
	a, a1, b             uuid.UUID
	userA, userA1, userB uuid.UUID
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{db: migratedDB(t), a: uuid.New(), a1: uuid.New(), b: uuid.New(),
		userA: uuid.New(), userA1: uuid.New(), userB: uuid.New()}
	f.exec(t, `INSERT INTO tenants (id, name, tenant_type, parent_tenant_id, metadata, created_at, updated_at) VALUES
		($1, 'Acme', 'parent', NULL, '{}', now(), now()),
		($2, 'Acme East', 'subsidiary', $1, '{}', now(), now()),
		($3, 'Beta', 'parent', NULL, '{}', now(), now())`, f.a, f.a1, f.b)
	f.exec(t, `INSERT INTO users (id, tenant_id, email, role, created_at, updated_at) VALUES
		($1, $2, 'a@example.com', 'tenant_admin', now(), now()),
		($3, $4, 'a1@example.com', 'member', now(), now()),
		($5, $6, 'b@example.com', 'tenant_admin', now(), now())`,
		f.userA, f.a, f.userA1, f.a1, f.userB, f.b)
	return f
}

// settingsMode is TEST_SETTINGS_MODE (pgtest.SettingsMode, which this
// package's tests cannot import): make test runs the attack suites in
// both modes.
func settingsMode() string { return os.Getenv("TEST_SETTINGS_MODE") }

func (f *fixture) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := f.db.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatal(err)
	}
}

// as runs fn in a transaction that entered the restricted role with the
// given tenant ("" for none) and role settings, and rolls it back.
func (f *fixture) as(t *testing.T, tenant, role string, fn func(tx *sql.Tx) error) error {
	t.Helper()
	ctx := context.Background()
	tx, err := f.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if settingsMode() == "set_local" {
		// The Citus path (DATABASE_SETTINGS_MODE=set_local): SET LOCAL,
		// values as literals; no arguments, so one simple-protocol message.
		lit := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
		if _, err := tx.ExecContext(ctx, `SET LOCAL ROLE `+appRole+`; SET LOCAL app.tenant_id = `+lit(tenant)+
			`; SET LOCAL app.role = `+lit(role)); err != nil {
			t.Fatal(err)
		}
		return fn(tx)
	}
	if _, err := tx.ExecContext(ctx, `SELECT set_config('role', $1, true),
		set_config('app.tenant_id', $2, true), set_config('app.role', $3, true)`, appRole, tenant, role); err != nil {
		t.Fatal(err)
	}
	return fn(tx)
}

// emails returns the e-mails of the users visible in tx, sorted.
func emails(tx *sql.Tx) ([]string, error) {
	rows, err := tx.Query(`SELECT email FROM users ORDER BY email`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func TestRLSVisibility(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name, tenant string
		want         []string
	}{
		{"parent sees itself and its subsidiary", f.a.String(), []string{"a1@example.com", "a@example.com"}},
		{"subsidiary sees only itself", f.a1.String(), []string{"a1@example.com"}},
		{"other parent sees only itself", f.b.String(), []string{"b@example.com"}},
		{"no tenant sees nothing", "", nil},
		{"unknown tenant sees nothing", uuid.NewString(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.as(t, tc.tenant, "tenant_admin", func(tx *sql.Tx) error {
				got, err := emails(tx)
				if err != nil {
					return err
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("visible users %v, want %v", got, tc.want)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("select failed: %v", err)
			}
		})
	}
}

func TestRLSAttacks(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.a.String()
	for _, tc := range []struct {
		name, tenant, stmt string
		args               []any
		wantState          string // SQLSTATE; "" means success with zero rows touched
	}{
		{"insert into another tenant", a,
			`INSERT INTO users (id, tenant_id, email, created_at, updated_at) VALUES ($1, $2, 'x@example.com', now(), now())`,
			[]any{uuid.New(), f.b}, "42501"},
		{"insert with no tenant", "",
			`INSERT INTO users (id, tenant_id, email, created_at, updated_at) VALUES ($1, $2, 'x@example.com', now(), now())`,
			[]any{uuid.New(), f.b}, "42501"},
		{"move own row to another tenant", a,
			`UPDATE users SET tenant_id = $1 WHERE id = $2`, []any{f.b, f.userA}, "42501"},
		{"update another tenant's row", a,
			`UPDATE users SET display_name = 'owned' WHERE id = $1`, []any{f.userB}, ""},
		{"delete another tenant's row", a,
			`DELETE FROM users WHERE id = $1`, []any{f.userB}, ""},
		{"project owned by another tenant's user", a,
			`INSERT INTO projects (id, tenant_id, name, owner_id, created_at, updated_at) VALUES ($1, $2, 'p', $3, now(), now())`,
			[]any{uuid.New(), f.a, f.userB}, "23503"},
		{"create a parent tenant as tenant admin", a,
			`INSERT INTO tenants (id, name, tenant_type, metadata, created_at, updated_at) VALUES ($1, 'Evil', 'parent', '{}', now(), now())`,
			[]any{uuid.New()}, "42501"},
		{"create a subsidiary of another parent", a,
			`INSERT INTO tenants (id, name, tenant_type, parent_tenant_id, metadata, created_at, updated_at) VALUES ($1, 'Evil', 'subsidiary', $2, '{}', now(), now())`,
			[]any{uuid.New(), f.b}, "42501"},
		{"rename another parent", a,
			`UPDATE tenants SET name = 'owned' WHERE id = $1`, []any{f.b}, ""},
		{"delete own subsidiary without platform admin", a,
			`DELETE FROM tenants WHERE id = $1`, []any{f.a1}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.as(t, tc.tenant, "tenant_admin", func(tx *sql.Tx) error {
				res, err := tx.ExecContext(ctx, tc.stmt, tc.args...)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n != 0 {
					t.Errorf("%d rows touched, want 0", n)
				}
				return nil
			})
			if got := sqlState(err); got != tc.wantState {
				t.Errorf("SQLSTATE %q (err %v), want %q", got, err, tc.wantState)
			}
		})
	}
	var name string
	if err := f.db.QueryRowContext(ctx, `SELECT display_name FROM users WHERE id = $1`, f.userB).Scan(&name); err != nil || name != "" {
		t.Errorf("victim row: display_name %q, err %v", name, err)
	}
}

func TestRLSTenantsPolicies(t *testing.T) {
	f := newFixture(t)
	count := func(tenant, role string) int {
		var n int
		err := f.as(t, tenant, role, func(tx *sql.Tx) error {
			return tx.QueryRow(`SELECT count(*) FROM tenants`).Scan(&n)
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(f.a.String(), "tenant_admin"); n != 2 {
		t.Errorf("parent sees %d tenants, want 2", n)
	}
	if n := count(f.a1.String(), "tenant_admin"); n != 1 {
		t.Errorf("subsidiary sees %d tenants, want 1", n)
	}
	if n := count("", "tenant_admin"); n != 0 {
		t.Errorf("no tenant sees %d tenants, want 0", n)
	}
	if n := count("", "platform_admin"); n != 3 {
		t.Errorf("platform admin sees %d tenants, want 3", n)
	}
	err := f.as(t, f.a.String(), "tenant_admin", func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO tenants (id, name, tenant_type, parent_tenant_id, metadata, created_at, updated_at)
			VALUES ($1, 'Acme West', 'subsidiary', $2, '{}', now(), now()) RETURNING id`, uuid.New(), f.a)
		return err
	})
	if err != nil {
		t.Errorf("parent admin creating a subsidiary: %v", err)
	}
	err = f.as(t, f.a1.String(), "tenant_admin", func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO tenants (id, name, tenant_type, parent_tenant_id, metadata, created_at, updated_at)
			VALUES ($1, 'Too deep', 'subsidiary', $2, '{}', now(), now())`, uuid.New(), f.a1)
		return err
	})
	if got := sqlState(err); got != "23514" {
		t.Errorf("subsidiary of a subsidiary: SQLSTATE %q (%v), want 23514", got, err)
	}
	// A subsidiary may update its own row, but not move itself under
	// another organisation (whose context would then see its rows) nor
	// change its type: mtdb_app may not update these columns (42501), and
	// the depth trigger refuses it for any role (23514).
	for _, stmt := range []string{
		`UPDATE tenants SET parent_tenant_id = $2 WHERE id = $1`,
		`UPDATE tenants SET parent_tenant_id = NULL, tenant_type = 'parent' WHERE id = $1 AND $2::uuid IS NOT NULL`,
	} {
		err = f.as(t, f.a1.String(), "tenant_admin", func(tx *sql.Tx) error {
			_, err := tx.Exec(stmt, f.a1, f.b)
			return err
		})
		if got := sqlState(err); got != "42501" && got != "23514" {
			t.Errorf("%s: SQLSTATE %q (%v), want 42501 or 23514", stmt, got, err)
		}
	}
}

// TestRLSTempSchemaShadowing: where the restricted role may create
// temporary objects (PUBLIC has TEMPORARY on every database unless the
// migration could revoke it), the session's temporary schema is searched
// first for tables and types. The helper functions must not resolve their
// tables or types there: otherwise a temporary table named tenants, left
// on a pooled connection by one transaction, decides what every later
// transaction on it sees.
func TestRLSTempSchemaShadowing(t *testing.T) {
	f := newFixture(t)
	f.exec(t, grantTempSQL) // as if the migration's REVOKE had not been applied
	ctx := context.Background()
	conn, err := f.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// inTx runs fn in a transaction on conn that entered the restricted
	// role in tenant, and commits it when asked (temporary objects outlive
	// the transaction), else rolls it back.
	inTx := func(tenant string, commit bool, fn func(tx *sql.Tx) error) error {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `SELECT set_config('role', $1, true),
			set_config('app.tenant_id', $2, true), set_config('app.role', 'tenant_admin', true)`, appRole, tenant); err != nil {
			t.Fatal(err)
		}
		if err := fn(tx); err != nil {
			return err
		}
		if commit {
			return tx.Commit()
		}
		return nil
	}

	// An attacker in tenant B leaves a temporary tenants table on the
	// connection that lists A and A1 as subsidiaries of B.
	err = inTx(f.b.String(), true, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`CREATE TEMP TABLE tenants (id uuid, parent_tenant_id uuid, deleted_at timestamptz)`); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO pg_temp.tenants VALUES ($1, $3, NULL), ($2, $3, NULL), ($3, NULL, NULL)`, f.a, f.a1, f.b)
		return err
	})
	if err != nil {
		t.Fatalf("creating the temporary table: %v", err)
	}
	// A later transaction of tenant B on the same connection.
	err = inTx(f.b.String(), false, func(tx *sql.Tx) error {
		got, err := emails(tx)
		if err != nil {
			return err
		}
		if want := []string{"b@example.com"}; !slices.Equal(got, want) {
			t.Errorf("tenant B with a temporary tenants table sees users %v, want %v", got, want)
		}
		return nil
	})
	if err != nil {
		t.Errorf("select with a temporary tenants table: %v", err)
	}
	// The same table, emptied, must not blind the hierarchy-depth trigger:
	// a subsidiary still cannot have subsidiaries.
	err = inTx(f.a1.String(), false, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`DELETE FROM pg_temp.tenants`); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO public.tenants (id, name, tenant_type, parent_tenant_id, metadata, created_at, updated_at)
			VALUES ($1, 'Too deep', 'subsidiary', $2, '{}', now(), now())`, uuid.New(), f.a1)
		return err
	})
	if got := sqlState(err); got != "23514" {
		t.Errorf("subsidiary of a subsidiary with a temporary tenants table: SQLSTATE %q (%v), want 23514", got, err)
	}
	// A temporary type named uuid must not break (or change) the policies.
	err = inTx(f.a1.String(), false, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`CREATE TYPE pg_temp.uuid AS (x int)`); err != nil {
			return err
		}
		got, err := emails(tx)
		if err != nil {
			return err
		}
		if want := []string{"a1@example.com"}; !slices.Equal(got, want) {
			t.Errorf("with a temporary uuid type: users %v, want %v", got, want)
		}
		return nil
	})
	if err != nil {
		t.Errorf("select with a temporary uuid type: %v", err)
	}
}

// TestRLSTenantsWriteRules attacks the tenants table through the restricted
// role with each role's settings: the database itself must refuse what the
// API refuses (a member writes no tenant; a tenant_admin soft-deletes only
// its subsidiaries; nobody changes a column immutable in the schema). A
// refusal is either an error (SQLSTATE 42501) or no row touched.
func TestRLSTenantsWriteRules(t *testing.T) {
	f := newFixture(t)
	a, a1, b := f.a.String(), f.a1.String(), f.b.String()
	const (
		refused = "refused" // 42501 or zero rows
		denied  = "42501"   // an error in any case
		done    = "one row" // exactly one row touched
	)
	for _, tc := range []struct {
		name, tenant, role, stmt string
		arg                      uuid.UUID
		want                     string
	}{
		{"member renames its tenant", a, "member", `UPDATE tenants SET name = 'owned' WHERE id = $1`, f.a, refused},
		{"member replaces its tenant's metadata", a, "member", `UPDATE tenants SET metadata = '{"owned": true}' WHERE id = $1`, f.a, refused},
		{"member soft-deletes its tenant", a, "member", `UPDATE tenants SET deleted_at = now() WHERE id = $1`, f.a, refused},
		{"member soft-deletes a subsidiary", a, "member", `UPDATE tenants SET deleted_at = now() WHERE id = $1`, f.a1, refused},
		{"member of a subsidiary renames it", a1, "member", `UPDATE tenants SET name = 'owned' WHERE id = $1`, f.a1, refused},
		{"member locks its tenant for update", a, "member", `SELECT id FROM tenants WHERE id = $1 FOR UPDATE`, f.a, refused},
		{"member creates a subsidiary", a, "member",
			`INSERT INTO tenants (id, name, tenant_type, parent_tenant_id, metadata, created_at, updated_at) VALUES (gen_random_uuid(), 'Evil', 'subsidiary', $1, '{}', now(), now())`,
			f.a, denied},
		{"no role renames the tenant", a, "", `UPDATE tenants SET name = 'owned' WHERE id = $1`, f.a, refused},
		{"unknown role renames the tenant", a, "owner", `UPDATE tenants SET name = 'owned' WHERE id = $1`, f.a, refused},
		{"subsidiary admin soft-deletes itself", a1, "tenant_admin", `UPDATE tenants SET deleted_at = now() WHERE id = $1`, f.a1, denied},
		{"subsidiary admin soft-deletes its parent", a1, "tenant_admin", `UPDATE tenants SET deleted_at = now() WHERE id = $1`, f.a, refused},
		{"subsidiary admin renames its parent", a1, "tenant_admin", `UPDATE tenants SET name = 'owned' WHERE id = $1`, f.a, refused},
		{"parent admin soft-deletes itself", a, "tenant_admin", `UPDATE tenants SET deleted_at = now() WHERE id = $1`, f.a, denied},
		{"parent admin soft-deletes another parent", a, "tenant_admin", `UPDATE tenants SET deleted_at = now() WHERE id = $1`, f.b, refused},
		{"tenant admin rewrites its creation time", a, "tenant_admin", `UPDATE tenants SET created_at = now() - interval '1 year' WHERE id = $1`, f.a, denied},
		{"tenant admin changes its id", a, "tenant_admin", `UPDATE tenants SET id = gen_random_uuid() WHERE id = $1`, f.a, denied},
		{"platform admin changes a subsidiary's parent", "", "platform_admin", `UPDATE tenants SET parent_tenant_id = $1 WHERE id = '` + a1 + `'`, f.b, denied},
		// What the API does stays possible.
		{"subsidiary admin renames itself", a1, "tenant_admin", `UPDATE tenants SET name = 'East', metadata = '{"k": 1}', updated_at = now() WHERE id = $1`, f.a1, done},
		{"parent admin renames itself", a, "tenant_admin", `UPDATE tenants SET name = 'Acme Inc', updated_at = now() WHERE id = $1`, f.a, done},
		{"parent admin renames a subsidiary", a, "tenant_admin", `UPDATE tenants SET name = 'East', updated_at = now() WHERE id = $1`, f.a1, done},
		{"parent admin locks its tenant for update", a, "tenant_admin", `SELECT id FROM tenants WHERE id = $1 FOR UPDATE`, f.a, done},
		{"parent admin soft-deletes a subsidiary", a, "tenant_admin", `UPDATE tenants SET deleted_at = now(), updated_at = now() WHERE id = $1`, f.a1, done},
		{"parent admin creates a subsidiary", a, "tenant_admin",
			`INSERT INTO tenants (id, name, tenant_type, parent_tenant_id, metadata, created_at, updated_at) VALUES (gen_random_uuid(), 'West', 'subsidiary', $1, '{}', now(), now())`,
			f.a, done},
		{"platform admin soft-deletes a parent", b, "platform_admin", `UPDATE tenants SET deleted_at = now() WHERE id = $1`, f.b, done},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n int64
			err := f.as(t, tc.tenant, tc.role, func(tx *sql.Tx) error {
				res, err := tx.Exec(tc.stmt, tc.arg)
				if err != nil {
					return err
				}
				n, _ = res.RowsAffected()
				return nil
			})
			switch code := sqlState(err); {
			case tc.want == done && (err != nil || n != 1):
				t.Errorf("err %v, %d rows touched; want one row", err, n)
			case tc.want == denied && code != "42501":
				t.Errorf("SQLSTATE %q (err %v, %d rows); want 42501", code, err, n)
			case tc.want == refused && !(code == "42501" || err == nil && n == 0):
				t.Errorf("err %v, %d rows touched; want 42501 or no row", err, n)
			}
		})
	}
	// Nothing above committed: the tenants are as created.
	var names string
	if err := f.db.QueryRow(`SELECT string_agg(name || ':' || (deleted_at IS NULL)::text, ',' ORDER BY name) FROM tenants`).Scan(&names); err != nil {
		t.Fatal(err)
	}
	if want := "Acme:true,Acme East:true,Beta:true"; names != want {
		t.Errorf("tenants after the attacks: %s, want %s", names, want)
	}
}
