package schemagen

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	entmigrate "github.com/mtdb/mtdb/ent/migrate"
	mtdbmigrate "github.com/mtdb/mtdb/internal/migrate"
)

// auditCount returns the number of events, read as the superuser.
func (f *fixture) auditCount(t *testing.T) int {
	t.Helper()
	var n int
	if err := f.db.QueryRow(`SELECT count(*) FROM audit_events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAuditTamperProof attacks the audit trail as the restricted role: it
// must neither write, change nor remove events, nor switch the triggers
// off, nor attach the trigger function to a table of its own; every attempt
// fails with insufficient_privilege and the events stay as they were.
func TestAuditTamperProof(t *testing.T) {
	f := newFixture(t)
	before := f.auditCount(t)
	if before == 0 {
		t.Fatal("the fixture's inserts left no events")
	}
	for _, attack := range []struct{ name, sql string }{
		{"insert an event", `INSERT INTO audit_events (tenant_id, table_name, row_id, operation, changes, occurred_at)
			VALUES (mtdb_current_tenant(), 'users', gen_random_uuid(), 'insert', '{}', now())`},
		{"rewrite the actor", `UPDATE audit_events SET actor_sub = 'someone else'`},
		{"delete events", `DELETE FROM audit_events`},
		{"truncate", `TRUNCATE audit_events`},
		{"disable a trigger", `ALTER TABLE users DISABLE TRIGGER users_audit`},
		{"drop a trigger", `DROP TRIGGER users_audit ON users`},
		{"disable every trigger", `ALTER TABLE users DISABLE TRIGGER ALL`},
		{"skip triggers as a replica", `SET LOCAL session_replication_role = replica`},
		{"replace the function", `CREATE OR REPLACE FUNCTION public.mtdb_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$`},
		{"change the function", `ALTER FUNCTION mtdb_audit() SECURITY INVOKER`},
		{"forge through a table of its own", `CREATE TEMP TABLE users (id uuid, tenant_id uuid);
			CREATE TRIGGER forged AFTER INSERT ON pg_temp.users FOR EACH ROW EXECUTE FUNCTION public.mtdb_audit()`},
	} {
		t.Run(attack.name, func(t *testing.T) {
			err := f.as(t, f.a.String(), "tenant_admin", func(tx *sql.Tx) error {
				_, err := tx.Exec(attack.sql)
				return err
			})
			if got := sqlState(err); got != "42501" {
				t.Fatalf("SQLSTATE %q (%v), want 42501 insufficient_privilege", got, err)
			}
			if n := f.auditCount(t); n != before {
				t.Fatalf("events %d, want %d", n, before)
			}
		})
	}
}

// TestAuditRecordsAppWrites writes as the restricted role, with the actor
// and request settings of a request: each write adds exactly one event
// with them, a rolled-back transaction none, and another organisation
// reads none of them.
func TestAuditRecordsAppWrites(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	write := func(commit bool, stmt string, args ...any) {
		t.Helper()
		tx, err := f.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.Exec(`SELECT set_config('role', $1, true), set_config('app.tenant_id', $2, true),
			set_config('app.user_id', 'carol', true), set_config('app.role', 'tenant_admin', true),
			set_config('app.request_id', 'req-42', true)`, appRole, f.a.String()); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(stmt, args...); err != nil {
			t.Fatal(err)
		}
		if commit {
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
	before := f.auditCount(t)
	id := uuid.New()
	write(false, `INSERT INTO users (id, tenant_id, email, role, created_at, updated_at) VALUES ($1, $2, 'x@example.com', 'member', now(), now())`, id, f.a)
	if n := f.auditCount(t); n != before {
		t.Fatalf("a rolled-back insert left %d events", n-before)
	}
	write(true, `INSERT INTO users (id, tenant_id, email, role, created_at, updated_at) VALUES ($1, $2, 'x@example.com', 'member', now(), now())`, id, f.a)
	write(true, `UPDATE users SET email = 'y@example.com' WHERE id = $1`, id)
	write(true, `DELETE FROM users WHERE id = $1`, id)

	type event struct {
		tenant                   uuid.UUID
		op, actor, role, request string
		changes                  map[string]map[string]any
	}
	rows, err := f.db.Query(`SELECT tenant_id, operation, actor_sub, actor_role, request_id, changes
		FROM audit_events WHERE table_name = 'users' AND row_id = $1 ORDER BY id`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []event
	for rows.Next() {
		var e event
		var raw []byte
		if err := rows.Scan(&e.tenant, &e.op, &e.actor, &e.role, &e.request, &raw); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &e.changes); err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	if len(got) != 3 {
		t.Fatalf("%d events, want 3: %+v", len(got), got)
	}
	for i, op := range []string{"insert", "update", "delete"} {
		e := got[i]
		if e.op != op || e.tenant != f.a || e.actor != "carol" || e.role != "tenant_admin" || e.request != "req-42" {
			t.Errorf("event %d: %+v", i, e)
		}
	}
	if c := got[1].changes; len(c) != 1 || c["email"]["old"] != "x@example.com" || c["email"]["new"] != "y@example.com" {
		t.Errorf("update changes %v, want only email", c)
	}
	if c := got[2].changes; c["email"]["old"] != "y@example.com" || c["email"]["new"] != nil {
		t.Errorf("delete changes %v", c)
	}

	// Reading through the policy: B sees none of A's events, A1 none of its
	// parent's, A its own.
	count := func(tenant string) int {
		var n int
		if err := f.as(t, tenant, "tenant_admin", func(tx *sql.Tx) error {
			return tx.QueryRow(`SELECT count(*) FROM audit_events WHERE row_id = $1`, id).Scan(&n)
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(f.b.String()); n != 0 {
		t.Errorf("another organisation reads %d events", n)
	}
	if n := count(f.a1.String()); n != 0 {
		t.Errorf("a subsidiary reads %d events of its parent", n)
	}
	if n := count(f.a.String()); n != 3 {
		t.Errorf("the tenant reads %d of its events, want 3", n)
	}
	if n := count(""); n != 0 {
		t.Errorf("no tenant reads %d events", n)
	}
}

// TestAuditRedactedColumn: a column named in the trigger's arguments is
// recorded as changed, never with its values, when the app role writes it.
func TestAuditRedactedColumn(t *testing.T) {
	f := newFixture(t)
	f.exec(t, `DROP TRIGGER users_audit ON users`)
	for _, s := range auditTriggerSQL("users", []string{"email"}, nil) {
		f.exec(t, s)
	}
	if err := f.as(t, f.a.String(), "tenant_admin", func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE users SET email = 'secret@example.com' WHERE id = $1`, f.userA)
		if err == nil {
			err = tx.Commit()
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var raw string
	if err := f.db.QueryRow(`SELECT changes::text FROM audit_events WHERE row_id = $1 ORDER BY id DESC LIMIT 1`, f.userA).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if raw != `{"email": {"changed": true}}` || strings.Contains(raw, "secret") {
		t.Fatalf("changes %s", raw)
	}
}

// TestAuditTriggersMatchSchemas: the committed migrations give every
// audited table its trigger with the schema's redacted and ignored columns
// (a field newly annotated schema.Redact() or schema.NotAudited() needs a
// migration re-creating its table's trigger), and mtdb_audit() as the
// generator writes it (a change to it needs a migration replacing it).
func TestAuditTriggersMatchSchemas(t *testing.T) {
	db := migratedDB(t)
	for _, table := range mtdbmigrate.AuditedTables() {
		var args []byte
		err := db.QueryRow(`SELECT t.tgargs FROM pg_trigger t WHERE t.tgrelid = $1::regclass AND t.tgname = $2`,
			table, AuditTriggerName(table)).Scan(&args)
		if err != nil {
			t.Fatalf("trigger of %s: %v", table, err)
		}
		got := strings.Split(string(args), "\x00")
		got = got[:len(got)-1] // each argument ends with a NUL
		want := slices.Clone(entmigrate.AuditRedacted[table])
		if ignored := entmigrate.AuditIgnored[table]; len(ignored) > 0 {
			want = append(append(want, ""), ignored...)
		}
		if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("trigger of %s has the arguments %q, the schema wants %q (redacted, then '' and ignored)", table, got, want)
		}
	}
	var body string
	if err := db.QueryRow(`SELECT prosrc FROM pg_proc WHERE oid = 'mtdb_audit()'::regprocedure`).Scan(&body); err != nil {
		t.Fatal(err)
	}
	if _, want, _ := strings.Cut(auditFunctionSQL[0], "$$"); "$$"+body+"$$" != "$$"+want {
		t.Errorf("mtdb_audit() as migrated differs from the generator's:\n%s\nwant:\n%s", body, want)
	}
	if got, want := mtdbmigrate.AuditedTables(), []string{"api_keys", "projects", "tenants", "users"}; !slices.Equal(got, want) {
		t.Errorf("AuditedTables() = %v, want %v", got, want)
	}
}

