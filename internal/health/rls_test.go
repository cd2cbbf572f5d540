package health

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mtdb/mtdb/internal/migrate"
	"github.com/mtdb/mtdb/internal/pgtest"
)

// rlsDB is a fresh migrated database with an owner pool for breaking it and
// a database/sql handle of the login role the API would use.
type rlsDB struct {
	owner *pgxpool.Pool
	app   *sql.DB
}

func newRLSDB(t *testing.T) rlsDB {
	t.Helper()
	pg := pgtest.New(t)
	app := stdlib.OpenDBFromPool(pg.AppPool(t))
	t.Cleanup(func() { _ = app.Close() })
	return rlsDB{owner: pg.OwnerPool(t), app: app}
}

func (d rlsDB) exec(t *testing.T, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := d.owner.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func (d rlsDB) check(t *testing.T, appRole string) []string {
	t.Helper()
	lines, err := RLSCheck(d.app, appRole, migrate.TenantScopedTables())(context.Background())
	if err != nil {
		t.Fatalf("CheckRLS: %v", err)
	}
	return lines
}

// tempRole creates a cluster-wide role for one test (roles are shared by
// every database of the cluster: never alter mtdb_app itself) and drops it
// afterwards, with whatever it owns in this test's database.
func (d rlsDB) tempRole(t *testing.T, attrs string) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "mtdb_rlscheck_" + hex.EncodeToString(b)
	d.exec(t, "CREATE ROLE "+name+" NOLOGIN "+attrs)
	t.Cleanup(func() {
		ctx := context.Background()
		for _, s := range []string{"REASSIGN OWNED BY " + name + " TO CURRENT_USER", "DROP OWNED BY " + name} {
			if _, err := d.owner.Exec(ctx, s); err != nil {
				t.Errorf("%s: %v", s, err)
			}
		}
		if _, err := d.owner.Exec(ctx, "DROP ROLE "+name); err != nil {
			t.Errorf("drop role %s: %v", name, err)
		}
	})
	return name
}

func TestCheckRLSHealthy(t *testing.T) {
	d := newRLSDB(t)
	if got := d.check(t, ""); len(got) != 0 {
		t.Fatalf("findings on a freshly migrated database: %q", got)
	}
	if got := d.check(t, pgtest.AppRole); len(got) != 0 {
		t.Fatalf("findings for %s: %q", pgtest.AppRole, got)
	}
}

