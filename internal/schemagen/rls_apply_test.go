package schemagen

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	mtdbmigrate "github.com/mtdb/mtdb/internal/migrate"
)

// migratedDB returns a fresh database with the committed migrations applied
// by Atlas's own executor (and so its statement splitter), connected as
// superuser: for setup and catalog queries only.
func migratedDB(t *testing.T) *sql.DB {
	t.Helper()
	db := testDB(t, newDatabase(t))
	drv, err := postgres.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := migrate.NewLocalDir(committedDir)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := migrate.NewExecutor(drv, dir, &migrate.NopRevisionReadWriter{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ex.ExecuteN(context.Background(), 0); err != nil {
		t.Fatalf("apply migrations: %v", err)
	}
	return db
}

func TestMigrationsEnableRLS(t *testing.T) {
	db := migratedDB(t)
	ctx := context.Background()
	tables := append(mtdbmigrate.TenantScopedTables(), tenantsTable)
	for _, name := range tables {
		t.Run(name, func(t *testing.T) {
			var enabled, forced bool
			err := db.QueryRowContext(ctx, `SELECT relrowsecurity, relforcerowsecurity FROM pg_class
				WHERE oid = to_regclass($1)`, "public."+name).Scan(&enabled, &forced)
			if err != nil {
				t.Fatal(err)
			}
			if !enabled || !forced {
				t.Errorf("row level security enabled=%v forced=%v, want both", enabled, forced)
			}
			rows, err := db.QueryContext(ctx, `SELECT cmd FROM pg_policies
				WHERE schemaname = 'public' AND tablename = $1 AND roles = ARRAY[$2]::name[] ORDER BY cmd`, name, appRole)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var cmds []string
			for rows.Next() {
				var c string
				if err := rows.Scan(&c); err != nil {
					t.Fatal(err)
				}
				cmds = append(cmds, c)
			}
			if want := []string{"DELETE", "INSERT", "SELECT", "UPDATE"}; !slices.Equal(cmds, want) {
				t.Errorf("policies for %s: %v, want %v", appRole, cmds, want)
			}
			var grants int
			err = db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.role_table_grants
				WHERE table_schema = 'public' AND table_name = $1 AND grantee = $2
				AND privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')`, name, appRole).Scan(&grants)
			if err != nil {
				t.Fatal(err)
			}
			want := 4
			if name == tenantsTable {
				want = 3 // UPDATE on some columns only (TestMigrationsTenantsColumnGrants)
			}
			if grants != want {
				t.Errorf("%s has %d of the %d grants", appRole, grants, want)
			}
		})
	}
	t.Run("restricted role", func(t *testing.T) {
		var super, bypass, login bool
		var owned int
		err := db.QueryRowContext(ctx, `SELECT rolsuper, rolbypassrls, rolcanlogin,
			(SELECT count(*) FROM pg_class WHERE relowner = r.oid)
			FROM pg_roles r WHERE rolname = $1`, appRole).Scan(&super, &bypass, &login, &owned)
		if err != nil {
			t.Fatal(err)
		}
		if super || bypass || login || owned != 0 {
			t.Errorf("%s: superuser=%v bypassrls=%v login=%v owns %d relations", appRole, super, bypass, login, owned)
		}
	})
}

// TestMigrationsReapplyOnAnotherDatabase applies the migrations to a second
// database of the same cluster: the role already exists there.
func TestMigrationsReapplyOnAnotherDatabase(t *testing.T) {
	migratedDB(t)
	migratedDB(t)
}

// sqlState returns the SQLSTATE of err, or "" when it has none.
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// TestCreateRoleConcurrently runs the role creation of the first migration
// from several connections at once, as when many databases of one cluster
// are migrated together, with a throwaway role name.
func TestCreateRoleConcurrently(t *testing.T) {
	db := testDB(t, adminURL())
	role := "mtdb_race_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	t.Cleanup(func() {
		if _, err := db.Exec("DROP ROLE IF EXISTS " + role); err != nil {
			t.Error(err)
		}
	})
	const n = 8
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		go func() {
			<-start
			_, err := db.Exec(createRoleSQL(role))
			errs <- err
		}()
	}
	close(start)
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("create role: %v", err)
		}
	}
	var super, bypass, login, inherit bool
	err := db.QueryRow(`SELECT rolsuper, rolbypassrls, rolcanlogin, rolinherit FROM pg_roles WHERE rolname = $1`, role).
		Scan(&super, &bypass, &login, &inherit)
	if err != nil {
		t.Fatal(err)
	}
	if super || bypass || login || inherit {
		t.Errorf("role attributes: superuser=%v bypassrls=%v login=%v inherit=%v", super, bypass, login, inherit)
	}
}

