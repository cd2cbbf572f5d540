package schemagen

import (
	"slices"
	"strings"
	"testing"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/schema"

	mtdbmigrate "github.com/mtdb/mtdb/internal/migrate"
)

// addTable returns the changes Atlas plans for creating t: CREATE TABLE and
// one CREATE INDEX, both with the same source.
func addTable(t *schema.Table) []*migrate.Change {
	src := &schema.AddTable{T: t}
	return []*migrate.Change{
		{Cmd: "CREATE TABLE " + quoteIdent(t.Name) + " (...)", Source: src},
		{Cmd: "CREATE INDEX ON " + quoteIdent(t.Name) + " (...)", Source: src},
	}
}

func table(name string, cols ...string) *schema.Table {
	t := schema.NewTable(name)
	for _, c := range cols {
		t.AddColumns(schema.NewColumn(c).SetType(&schema.UUIDType{T: "uuid"}))
	}
	return t
}

// format runs the Formatter and returns the statements of its single file.
func format(t *testing.T, changes []*migrate.Change) []string {
	t.Helper()
	files, err := Formatter{}.Format(&migrate.Plan{Version: "20260101000000", Name: "test", Changes: changes})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 {
		t.Fatalf("got %d files, want 1", len(files))
	}
	if n := files[0].Name(); n != "20260101000000_test.sql" {
		t.Errorf("file name = %q", n)
	}
	stmts, err := files[0].Stmts()
	if err != nil {
		t.Fatal(err)
	}
	return stmts
}

// index returns the position of the first statement containing s, or fails.
func index(t *testing.T, stmts []string, s string) int {
	t.Helper()
	i := slices.IndexFunc(stmts, func(x string) bool { return strings.Contains(x, s) })
	if i < 0 {
		t.Fatalf("no statement contains %q in:\n%s", s, strings.Join(stmts, "\n"))
	}
	return i
}

func TestFormatterNewTenantScopedTable(t *testing.T) {
	stmts := format(t, addTable(table("invoices", "id", "tenant_id")))
	created := index(t, stmts, `CREATE INDEX ON "invoices"`)
	for _, want := range []string{
		`ALTER TABLE "invoices" ENABLE ROW LEVEL SECURITY`,
		`ALTER TABLE "invoices" FORCE ROW LEVEL SECURITY`,
		`CREATE POLICY "invoices_select" ON "invoices" AS PERMISSIVE FOR SELECT TO mtdb_app USING (` + tenantPolicy + `)`,
		`CREATE POLICY "invoices_insert" ON "invoices" AS PERMISSIVE FOR INSERT TO mtdb_app WITH CHECK (` + tenantPolicy + `)`,
		`CREATE POLICY "invoices_update" ON "invoices" AS PERMISSIVE FOR UPDATE TO mtdb_app USING (` + tenantPolicy + `) WITH CHECK (` + tenantPolicy + `)`,
		`CREATE POLICY "invoices_delete" ON "invoices" AS PERMISSIVE FOR DELETE TO mtdb_app USING (` + tenantPolicy + `)`,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "invoices" TO mtdb_app`,
		`CREATE TRIGGER "invoices_count_insert" AFTER INSERT ON "invoices" REFERENCING NEW TABLE AS mtdb_new FOR EACH STATEMENT EXECUTE FUNCTION mtdb_count_rows()`,
	} {
		if i := index(t, stmts, want); i < created {
			t.Errorf("%q comes before the table's creation", want)
		}
	}
	// Only the first migration creates the role and the functions.
	for _, s := range stmts {
		if strings.Contains(s, "CREATE ROLE") || strings.Contains(s, "CREATE OR REPLACE FUNCTION") {
			t.Errorf("unexpected bootstrap statement: %s", s)
		}
	}
}

func TestFormatterOtherChangesUntouched(t *testing.T) {
	audit := table("audit_log", "id")
	changes := append(addTable(audit), &migrate.Change{
		Cmd:    `ALTER TABLE "users" ADD COLUMN "x" uuid`,
		Source: &schema.ModifyTable{T: table("users", "id", "tenant_id")},
	})
	stmts := format(t, changes)
	if len(stmts) != len(changes) {
		t.Fatalf("got %d statements, want the %d planned:\n%s", len(stmts), len(changes), strings.Join(stmts, "\n"))
	}
}

func TestFormatterBootstrap(t *testing.T) {
	// A tenant-scoped table planned before tenants gets its policies once
	// mtdb_visible_tenants() exists.
	var changes []*migrate.Change
	changes = append(changes, addTable(table("users", "id", "tenant_id"))...)
	changes = append(changes, addTable(table("tenants", "id", "parent_tenant_id"))...)
	changes = append(changes, addTable(table("projects", "id", "tenant_id"))...)
	stmts := format(t, changes)

	role := index(t, stmts, "CREATE ROLE mtdb_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT")
	usage := index(t, stmts, "GRANT USAGE ON SCHEMA public TO mtdb_app")
	current := index(t, stmts, "FUNCTION mtdb_current_tenant()")
	usersTable := index(t, stmts, `CREATE TABLE "users"`)
	tenantsTable := index(t, stmts, `CREATE TABLE "tenants"`)
	tenantsForce := index(t, stmts, `ALTER TABLE "tenants" FORCE ROW LEVEL SECURITY`)
	visible := index(t, stmts, "FUNCTION mtdb_visible_tenants()")
	trigger := index(t, stmts, "CREATE TRIGGER tenants_depth")
	usersPolicy := index(t, stmts, `CREATE POLICY "users_select"`)
	projectsPolicy := index(t, stmts, `CREATE POLICY "projects_select"`)
	order := []int{role, usage, current, usersTable, tenantsTable, tenantsForce, visible, trigger, usersPolicy, projectsPolicy}
	if !slices.IsSorted(order) {
		t.Errorf("statements out of order: %v\n%s", order, strings.Join(stmts, "\n"))
	}
	for _, p := range []string{"tenants_select", "tenants_insert", "tenants_update", "tenants_delete"} {
		index(t, stmts, `CREATE POLICY "`+p+`"`)
	}
	index(t, stmts, `GRANT SELECT, INSERT, DELETE ON TABLE "tenants" TO mtdb_app`)
	index(t, stmts, `GRANT UPDATE ("deleted_at", "metadata", "name", "updated_at") ON TABLE "tenants" TO mtdb_app`)
	index(t, stmts, "FUNCTION mtdb_is_tenant_admin()")
	index(t, stmts, "EXCEPTION WHEN duplicate_object OR unique_violation")
}

func TestTenantScopedTables(t *testing.T) {
	got := mtdbmigrate.TenantScopedTables()
	want := []string{"api_keys", "idempotency_keys", "projects", "row_counts", "users"}
	if !slices.Equal(got, want) {
		t.Fatalf("TenantScopedTables() = %v, want %v", got, want)
	}
}
