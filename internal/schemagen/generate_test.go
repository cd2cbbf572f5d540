package schemagen

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"ariga.io/atlas/sql/migrate"
	entschema "entgo.io/ent/dialect/sql/schema"
	"entgo.io/ent/schema/field"

	entmigrate "github.com/mtdb/mtdb/ent/migrate"
)

// committedDir is the repository's migration directory.
const committedDir = "../../migrations"

// copyDir copies the migration files (*.sql, atlas.sum) of src into a new
// temporary directory and returns it.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".sql") || n == migrate.HashFileName {
			b, err := os.ReadFile(filepath.Join(src, n))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, n), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dst
}

// TestCommittedMigrationsUpToDate fails when the Ent schemas changed without
// a new migration: regenerating from them must plan nothing.
func TestCommittedMigrationsUpToDate(t *testing.T) {
	dir := copyDir(t, committedDir)
	file, err := Generate(context.Background(), Options{DevURL: newDatabase(t), Dir: dir, Name: "drift"})
	if !errors.Is(err, migrate.ErrNoPlan) {
		if file != "" {
			b, _ := os.ReadFile(file)
			t.Logf("%s:\n%s", filepath.Base(file), b)
		}
		t.Fatalf("Generate on the committed migrations: got (%q, %v), want ErrNoPlan; run `make migration NAME=...`", file, err)
	}
}

// TestCommittedMigrationsValid checks atlas.sum against the files.
func TestCommittedMigrationsValid(t *testing.T) {
	dir, err := migrate.NewLocalDir(committedDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.Validate(dir); err != nil {
		t.Fatal(err)
	}
	files, err := dir.Files()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no migration files")
	}
}

// TestGenerateFromScratch generates the whole schema into an empty
// directory, then checks that a second run plans nothing (the diff hook's
// additions compare equal to what the first file created) and that the
// directory stays valid. With MTDB_WRITE_MIGRATIONS set to a directory, the
// files are written there (used to recreate migrations/ before a release).
func TestGenerateFromScratch(t *testing.T) {
	dir := os.Getenv("MTDB_WRITE_MIGRATIONS")
	if dir == "" {
		dir = t.TempDir()
	}
	ctx := context.Background()
	file, err := Generate(ctx, Options{DevURL: newDatabase(t), Dir: dir, Name: "initial"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(file, "_initial.sql") {
		t.Errorf("file = %q, want <version>_initial.sql", file)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`CREATE TABLE "tenants"`,
		`CONSTRAINT "projects_users_projects" FOREIGN KEY ("tenant_id", "owner_id") REFERENCES "users" ("tenant_id", "id")`,
		`CONSTRAINT "users_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants" ("id")`,
		`CREATE INDEX "tenants_parent_name_idx"`,
		`CREATE INDEX "tenants_subsidiary_name_idx"`,
		`REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC`,
		`ALTER TABLE "users" FORCE ROW LEVEL SECURITY`,
		`CREATE TRIGGER "tenants_audit"`,
		`CREATE TRIGGER "users_audit"`,
		`CREATE POLICY "audit_events_select"`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", filepath.Base(file), want)
		}
	}
	if strings.Contains(string(b), `"audit_events_tenant_id_fkey"`) {
		t.Errorf("audit_events references tenants: the events of a deleted tenant must outlive it")
	}
	file, err = Generate(ctx, Options{DevURL: newDatabase(t), Dir: dir, Name: "again"})
	if !errors.Is(err, migrate.ErrNoPlan) {
		if file != "" {
			b, _ := os.ReadFile(file)
			t.Logf("%s:\n%s", filepath.Base(file), b)
		}
		t.Fatalf("second Generate: got (%q, %v), want ErrNoPlan", file, err)
	}
	ld, err := migrate.NewLocalDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.Validate(ld); err != nil {
		t.Fatal(err)
	}
}

func TestGenerateOptionsRequired(t *testing.T) {
	for name, opts := range map[string]Options{
		"no dev URL": {Dir: t.TempDir(), Name: "x"},
		"no dir":     {DevURL: "postgres://localhost/x", Name: "x"},
		"no name":    {DevURL: "postgres://localhost/x", Dir: t.TempDir()},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Generate(context.Background(), opts); err == nil {
				t.Fatal("Generate succeeded")
			}
		})
	}
}

// TestGenerateNewTenantScopedTable adds a tenant-scoped table, as the
// TenantScoped mixin would generate it, referencing users, on top of the
// committed migrations: the new file must create it with composite foreign
// keys and its row-level security, apply cleanly, and leave nothing to plan.
func TestGenerateNewTenantScopedTable(t *testing.T) {
	cols := []*entschema.Column{
		{Name: "id", Type: field.TypeUUID},
		{Name: "tenant_id", Type: field.TypeUUID},
		{Name: "user_id", Type: field.TypeUUID},
	}
	notes := &entschema.Table{
		Name:       "fixture_notes",
		Columns:    cols,
		PrimaryKey: cols[:1],
		ForeignKeys: []*entschema.ForeignKey{{
			Symbol:     "fixture_notes_users_fixture_notes",
			Columns:    cols[2:3],
			RefColumns: entmigrate.UsersColumns[:1],
			RefTable:   entmigrate.UsersTable,
			OnDelete:   entschema.NoAction,
		}},
		Indexes: []*entschema.Index{{Name: "fixture_note_tenant_id_id", Unique: true, Columns: []*entschema.Column{cols[1], cols[0]}}},
	}
	tables := append(slices.Clone(entmigrate.Tables), notes)
	dir := copyDir(t, committedDir)
	ctx := context.Background()
	file, err := generate(ctx, Options{DevURL: newDatabase(t), Dir: dir, Name: "add_fixture_notes"}, tables)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{
		`CREATE TABLE "fixture_notes"`,
		`FOREIGN KEY ("tenant_id", "user_id") REFERENCES "users" ("tenant_id", "id")`,
		`CONSTRAINT "fixture_notes_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants" ("id")`,
		`ALTER TABLE "fixture_notes" ENABLE ROW LEVEL SECURITY`,
		`ALTER TABLE "fixture_notes" FORCE ROW LEVEL SECURITY`,
		`CREATE POLICY "fixture_notes_select"`,
		`CREATE POLICY "fixture_notes_insert"`,
		`CREATE POLICY "fixture_notes_update"`,
		`CREATE POLICY "fixture_notes_delete"`,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "fixture_notes" TO mtdb_app`,
		`CREATE TRIGGER "fixture_notes_audit" AFTER INSERT OR UPDATE OR DELETE ON "fixture_notes"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("%s lacks %s:\n%s", filepath.Base(file), want, got)
		}
	}
	if strings.Contains(got, "CREATE ROLE") || strings.Contains(got, `CREATE POLICY "users_`) {
		t.Errorf("%s repeats the first migration:\n%s", filepath.Base(file), got)
	}
	_, err = generate(ctx, Options{DevURL: newDatabase(t), Dir: dir, Name: "again"}, tables)
	if !errors.Is(err, migrate.ErrNoPlan) {
		t.Fatalf("second generate: %v, want ErrNoPlan", err)
	}
}