// TestMigrationsForeignKeysIncludeTenant checks, in the catalog of a
// migrated database, that every foreign key between two tenant-scoped
// tables starts with tenant_id on both sides, and that every tenant-scoped
// table references tenants.
func TestMigrationsForeignKeysIncludeTenant(t *testing.T) {
	db := migratedDB(t)
	rows, err := db.Query(`SELECT c.conname, c.conrelid::regclass::text, c.confrelid::regclass::text,
			(SELECT attname FROM pg_attribute WHERE attrelid = c.conrelid AND attnum = c.conkey[1]),
			(SELECT attname FROM pg_attribute WHERE attrelid = c.confrelid AND attnum = c.confkey[1]),
			cardinality(c.conkey)
		FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	scoped := mtdbmigrate.TenantScopedTables()
	refsTenants := map[string]bool{}
	for rows.Next() {
		var name, from, to, fromCol, toCol string
		var n int
		if err := rows.Scan(&name, &from, &to, &fromCol, &toCol, &n); err != nil {
			t.Fatal(err)
		}
		if to == tenantsTable && fromCol == tenantColumn && n == 1 {
			refsTenants[from] = true
		}
		if slices.Contains(scoped, from) && slices.Contains(scoped, to) &&
			(fromCol != tenantColumn || toCol != tenantColumn || n < 2) {
			t.Errorf("foreign key %s from %s to %s does not start with tenant_id on both sides", name, from, to)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, s := range scoped {
		if !refsTenants[s] {
			t.Errorf("%s has no foreign key tenant_id -> tenants(id)", s)
		}
	}
}

// TestMigrationsTenantsColumnGrants: the restricted role may update only
// the columns of tenants that are not immutable in the Ent schema, in the
// committed migrations and in a fresh generation alike, and both give
// tenants the same policies.
func TestMigrationsTenantsColumnGrants(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := Generate(ctx, Options{DevURL: newDatabase(t), Dir: dir, Name: "initial"}); err != nil {
		t.Fatal(err)
	}
	fresh := testDB(t, newDatabase(t))
	drv, err := postgres.Open(fresh)
	if err != nil {
		t.Fatal(err)
	}
	local, err := migrate.NewLocalDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := migrate.NewExecutor(drv, local, &migrate.NopRevisionReadWriter{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ex.ExecuteN(ctx, 0); err != nil {
		t.Fatalf("apply the generated migration: %v", err)
	}
	describe := func(db *sql.DB) (cols, policies string) {
		t.Helper()
		err := db.QueryRowContext(ctx, `SELECT string_agg(attname, ',' ORDER BY attname) FROM pg_attribute
			WHERE attrelid = 'public.tenants'::regclass AND attnum > 0 AND NOT attisdropped
			AND has_column_privilege($1, attrelid, attnum, 'UPDATE')`, appRole).Scan(&cols)
		if err != nil {
			t.Fatal(err)
		}
		err = db.QueryRowContext(ctx, `SELECT string_agg(policyname || ' ' || cmd || ' ' || roles::text || ' USING ' ||
				COALESCE(qual, '-') || ' CHECK ' || COALESCE(with_check, '-'), E'\n' ORDER BY policyname)
			FROM pg_policies WHERE schemaname = 'public' AND tablename = 'tenants'`).Scan(&policies)
		if err != nil {
			t.Fatal(err)
		}
		return cols, policies
	}
	committedCols, committedPolicies := describe(migratedDB(t))
	freshCols, freshPolicies := describe(fresh)
	if want := "deleted_at,metadata,name,updated_at"; committedCols != want || freshCols != want {
		t.Errorf("%s may update tenants columns %q (committed) and %q (generated), want %q", appRole, committedCols, freshCols, want)
	}
	if committedPolicies != freshPolicies {
		t.Errorf("tenants policies differ:\ncommitted migrations:\n%s\ngenerated:\n%s", committedPolicies, freshPolicies)
	}
}

// TestTenantsWriteRulesMigration: the committed migration that brought
// existing databases to the tenants write rules holds exactly the
// statements the generator emits for them (tenantsWriteRulesSQL), so the
// two cannot drift apart.
func TestTenantsWriteRulesMigration(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(committedDir, "*_tenants_write_rules.sql"))
	if err != nil || len(files) != 1 {
		t.Fatalf("migration tenants_write_rules: %v, %v", files, err)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range tenantsWriteRulesSQL() {
		if !strings.Contains(string(b), stmt+";\n") {
			t.Errorf("%s lacks the generated statement\n%s", filepath.Base(files[0]), stmt)
		}
	}
}

// tenantsWriteRulesSQL is what brought a database migrated before the
// tenants write rules to them (migration tenants_write_rules, written from
// it): the tenant_admin test, the INSERT and UPDATE policies of tenants,
// and UPDATE on the updatable columns only.
func tenantsWriteRulesSQL() []string {
	t := quoteIdent(tenantsTable)
	return []string{
		isTenantAdminSQL,
		fmt.Sprintf("ALTER POLICY %s ON %s WITH CHECK (%s)", quoteIdent(tenantsTable+"_insert"), t, tenantsInsert),
		fmt.Sprintf("ALTER POLICY %s ON %s USING (%s) WITH CHECK (%s)", quoteIdent(tenantsTable+"_update"), t, tenantsUpdate, tenantsUpdateCheck),
		fmt.Sprintf("REVOKE UPDATE ON TABLE %s FROM %s", t, appRole),
		updateGrantSQL(tenantsTable, tenantsUpdatable()),
	}
}
