package httpapi_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/auth"
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
