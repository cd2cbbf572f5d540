package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/tenant"
)

type auditEventOut struct {
	ID         int64                                 `json:"id"`
	TenantID   uuid.UUID                             `json:"tenant_id"`
	Table      string                                `json:"table"`
	RowID      uuid.UUID                             `json:"row_id"`
	Operation  string                                `json:"operation"`
	Changes    map[string]map[string]json.RawMessage `json:"changes"`
	ActorSub   string                                `json:"actor_sub"`
	ActorRole  string                                `json:"actor_role"`
	RequestID  string                                `json:"request_id"`
	OccurredAt time.Time                             `json:"occurred_at"`
}

type auditListOut struct {
	AuditEvents []auditEventOut `json:"audit_events"`
	NextCursor  *string         `json:"next_cursor"`
	Limit       int             `json:"limit"`
}

// tokenAs mints a token with subject sub.
func (a *api) tokenAs(role tenant.Role, id uuid.UUID, sub string) string {
	a.t.Helper()
	tok, err := auth.Sign([]byte(testSecret), auth.Claims{Subject: sub, Role: role, TenantID: id}, time.Hour, "", "")
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

// events lists the audit events token sees with the query q.
func (o *org) events(t *testing.T, token string, q url.Values) auditListOut {
	t.Helper()
	var out auditListOut
	o.do(token, "GET", "/api/v1/audit-events?"+q.Encode(), nil).want(t, 200, &out)
	return out
}

// withRequestID returns the events of out written by request id.
func withRequestID(out auditListOut, id string) []auditEventOut {
	var got []auditEventOut
	for _, e := range out.AuditEvents {
		if e.RequestID == id {
			got = append(got, e)
		}
	}
	return got
}

func TestAuditEventsHTTP(t *testing.T) {
	o := newOrg(t)
	alice := o.tokenAs(tenant.RoleTenantAdmin, o.A.TenantID, "alice")
	all := url.Values{"limit": {"1000"}}

	// One write, one event, with the actor and the request id.
	var user struct {
		ID uuid.UUID `json:"id"`
	}
	o.do(alice, "POST", "/api/v1/users", map[string]any{"email": "Bob@Example.com", "display_name": "Bob"},
		"X-Request-ID", "req-create-bob").want(t, 201, &user)
	got := withRequestID(o.events(t, alice, all), "req-create-bob")
	if len(got) != 1 {
		t.Fatalf("create: %d events, want 1: %+v", len(got), got)
	}
	e := got[0]
	if e.Table != "users" || e.RowID != user.ID || e.Operation != "insert" || e.TenantID != o.A.TenantID ||
		e.ActorSub != "alice" || e.ActorRole != "tenant_admin" || e.OccurredAt.IsZero() {
		t.Fatalf("create event %+v", e)
	}
	if string(e.Changes["email"]["new"]) != `"bob@example.com"` || e.Changes["email"]["old"] != nil {
		t.Fatalf("create changes %v", e.Changes)
	}

	// An update records only the changed columns, old and new.
	o.do(alice, "PATCH", "/api/v1/users/"+user.ID.String(), map[string]any{"display_name": "Robert"},
		"X-Request-ID", "req-rename-bob").want(t, 200, nil)
	got = withRequestID(o.events(t, alice, url.Values{"row_id": {user.ID.String()}, "operation": {"update"}}), "req-rename-bob")
	if len(got) != 1 {
		t.Fatalf("update: %d events, want 1", len(got))
	}
	ch := got[0].Changes
	if string(ch["display_name"]["old"]) != `"Bob"` || string(ch["display_name"]["new"]) != `"Robert"` {
		t.Fatalf("update changes %v", ch)
	}
	for col := range ch {
		if col != "display_name" && col != "updated_at" {
			t.Errorf("update records unchanged column %s", col)
		}
	}

	// A soft delete is a delete. (Its events are the platform admin's to
	// read from then on: the parent's visible tenants are the live ones.)
	o.do(alice, "DELETE", "/api/v1/tenants/"+o.A2.TenantID.String(), nil, "X-Request-ID", "req-delete-a2").want(t, 204, nil)
	got = withRequestID(o.events(t, o.platform, url.Values{"table": {"tenants"}, "row_id": {o.A2.TenantID.String()}}), "req-delete-a2")
	if len(got) != 1 || got[0].Operation != "delete" || got[0].TenantID != o.A2.TenantID || got[0].Changes["deleted_at"] == nil {
		t.Fatalf("soft delete events %+v", got)
	}

	// Rolled-back requests leave nothing.
	o.do(alice, "POST", "/api/v1/users", map[string]any{"email": "bob@example.com", "display_name": "Dup"},
		"X-Request-ID", "req-duplicate").wantError(t, 409, "CONFLICT", "")
	o.do(alice, "POST", "/api/v1/projects", map[string]any{"name": "P", "owner_id": uuid.NewString()},
		"X-Request-ID", "req-bad-owner").wantError(t, 400, "VALIDATION_ERROR", "owner_id")
	everything := o.events(t, o.platform, all)
	for _, id := range []string{"req-duplicate", "req-bad-owner"} {
		if got := withRequestID(everything, id); len(got) != 0 {
			t.Errorf("rolled-back request %s left events %+v", id, got)
		}
	}

	// Who sees what.
	o.do(o.memberA, "GET", "/api/v1/audit-events", nil).wantError(t, 403, "FORBIDDEN", "")
	for _, e := range o.events(t, o.adminB, all).AuditEvents {
		if e.TenantID != o.B.TenantID {
			t.Fatalf("another organisation sees %+v", e)
		}
	}
	if n := len(o.events(t, o.adminB, url.Values{"row_id": {user.ID.String()}}).AuditEvents); n != 0 {
		t.Fatalf("a foreign row id returns %d events", n)
	}
	for _, e := range o.events(t, o.adminA1, all).AuditEvents {
		if e.TenantID != o.A1.TenantID {
			t.Fatalf("a subsidiary sees its parent's event %+v", e)
		}
	}
	seenA := map[uuid.UUID]bool{}
	for _, e := range o.events(t, alice, all).AuditEvents {
		seenA[e.TenantID] = true
	}
	if !seenA[o.A.TenantID] || !seenA[o.A1.TenantID] || seenA[o.B.TenantID] {
		t.Fatalf("the parent sees the tenants %v", seenA)
	}
	if n := len(o.events(t, o.platform, url.Values{"actor": {"alice"}}).AuditEvents); n != 3 {
		t.Fatalf("platform admin: %d events by alice, want 3", n)
	}

	// Cursor pages walk every event, newest first, once.
	var ids []int64
	q := url.Values{"limit": {"2"}}
	for page := 0; ; page++ {
		out := o.events(t, o.platform, q)
		for _, e := range out.AuditEvents {
			ids = append(ids, e.ID)
		}
		if out.NextCursor == nil {
			break
		}
		if page > 100 {
			t.Fatal("no last page")
		}
		q.Set("after", *out.NextCursor)
	}
	if len(ids) != len(everything.AuditEvents) {
		t.Fatalf("pages hold %d events, one page of 1000 holds %d", len(ids), len(everything.AuditEvents))
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] >= ids[i-1] {
			t.Fatalf("not newest first: %v", ids)
		}
	}

	// Time range.
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if n := len(o.events(t, o.platform, url.Values{"since": {future}}).AuditEvents); n != 0 {
		t.Fatalf("events since the future: %d", n)
	}
	if n := len(o.events(t, o.platform, url.Values{"until": {future}, "limit": {"1000"}}).AuditEvents); n != len(ids) {
		t.Fatalf("events until the future: %d, want %d", n, len(ids))
	}
}