// TestAuditIgnoredColumns: api_keys.last_used_at is annotated
// schema.NotAudited(): the app role moving it forward through
// mtdb_api_keys_touch (the flush of a key's use) writes no event, while an
// update that changes it with another column is recorded whole, and the
// key's hash is still recorded only as changed.
func TestAuditIgnoredColumns(t *testing.T) {
	f := newFixture(t)
	key := uuid.New()
	asA := func(stmt string, args ...any) {
		t.Helper()
		if err := f.as(t, f.a.String(), "tenant_admin", func(tx *sql.Tx) error {
			_, err := tx.Exec(stmt, args...)
			if err == nil {
				err = tx.Commit()
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	events := func() []string {
		t.Helper()
		rows, err := f.db.Query(`SELECT operation || ' ' || changes::text FROM audit_events WHERE row_id = $1 ORDER BY id`, key)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	asA(`INSERT INTO api_keys (id, tenant_id, name, prefix, key_hash, role, created_by, created_at)
		VALUES ($1, mtdb_current_tenant(), 'nightly', 'mtdb_ignoredcols', sha256('k'), 'member', 'alice', now())`, key)
	if got := events(); len(got) != 1 || !strings.HasPrefix(got[0], "insert ") || !strings.Contains(got[0], `"key_hash": {"changed": true}`) {
		t.Fatalf("insert events %q", got)
	}
	for i := range 3 {
		asA(`SELECT mtdb_api_keys_touch(ARRAY[$1::uuid], ARRAY[now() + $2 * interval '1 second'])`, key, i)
	}
	var used sql.NullTime
	if err := f.db.QueryRow(`SELECT last_used_at FROM api_keys WHERE id = $1`, key).Scan(&used); err != nil || !used.Valid {
		t.Fatalf("last_used_at %v, %v: the touch did not write", used, err)
	}
	if got := events(); len(got) != 1 {
		t.Fatalf("touching last_used_at wrote events: %q", got)
	}
	asA(`UPDATE api_keys SET name = 'weekly', last_used_at = last_used_at + interval '1 hour' WHERE id = $1`, key)
	got := events()
	if len(got) != 2 || !strings.HasPrefix(got[1], "update ") || !strings.Contains(got[1], `"name": {"new": "weekly", "old": "nightly"}`) ||
		!strings.Contains(got[1], `"last_used_at": {"new": `) {
		t.Fatalf("an update of name and last_used_at: events %q", got)
	}
}