func TestCheckRLSFindsBreakage(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, d rlsDB) string // returns the app role to check
		want  []string
	}{
		{"not forced", func(t *testing.T, d rlsDB) string {
			d.exec(t, `ALTER TABLE users NO FORCE ROW LEVEL SECURITY`)
			return ""
		}, []string{"users: row level security is not forced"}},
		{"disabled", func(t *testing.T, d rlsDB) string {
			d.exec(t, `ALTER TABLE projects DISABLE ROW LEVEL SECURITY`)
			return ""
		}, []string{"projects: row level security is not enabled"}},
		{"tenants not forced", func(t *testing.T, d rlsDB) string {
			d.exec(t, `ALTER TABLE tenants NO FORCE ROW LEVEL SECURITY`)
			return ""
		}, []string{"tenants: row level security is not forced"}},
		{"policy dropped", func(t *testing.T, d rlsDB) string {
			d.exec(t, `DROP POLICY users_delete ON users`)
			return ""
		}, []string{"users: no DELETE policy applies to role mtdb_app"}},
		{"policy for another role", func(t *testing.T, d rlsDB) string {
			d.exec(t, `DROP POLICY projects_select ON projects`,
				`CREATE POLICY projects_select ON projects FOR SELECT TO pg_monitor USING (true)`)
			return ""
		}, []string{"projects: no SELECT policy applies to role mtdb_app"}},
		{"an ALL policy counts for every command", func(t *testing.T, d rlsDB) string {
			d.exec(t, `DROP POLICY users_select ON users`, `DROP POLICY users_insert ON users`,
				`DROP POLICY users_update ON users`, `DROP POLICY users_delete ON users`,
				`CREATE POLICY users_all ON users TO mtdb_app USING (tenant_id = mtdb_current_tenant())`)
			return ""
		}, nil},
		{"app role owns a table", func(t *testing.T, d rlsDB) string {
			// Ownership is local to this test's database.
			d.exec(t, `ALTER TABLE projects OWNER TO mtdb_app`)
			return ""
		}, []string{"mtdb_app: role owns table public.projects"}},
		{"unlisted tenant-scoped table", func(t *testing.T, d rlsDB) string {
			d.exec(t, `CREATE TABLE fixture_unlisted (id uuid PRIMARY KEY, tenant_id uuid NOT NULL)`)
			return ""
		}, []string{"fixture_unlisted: has a tenant_id column but is not a known tenant-scoped table"}},
		{"foreign key without tenant_id", func(t *testing.T, d rlsDB) string {
			d.exec(t, `ALTER TABLE projects DROP CONSTRAINT projects_users_projects`,
				`ALTER TABLE projects ADD CONSTRAINT projects_owner_plain FOREIGN KEY (owner_id) REFERENCES users (id)`)
			return ""
		}, []string{"projects: foreign key projects_owner_plain to users does not include tenant_id"}},
		{"table missing", func(t *testing.T, d rlsDB) string {
			d.exec(t, `DROP TABLE projects CASCADE`) // CASCADE: later tables may reference projects
			return ""
		}, []string{"projects: table does not exist"}},
		{"helper function with the caller's search_path", func(t *testing.T, d rlsDB) string {
			d.exec(t, `ALTER FUNCTION mtdb_visible_tenants() RESET search_path`)
			return ""
		}, []string{"function mtdb_visible_tenants: search_path does not list pg_temp last (temporary objects can shadow its tables and types)"}},
		{"helper function with pg_temp first", func(t *testing.T, d rlsDB) string {
			d.exec(t, `ALTER FUNCTION mtdb_tenants_depth() SET search_path = pg_temp, public`)
			return ""
		}, []string{"function mtdb_tenants_depth: search_path does not list pg_temp last (temporary objects can shadow its tables and types)"}},
		{"app role may create in the schema", func(t *testing.T, d rlsDB) string {
			// Privileges are local to this test's database.
			d.exec(t, `GRANT CREATE ON SCHEMA public TO mtdb_app`)
			return ""
		}, []string{"mtdb_app: role may create objects in schema public"}},
		{"tenants update policy equal to visibility", func(t *testing.T, d rlsDB) string {
			d.exec(t, `ALTER POLICY tenants_update ON tenants USING (id = mtdb_current_tenant() OR parent_tenant_id = mtdb_current_tenant()) WITH CHECK (true)`)
			return ""
		}, []string{"tenants: policy tenants_update lets every role acting in a tenant write it (no mtdb_is_tenant_admin() test)"}},
		{"tenants insert policy for every role", func(t *testing.T, d rlsDB) string {
			d.exec(t, `CREATE POLICY tenants_insert_any ON tenants FOR INSERT TO mtdb_app WITH CHECK (parent_tenant_id = mtdb_current_tenant())`)
			return ""
		}, []string{"tenants: policy tenants_insert_any lets every role acting in a tenant write it (no mtdb_is_tenant_admin() test)"}},
		{"tenants fully updatable", func(t *testing.T, d rlsDB) string {
			// Privileges are local to this test's database.
			d.exec(t, `GRANT UPDATE ON tenants TO mtdb_app`)
			return ""
		}, []string{"tenants: role mtdb_app may update every column (UPDATE must be granted on the writable columns only)"}},
		{"tenants parent updatable", func(t *testing.T, d rlsDB) string {
			d.exec(t, `GRANT UPDATE (parent_tenant_id, tenant_type) ON tenants TO mtdb_app`)
			return ""
		}, []string{"tenants: role mtdb_app may update tenant_type, parent_tenant_id, which never change"}},
		{"unknown role", func(t *testing.T, d rlsDB) string {
			return "mtdb_no_such_role_x"
		}, []string{"mtdb_no_such_role_x: role does not exist"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newRLSDB(t)
			role := tt.setup(t, d)
			got := d.check(t, role)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("findings:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

// TestCheckRLSFindsShadowing: the self-check reports that the restricted
// role may create temporary objects, and every relation outside the
// application's schema named like one of its tables, a temporary table of
// another session included.
func TestCheckRLSFindsShadowing(t *testing.T) {
	d := newRLSDB(t)
	ctx := context.Background()
	// Privileges on a database are local to this test's database.
	d.exec(t, `DO $$ BEGIN EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO PUBLIC', current_database()); END $$`)
	assertContains(t, d.check(t, ""), "mtdb_app: role may create temporary objects in database mtdb_test_")

	d.exec(t, `CREATE SCHEMA shadow`, `CREATE TABLE shadow.users (id int)`)
	conn, err := d.owner.Acquire(ctx) // its temporary table lives as long as the session
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `CREATE TEMP TABLE tenants (id uuid)`); err != nil {
		t.Fatal(err)
	}
	got := d.check(t, "")
	assertContains(t, got, "relation shadow.users: is named like application table users and can shadow it")
	assertContains(t, got, "relation pg_temp_")
	if _, err := conn.Exec(ctx, `DISCARD TEMP`); err != nil {
		t.Fatal(err)
	}
}

// Role attributes are cluster-wide: these tests use a role of their own.
func TestCheckRLSRoleAttributes(t *testing.T) {
	d := newRLSDB(t)

	bypass := d.tempRole(t, "NOSUPERUSER BYPASSRLS")
	d.exec(t, "GRANT "+bypass+" TO "+pgtest.TesterRole, "GRANT mtdb_app TO "+bypass)
	assertContains(t, d.check(t, bypass), bypass+": role has BYPASSRLS")

	super := d.tempRole(t, "SUPERUSER")
	d.exec(t, "GRANT "+super+" TO "+pgtest.TesterRole)
	assertContains(t, d.check(t, super), super+": role is a superuser")

	notEnterable := d.tempRole(t, "NOSUPERUSER NOBYPASSRLS")
	assertContains(t, d.check(t, notEnterable), notEnterable+": the login role cannot enter this role")

	escalates := d.tempRole(t, "NOSUPERUSER NOBYPASSRLS")
	d.exec(t, "GRANT "+escalates+" TO "+pgtest.TesterRole, "GRANT mtdb_app TO "+escalates,
		"GRANT "+bypass+" TO "+escalates)
	assertContains(t, d.check(t, escalates), escalates+": role is a member of role "+bypass+", which has BYPASSRLS")

	owner := d.tempRole(t, "NOSUPERUSER NOBYPASSRLS")
	viaOwner := d.tempRole(t, "NOSUPERUSER NOBYPASSRLS INHERIT")
	d.exec(t, "GRANT "+viaOwner+" TO "+pgtest.TesterRole, "GRANT mtdb_app TO "+viaOwner,
		"GRANT "+owner+" TO "+viaOwner, "ALTER TABLE users OWNER TO "+owner)
	assertContains(t, d.check(t, viaOwner), viaOwner+": role can become role "+owner+", owner of table public.users")
}

func assertContains(t *testing.T, lines []string, prefix string) {
	t.Helper()
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return
		}
	}
	t.Fatalf("no finding starting with %q in:\n  %s", prefix, strings.Join(lines, "\n  "))
}