func TestAuditEventsBadInput(t *testing.T) {
	o := newOrg(t)
	for _, c := range []struct{ query, field string }{
		{"table=bogus", "table"},
		{"table=audit_events", "table"},
		{"operation=upsert", "operation"},
		{"row_id=not-a-uuid", "row_id"},
		{"since=yesterday", "since"},
		{"until=2026-13-01T00:00:00Z", "until"},
		{"since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", "until"},
		{"since=2026-01-01T00:00:00Z&until=2026-01-01T00:00:00Z", "until"},
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"limit=ten", "limit"},
		{"after=garbage", "after"},
		{"offset=5", "offset"},
		{"colour=red", "colour"},
		{"actor=" + strings.Repeat("x", 300), "actor"},
		{"actor=a%00b", "actor"},
	} {
		t.Run(c.query, func(t *testing.T) {
			o.do(o.adminA, "GET", "/api/v1/audit-events?"+c.query, nil).wantError(t, 400, "VALIDATION_ERROR", c.field)
		})
	}
}

// TestAuditEveryWrite sends every write route of the API once, each with
// its own request id, as a tenant admin with the subject "alice": each
// must leave exactly one event, for the row it wrote, with that actor,
// role and request id (a write that slipped past its trigger, or touched
// a second audited row, fails here). Soft deletes are deletes; an update
// records only what it changed; a key's hash only as changed.
func TestAuditEveryWrite(t *testing.T) {
	o := newOrg(t)
	alice := o.tokenAs(tenant.RoleTenantAdmin, o.A.TenantID, "alice")
	var (
		sub     tenantOut
		user    struct{ ID uuid.UUID }
		project struct{ ID uuid.UUID }
		key     struct{ ID uuid.UUID }
	)
	steps := []struct {
		method, path string
		body         any
		code         int
		out          any
		table, op    string
		row          func() uuid.UUID
		changed      []string // update: the recorded columns beside updated_at
	}{
		{"POST", "/api/v1/tenants", map[string]any{"name": "Audited", "tenant_type": "subsidiary"}, 201, &sub,
			"tenants", "insert", func() uuid.UUID { return sub.TenantID }, nil},
		{"PATCH", "/api/v1/tenants/{sub}", map[string]any{"name": "Audited 2"}, 200, nil,
			"tenants", "update", func() uuid.UUID { return sub.TenantID }, []string{"name"}},
		{"PUT", "/api/v1/tenants/{sub}", map[string]any{"metadata": map[string]any{"tier": "gold"}}, 200, nil,
			"tenants", "update", func() uuid.UUID { return sub.TenantID }, []string{"metadata"}},
		{"POST", "/api/v1/users", map[string]any{"email": "carol@example.com", "display_name": "Carol"}, 201, &user,
			"users", "insert", func() uuid.UUID { return user.ID }, nil},
		{"PATCH", "/api/v1/users/{user}", map[string]any{"display_name": "Caroline"}, 200, nil,
			"users", "update", func() uuid.UUID { return user.ID }, []string{"display_name"}},
		{"POST", "/api/v1/projects", map[string]any{"name": "Ledger", "owner_id": "{user}"}, 201, &project,
			"projects", "insert", func() uuid.UUID { return project.ID }, nil},
		{"PATCH", "/api/v1/projects/{project}", map[string]any{"description": "books"}, 200, nil,
			"projects", "update", func() uuid.UUID { return project.ID }, []string{"description"}},
		{"POST", "/api/v1/api-keys", map[string]any{"name": "nightly", "role": "member"}, 201, &key,
			"api_keys", "insert", func() uuid.UUID { return key.ID }, nil},
		{"DELETE", "/api/v1/api-keys/{key}", nil, 204, nil,
			"api_keys", "delete", func() uuid.UUID { return key.ID }, nil},
		{"DELETE", "/api/v1/projects/{project}", nil, 204, nil,
			"projects", "delete", func() uuid.UUID { return project.ID }, nil},
		{"DELETE", "/api/v1/users/{user}", nil, 204, nil,
			"users", "delete", func() uuid.UUID { return user.ID }, nil},
		{"DELETE", "/api/v1/tenants/{sub}", nil, 204, nil,
			"tenants", "delete", func() uuid.UUID { return sub.TenantID }, nil},
	}
	ids := func(s string) string {
		return strings.NewReplacer("{sub}", sub.TenantID.String(), "{user}", user.ID.String(),
			"{project}", project.ID.String(), "{key}", key.ID.String()).Replace(s)
	}
	for i, s := range steps {
		body := s.body
		if m, ok := body.(map[string]any); ok {
			for k, v := range m {
				if str, ok := v.(string); ok {
					m[k] = ids(str)
				}
			}
		}
		reqID := fmt.Sprintf("req-every-write-%d", i)
		name := s.method + " " + s.path
		o.do(alice, s.method, ids(s.path), body, "X-Request-ID", reqID).want(t, s.code, s.out)
		got := withRequestID(o.events(t, o.platform, url.Values{"limit": {"1000"}}), reqID)
		if len(got) != 1 {
			t.Fatalf("%s: %d events, want 1: %+v", name, len(got), got)
		}
		e := got[0]
		wantTenant := o.A.TenantID
		if s.table == "tenants" {
			wantTenant = sub.TenantID
		}
		if e.Table != s.table || e.Operation != s.op || e.RowID != s.row() || e.TenantID != wantTenant ||
			e.ActorSub != "alice" || e.ActorRole != "tenant_admin" {
			t.Errorf("%s: event %+v, want %s %s of %s in %s by alice", name, e, s.op, s.table, s.row(), wantTenant)
		}
		if s.op == "update" {
			var cols []string
			for c := range e.Changes {
				if c != "updated_at" {
					cols = append(cols, c)
				}
			}
			slices.Sort(cols)
			if !slices.Equal(cols, s.changed) {
				t.Errorf("%s: records the columns %v, want %v (and updated_at)", name, cols, s.changed)
			}
		}
		if s.table == "tenants" && s.op == "delete" && e.Changes["deleted_at"] == nil {
			t.Errorf("%s: the soft delete records no deleted_at: %v", name, e.Changes)
		}
		if s.table == "api_keys" {
			if h := string(e.Changes["key_hash"]["changed"]); h != "true" || len(e.Changes["key_hash"]) != 1 {
				t.Errorf("%s: key_hash recorded as %v, want only {\"changed\": true}", name, e.Changes["key_hash"])
			}
		}
	}
}

