package pgtest_test

import (
	"context"
	"testing"

	"github.com/mtdb/mtdb/internal/pgtest"
)

func TestNewGivesSeparateMigratedDatabases(t *testing.T) {
	t.Parallel()
	a, b := pgtest.New(t), pgtest.New(t)
	if a.Name == b.Name {
		t.Fatalf("two tests got the same database %q", a.Name)
	}
	ctx := context.Background()
	// A table made in one database is invisible in the other.
	if _, err := a.OwnerPool(t).Exec(ctx, `CREATE TABLE only_in_a (id int)`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.OwnerPool(t).QueryRow(ctx,
		`SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("table of database %s visible in %s", a.Name, b.Name)
	}
	// The template was migrated: the revisions table exists.
	var found bool
	if err := b.OwnerPool(t).QueryRow(ctx,
		`SELECT to_regclass('atlas_schema_revisions.atlas_schema_revisions') IS NOT NULL`).Scan(&found); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatal("revisions table missing: template not migrated")
	}
}

func TestAppURLIsRestrictedLogin(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	var (
		user                 string
		super, bypass, inApp bool
	)
	err := db.AppPool(t).QueryRow(context.Background(), `
SELECT current_user, r.rolsuper, r.rolbypassrls,
       EXISTS (SELECT FROM pg_roles WHERE rolname = $1) AND pg_has_role(current_user, $1, 'MEMBER')
FROM pg_roles r WHERE r.rolname = current_user`, pgtest.AppRole).Scan(&user, &super, &bypass, &inApp)
	if err != nil {
		t.Fatal(err)
	}
	if user != pgtest.TesterRole || super || bypass {
		t.Fatalf("AppURL logs in as %s (superuser %v, bypassrls %v), want %s, neither", user, super, bypass, pgtest.TesterRole)
	}
	if !inApp {
		t.Fatalf("%s is not a member of %s", pgtest.TesterRole, pgtest.AppRole)
	}
	// The restricted role works through AppURL: with no tenant set, a
	// tenant-scoped table reads as empty instead of failing.
	ctx := context.Background()
	tx, err := db.AppPool(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT set_config('role', $1, true)`, pgtest.AppRole); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		t.Fatalf("select users as %s: %v", pgtest.AppRole, err)
	}
	if n != 0 {
		t.Fatalf("no tenant set, yet %d users visible", n)
	}
}

func TestDatabaseDroppedAfterTest(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("inner", func(t *testing.T) { name = pgtest.New(t).Name })
	probe := pgtest.New(t)
	var n int
	if err := probe.OwnerPool(t).QueryRow(context.Background(),
		`SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("database %s still exists after its test ended", name)
	}
}
