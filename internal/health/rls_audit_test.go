package health

import (
	"slices"
	"strings"
	"testing"
)

// TestCheckRLSFindsAuditBreakage breaks the audit trail one way at a time:
// the check must name the table (or function) concerned.
func TestCheckRLSFindsAuditBreakage(t *testing.T) {
	tests := []struct {
		name  string
		stmts []string
		want  []string
	}{
		{"trigger disabled", []string{`ALTER TABLE users DISABLE TRIGGER users_audit`},
			[]string{"users: audit trigger users_audit is disabled"}},
		{"trigger fires only for replicas", []string{`ALTER TABLE projects ENABLE REPLICA TRIGGER projects_audit`},
			[]string{"projects: audit trigger projects_audit is disabled"}},
		{"trigger on tenants dropped", []string{`DROP TRIGGER tenants_audit ON tenants`},
			[]string{"tenants: audit trigger is missing (no trigger executes mtdb_audit())"}},
		{"trigger for inserts only", []string{`DROP TRIGGER users_audit ON users`,
			`CREATE TRIGGER users_audit AFTER INSERT ON users FOR EACH ROW EXECUTE FUNCTION mtdb_audit()`},
			[]string{"users: audit trigger users_audit is not an unconditional AFTER INSERT OR UPDATE OR DELETE row trigger"}},
		{"trigger on some columns", []string{`DROP TRIGGER users_audit ON users`,
			`CREATE TRIGGER users_audit AFTER INSERT OR DELETE OR UPDATE OF email ON users FOR EACH ROW EXECUTE FUNCTION mtdb_audit()`},
			[]string{"users: audit trigger users_audit is not an unconditional AFTER INSERT OR UPDATE OR DELETE row trigger"}},
		{"app role may insert events", []string{`GRANT INSERT ON audit_events TO mtdb_app`},
			[]string{"audit_events: role mtdb_app has INSERT (the audit trail must be append-only through mtdb_audit())"}},
		{"app role may delete and truncate events", []string{`GRANT DELETE, TRUNCATE ON audit_events TO mtdb_app`},
			[]string{
				"audit_events: role mtdb_app has DELETE (the audit trail must be append-only through mtdb_audit())",
				"audit_events: role mtdb_app has TRUNCATE (the audit trail must be append-only through mtdb_audit())",
			}},
		{"events readable by nobody", []string{`DROP POLICY audit_events_select ON audit_events`},
			[]string{"audit_events: no SELECT policy applies to role mtdb_app"}},
		{"row-level security off", []string{`ALTER TABLE audit_events DISABLE ROW LEVEL SECURITY`},
			[]string{"audit_events: row level security is not enabled"}},
		{"function with the caller's search_path", []string{`ALTER FUNCTION mtdb_audit() RESET search_path`},
			[]string{"function mtdb_audit: search_path does not list pg_temp last (temporary objects can shadow its tables and types)"}},
		{"function runs as the caller", []string{`ALTER FUNCTION mtdb_audit() SECURITY INVOKER`},
			[]string{"function mtdb_audit: is not SECURITY DEFINER"}},
		{"app role may execute the function", []string{`GRANT EXECUTE ON FUNCTION mtdb_audit() TO PUBLIC`},
			[]string{"function mtdb_audit: role mtdb_app may execute it (and attach it to a table of its own)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newRLSDB(t)
			d.exec(t, tt.stmts...)
			got := d.check(t, "")
			if !slices.Equal(got, tt.want) {
				t.Fatalf("findings:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}
