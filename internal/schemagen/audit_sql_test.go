package schemagen

import (
	"strings"
	"testing"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/schema"
)

func TestFormatterAuditsNewTenantScopedTable(t *testing.T) {
	files, err := Formatter{Redacted: map[string][]string{"invoices": {"secret", "it's"}}, Ignored: map[string][]string{"invoices": {"seen_at"}}}.Format(&migrate.Plan{
		Version: "20260101000000", Name: "test", Changes: addTable(table("invoices", "id", "tenant_id", "secret"))})
	if err != nil {
		t.Fatal(err)
	}
	stmts, err := files[0].Stmts()
	if err != nil {
		t.Fatal(err)
	}
	created := index(t, stmts, `CREATE INDEX ON "invoices"`)
	trigger := index(t, stmts, `CREATE TRIGGER "invoices_audit" AFTER INSERT OR UPDATE OR DELETE ON "invoices"
FOR EACH ROW EXECUTE FUNCTION mtdb_audit('secret', 'it''s', '', 'seen_at')`)
	if trigger < created {
		t.Errorf("the trigger comes before the table")
	}
}

func TestFormatterCreatesAuditTable(t *testing.T) {
	f := Formatter{Audited: []string{"projects", "tenants", "users"}}
	files, err := f.Format(&migrate.Plan{Version: "20260101000000", Name: "test",
		Changes: addTable(table(auditTable, "id", "tenant_id", "row_id"))})
	if err != nil {
		t.Fatal(err)
	}
	stmts, err := files[0].Stmts()
	if err != nil {
		t.Fatal(err)
	}
	fn := index(t, stmts, "CREATE OR REPLACE FUNCTION mtdb_audit() RETURNS trigger\nLANGUAGE plpgsql SECURITY DEFINER\n"+pinnedSearchPath)
	revoke := index(t, stmts, "REVOKE ALL ON FUNCTION mtdb_audit() FROM PUBLIC")
	created := index(t, stmts, `CREATE INDEX ON "audit_events"`)
	enable := index(t, stmts, `ALTER TABLE "audit_events" ENABLE ROW LEVEL SECURITY`)
	policy := index(t, stmts, `CREATE POLICY "audit_events_select" ON "audit_events" AS PERMISSIVE FOR SELECT TO mtdb_app USING (`+auditPolicy+`)`)
	grant := index(t, stmts, `GRANT SELECT ON TABLE "audit_events" TO mtdb_app`)
	last := created
	for _, i := range []int{fn, revoke} {
		if i > created {
			t.Errorf("the function comes after the table: %d", i)
		}
	}
	for _, i := range []int{enable, policy, grant} {
		if i < created {
			t.Errorf("audit_events statement %d before the table", i)
		}
	}
	for _, name := range f.Audited {
		i := index(t, stmts, `CREATE TRIGGER "`+name+`_audit"`)
		if i < last {
			t.Errorf("trigger of %s out of order", name)
		}
		last = i
	}
	for _, s := range stmts {
		for _, bad := range []string{"FORCE ROW LEVEL SECURITY", "FOR INSERT", "FOR UPDATE", "FOR DELETE", "GRANT SELECT, INSERT"} {
			if strings.Contains(s, bad) {
				t.Errorf("audit_events must be read-only: %s", s)
			}
		}
	}
}

func TestFormatterRefusesTableWithoutUUIDID(t *testing.T) {
	tbl := table("invoices", "tenant_id")
	tbl.AddColumns(schema.NewColumn("id").SetType(&schema.IntegerType{T: "bigint"}))
	_, err := Formatter{}.Format(&migrate.Plan{Version: "20260101000000", Name: "test", Changes: addTable(tbl)})
	if err == nil || !strings.Contains(err.Error(), "uuid id") {
		t.Fatalf("err = %v, want a refusal naming the uuid id", err)
	}
}

// TestFormatterSkipsExemptTable: a schema annotated NotAudited()
// (idempotency_keys) gets its policies but no audit trigger.
func TestFormatterSkipsExemptTable(t *testing.T) {
	stmts := format(t, addTable(table("idempotency_keys", "id", "tenant_id")))
	index(t, stmts, `CREATE POLICY "idempotency_keys_select"`)
	for _, s := range stmts {
		if strings.Contains(s, "mtdb_audit") {
			t.Errorf("exempt table gets %s", s)
		}
	}
}