// TestAuditRolledBackRequestLeavesNoEvent: a request whose write succeeded,
// trigger and all, but whose transaction then fails at COMMIT (a deferred
// constraint trigger raising a serialization failure) leaves no event; when
// it is run again and commits, exactly one event remains of all its runs.
func TestAuditRolledBackRequestLeavesNoEvent(t *testing.T) {
	s, db := newServer(t, nil)
	a := &api{t: t, h: specChecked(t, failOn500(t, s.Handler()))}
	owner := db.OwnerPool(t)
	ctx := context.Background()
	for _, stmt := range []string{
		`CREATE TABLE doom_plan (failures bigint NOT NULL)`,
		`INSERT INTO doom_plan VALUES (0)`,
		`CREATE SEQUENCE doom_runs`,
		`CREATE FUNCTION doom() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
		 BEGIN
		   IF NEW.display_name = 'Doomed' AND nextval('doom_runs') <= (SELECT failures FROM doom_plan) THEN
		     RAISE EXCEPTION 'doomed at commit' USING ERRCODE = 'serialization_failure';
		   END IF;
		   RETURN NULL;
		 END $$`,
		`CREATE CONSTRAINT TRIGGER doom AFTER INSERT ON users DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION doom()`,
	} {
		if _, err := owner.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	fail := func(runs int) {
		if _, err := owner.Exec(ctx, `UPDATE doom_plan SET failures = (SELECT last_value FROM doom_runs) + $1`, runs); err != nil {
			t.Fatal(err)
		}
	}
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := owner.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var ten tenantOut
	a.do(a.token(tenant.RolePlatformAdmin, uuid.Nil), "POST", "/api/v1/tenants", map[string]any{"name": "Doom", "tenant_type": "parent"}).want(t, 201, &ten)
	admin := a.tokenAs(tenant.RoleTenantAdmin, ten.TenantID, "alice")
	body := map[string]any{"email": "doomed@example.com", "display_name": "Doomed"}

	fail(1000)
	a.do(admin, "POST", "/api/v1/users", body, "X-Request-ID", "req-doomed").wantError(t, 503, "SERVICE_UNAVAILABLE", "")
	if n := count(`SELECT count(*) FROM users WHERE email = 'doomed@example.com'`); n != 0 {
		t.Fatalf("%d users after the failed commit", n)
	}
	if n := count(`SELECT count(*) FROM audit_events WHERE request_id = 'req-doomed'`); n != 0 {
		t.Fatalf("the rolled-back request left %d events", n)
	}

	fail(database.MaxTxAttempts - 1)
	a.do(admin, "POST", "/api/v1/users", body, "X-Request-ID", "req-doomed-again").want(t, 201, nil)
	if n := count(`SELECT count(*) FROM audit_events WHERE request_id = 'req-doomed-again'`); n != 1 {
		t.Fatalf("a request committed on its %d. run left %d events, want 1", database.MaxTxAttempts, n)
	}
}
