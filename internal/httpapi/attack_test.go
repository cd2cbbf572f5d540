package httpapi_test

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/tenant"
)

// victim is what the attackers go after: organisation A's tenants, users
// and projects, in the parent and in its subsidiary A1.
type victim struct {
	tenants  []uuid.UUID
	users    []userOut
	projects []projectOut
}

// snapshot reads every victim object as its own admin; the bodies must be
// byte-identical after the attacks.
func (o *org) snapshot(t *testing.T, v victim) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	get := func(path, tenantID string) {
		r := o.do(o.adminA, "GET", path, nil, "X-Tenant-ID", tenantID)
		if r.Code != http.StatusOK {
			t.Fatalf("victim cannot read its own %s: %d %s", path, r.Code, r.Body)
		}
		out[path] = r.Body
	}
	for _, id := range v.tenants {
		get("/api/v1/tenants/"+id.String(), id.String())
	}
	for _, u := range v.users {
		get("/api/v1/users/"+u.ID.String(), u.TenantID.String())
	}
	for _, p := range v.projects {
		get("/api/v1/projects/"+p.ID.String(), p.TenantID.String())
	}
	return out
}

// TestAttackMatrix: every attacker (another organisation's admin and
// member, another organisation's subsidiary admin, the victim's own
// subsidiary going up, and a sibling subsidiary) tries every call on the
// victim's objects. Reads and writes get 404 (a member's writes may be
// refused earlier with 403: its role may not write at all), naming the
// victim's tenant gets 403, lists never show a foreign id, and afterwards
// every victim object is exactly as it was.
func TestAttackMatrix(t *testing.T) {
	o := newOrg(t)
	var b1 tenantOut
	adminB := o.adminB
	o.do(adminB, "POST", "/api/v1/tenants", map[string]any{"name": "Globex Labs", "tenant_type": "subsidiary"}).want(t, 201, &b1)

	// The victim: users and projects in A and in A1 (A2 is A1's sibling).
	var v victim
	v.tenants = []uuid.UUID{o.A.TenantID, o.A1.TenantID}
	for _, tid := range v.tenants {
		var u userOut
		o.do(o.adminA, "POST", "/api/v1/users", map[string]any{"email": "v-" + tid.String()[:8] + "@example.com", "display_name": "Victim"},
			"X-Tenant-ID", tid.String()).want(t, 201, &u)
		var p projectOut
		o.do(o.adminA, "POST", "/api/v1/projects", map[string]any{"name": "Secret", "description": "d", "owner_id": u.ID},
			"X-Tenant-ID", tid.String()).want(t, 201, &p)
		v.users, v.projects = append(v.users, u), append(v.projects, p)
	}
	before := o.snapshot(t, v)

	type attacker struct {
		name, token string
		member      bool
		// targets: which of the victim's objects this attacker must not reach.
		tenants  []uuid.UUID
		users    []userOut
		projects []projectOut
		ownUser  uuid.UUID // a user of the attacker's own tenant, for creates
	}
	ownUser := func(token string) uuid.UUID {
		var u userOut
		o.do(token, "POST", "/api/v1/users", map[string]any{"email": fmt.Sprintf("own-%s@example.com", uuid.NewString()[:8]), "display_name": "Own"}).want(t, 201, &u)
		return u.ID
	}
	adminB1 := o.token(tenant.RoleTenantAdmin, b1.TenantID)
	adminA2 := o.token(tenant.RoleTenantAdmin, o.A2.TenantID)
	attackers := []attacker{
		{name: "other organisation's admin", token: adminB, tenants: v.tenants, users: v.users, projects: v.projects, ownUser: ownUser(adminB)},
		{name: "other organisation's member", token: o.token(tenant.RoleMember, o.B.TenantID), member: true, tenants: v.tenants, users: v.users, projects: v.projects},
		{name: "other organisation's subsidiary admin", token: adminB1, tenants: v.tenants, users: v.users, projects: v.projects, ownUser: ownUser(adminB1)},
		{name: "subsidiary going up to its parent", token: o.adminA1, tenants: v.tenants[:1], users: v.users[:1], projects: v.projects[:1], ownUser: ownUser(o.adminA1)},
		{name: "sibling subsidiary", token: adminA2, tenants: v.tenants[1:], users: v.users[1:], projects: v.projects[1:], ownUser: ownUser(adminA2)},
	}

	for _, a := range attackers {
		t.Run(a.name, func(t *testing.T) {
			write := func(method, path string, body any) {
				t.Helper()
				r := o.do(a.token, method, path, body)
				if r.Code == http.StatusNotFound || (a.member && r.Code == http.StatusForbidden) {
					return
				}
				t.Errorf("%s %s: status %d, want 404; body %s", method, path, r.Code, r.Body)
			}
			for _, id := range a.tenants {
				p := "/api/v1/tenants/" + id.String()
				o.do(a.token, "GET", p, nil).wantError(t, 404, "NOT_FOUND", "")
				o.do(a.token, "GET", p+"/hierarchy", nil).wantError(t, 404, "NOT_FOUND", "")
				write("PATCH", p, map[string]any{"name": "pwned"})
				write("PUT", p, map[string]any{"name": "pwned", "metadata": map[string]any{"x": 1}})
				write("DELETE", p, nil)
				// Naming the victim's tenant, by header or cookie, is refused.
				o.do(a.token, "GET", "/api/v1/users", nil, "X-Tenant-ID", id.String()).wantError(t, 403, "FORBIDDEN", "")
				o.do(a.token, "GET", "/api/v1/projects", nil, "Cookie", "tenant_id="+id.String()).wantError(t, 403, "FORBIDDEN", "")
				o.do(a.token, "POST", "/api/v1/users", map[string]any{"email": "x@example.com", "display_name": "X"}, "X-Tenant-ID", id.String()).wantError(t, 403, "FORBIDDEN", "")
				if !a.member {
					// A subsidiary under a parent it cannot see: the parent is "not found".
					r := o.do(a.token, "POST", "/api/v1/tenants", map[string]any{"name": "Implant", "tenant_type": "subsidiary", "parent_tenant_id": id})
					if r.Code != http.StatusNotFound && r.Code != http.StatusForbidden && r.Code != http.StatusBadRequest {
						t.Errorf("POST subsidiary under %s: status %d; body %s", id, r.Code, r.Body)
					}
				}
			}
			for _, u := range a.users {
				p := "/api/v1/users/" + u.ID.String()
				o.do(a.token, "GET", p, nil).wantError(t, 404, "NOT_FOUND", "")
				write("PATCH", p, map[string]any{"display_name": "pwned"})
				write("DELETE", p, nil)
				if !a.member {
					// Another tenant's user as owner answers exactly like a random UUID.
					foreign := o.do(a.token, "POST", "/api/v1/projects", map[string]any{"name": "P", "owner_id": u.ID})
					random := o.do(a.token, "POST", "/api/v1/projects", map[string]any{"name": "P", "owner_id": uuid.New()})
					foreign.wantError(t, 400, "VALIDATION_ERROR", "owner_id")
					random.wantError(t, 400, "VALIDATION_ERROR", "owner_id")
					if fe, re := errBodyWithoutID(t, foreign), errBodyWithoutID(t, random); fe != re {
						t.Errorf("foreign owner %q differs from random owner %q", fe, re)
					}
				}
			}
			for _, p := range a.projects {
				path := "/api/v1/projects/" + p.ID.String()
				o.do(a.token, "GET", path, nil).wantError(t, 404, "NOT_FOUND", "")
				write("PATCH", path, map[string]any{"name": "pwned"})
				if a.ownUser != uuid.Nil {
					write("PATCH", path, map[string]any{"owner_id": a.ownUser})
				}
				write("DELETE", path, nil)
			}
			// Lists never contain a foreign row.
			for _, path := range []string{"/api/v1/tenants", "/api/v1/users", "/api/v1/projects", "/api/v1/users?limit=1000"} {
				r := o.do(a.token, "GET", path, nil).want(t, 200, nil)
				for _, id := range a.tenants {
					// (a subsidiary may know its parent's id: parent_tenant_id is its own data)
					if bytes.Contains(r.Body, []byte(`"tenant_id":"`+id.String())) {
						t.Errorf("GET %s shows victim tenant %s: %s", path, id, r.Body)
					}
				}
				for _, u := range a.users {
					if bytes.Contains(r.Body, []byte(u.ID.String())) {
						t.Errorf("GET %s shows victim user %s", path, u.ID)
					}
				}
			}
		})
	}

	after := o.snapshot(t, v)
	for path, b := range before {
		if !bytes.Equal(b, after[path]) {
			t.Errorf("victim object %s changed:\nbefore %s\nafter  %s", path, b, after[path])
		}
	}
}

// errBodyWithoutID is the error envelope of r without its request_id, to
// compare two answers.
func errBodyWithoutID(t *testing.T, r response) string {
	t.Helper()
	var e errorBody
	r.want(t, r.Code, &e)
	e.Error.RequestID = ""
	return fmt.Sprintf("%d %+v", r.Code, e)
}

// TestInjectionLookingInputIsHarmless: values that look like SQL are
// refused as malformed or stored literally, and the schema is intact.
func TestInjectionLookingInputIsHarmless(t *testing.T) {
	o := newOrg(t)
	evil := "'; DROP TABLE users; --"
	o.do(o.adminA, "GET", "/api/v1/users", nil, "X-Tenant-ID", evil).wantError(t, 400, "VALIDATION_ERROR", "")
	o.do(o.adminA, "GET", "/api/v1/users", nil, "Cookie", "tenant_id=1 OR 1=1").wantError(t, 400, "VALIDATION_ERROR", "")
	var list struct {
		Users      []userOut `json:"users"`
		TotalCount int       `json:"total_count"`
	}
	o.do(o.adminA, "GET", "/api/v1/users?email=%27%20OR%20%271%27%3D%271", nil).want(t, 200, &list)
	if list.TotalCount != 0 || len(list.Users) != 0 {
		t.Fatalf("an injection-looking e-mail filter matched %d users", list.TotalCount)
	}
	o.do(o.adminA, "GET", "/api/v1/users?role="+"member%27%20OR%201%3D1--", nil).wantError(t, 400, "VALIDATION_ERROR", "role")
	o.do(o.adminA, "GET", "/api/v1/users/1%20OR%201=1", nil).wantError(t, 400, "VALIDATION_ERROR", "")
	var u userOut
	o.do(o.adminA, "POST", "/api/v1/users", map[string]any{"email": "bobby@example.com", "display_name": evil}).want(t, 201, &u)
	if u.DisplayName != evil {
		t.Fatalf("display_name stored as %q", u.DisplayName)
	}
	var got userOut
	o.do(o.adminA, "GET", "/api/v1/users/"+u.ID.String(), nil).want(t, 200, &got)
	if got.DisplayName != evil {
		t.Fatalf("display_name read back as %q", got.DisplayName)
	}
	// Another organisation still sees none of it.
	o.do(o.adminB, "GET", "/api/v1/users/"+u.ID.String(), nil).wantError(t, 404, "NOT_FOUND", "")
}

// TestAttackMatrixNoExistenceOracles: for every unique constraint (tenant
// names among organisations, tenant names among the subsidiaries of one
// parent, user e-mail addresses within a tenant), an attacker who writes a
// value already taken by a row it cannot see gets exactly the answer it
// gets for a fresh value: the answer would be the same if the invisible row
// did not exist, so names and addresses can be neither probed nor
// squatted (Idempotency-Key, unique per tenant and caller, is probed the
// same way). Where the caller sees the other row, the conflict is reported.
func TestAttackMatrixNoExistenceOracles(t *testing.T) {
	o := newOrg(t) // Acme (subsidiaries Alpha, Zeta), Globex
	var b1 tenantOut
	o.do(o.adminB, "POST", "/api/v1/tenants", map[string]any{"name": "Globex Labs", "tenant_type": "subsidiary"}).want(t, 201, &b1)
	adminB1 := o.token(tenant.RoleTenantAdmin, b1.TenantID)
	adminA2 := o.token(tenant.RoleTenantAdmin, o.A2.TenantID)
	for _, tid := range []uuid.UUID{o.A.TenantID, o.A1.TenantID} {
		o.do(o.adminA, "POST", "/api/v1/users", map[string]any{"email": "v-" + tid.String()[:8] + "@example.com", "display_name": "Victim"},
			"X-Tenant-ID", tid.String()).want(t, 201, nil)
	}
	emailA, emailA1 := "V-"+o.A.TenantID.String()[:8]+"@example.com", "v-"+o.A1.TenantID.String()[:8]+"@EXAMPLE.com"

	// answer is a response without what legitimately differs (ids, names).
	answer := func(r response) string {
		if r.Code < 300 {
			return fmt.Sprint(r.Code)
		}
		return errBodyWithoutID(t, r)
	}
	n := 0
	fresh := func(s string) string { n++; return fmt.Sprintf("%s %d", s, n) }
	type probe struct {
		name  string
		write func(value string) response
		taken []string // values held by rows the attacker cannot see
		fresh func() string
	}
	rename := func(token string, id uuid.UUID) func(string) response {
		return func(v string) response {
			return o.do(token, "PATCH", "/api/v1/tenants/"+id.String(), map[string]any{"name": v})
		}
	}
	createUser := func(token string) func(string) response {
		return func(v string) response {
			return o.do(token, "POST", "/api/v1/users", map[string]any{"email": v, "display_name": "Probe"})
		}
	}
	createSub := func(token string) func(string) response {
		return func(v string) response {
			return o.do(token, "POST", "/api/v1/tenants", map[string]any{"name": v, "tenant_type": "subsidiary"})
		}
	}
	freshEmail := func() string { return uuid.NewString()[:8] + "@example.com" }
	freshName := func() string { return fresh("Fresh") }
	// Idempotency keys are unique per tenant and caller: the victim's key,
	// reused by the attacker with another request, is a fresh key to it.
	const victimKey = "victim-key-1"
	o.do(o.adminA, "POST", "/api/v1/users", map[string]any{"email": "idem@example.com", "display_name": "V"}, "Idempotency-Key", victimKey).want(t, 201, nil)
	idempotentUser := func(token string) func(string) response {
		return func(key string) response {
			return o.do(token, "POST", "/api/v1/users", map[string]any{"email": uuid.NewString()[:8] + "@example.com", "display_name": "Probe"},
				"Idempotency-Key", key)
		}
	}
	freshKey := func() string { return uuid.NewString() }
	probes := []probe{
		{"organisation admin renames its organisation onto another's name", rename(o.adminB, o.B.TenantID), []string{"acme", "ACME"}, freshName},
		{"organisation admin names a subsidiary like another organisation's", createSub(o.adminB), []string{"alpha", "Zeta"}, freshName},
		{"organisation admin adds a user with another organisation's address", createUser(o.adminB), []string{emailA, emailA1}, freshEmail},
		{"other organisation's subsidiary renames itself onto a foreign name", rename(adminB1, b1.TenantID), []string{"Alpha", "acme"}, freshName},
		{"other organisation's subsidiary adds a user with a foreign address", createUser(adminB1), []string{emailA, emailA1}, freshEmail},
		{"subsidiary renames itself onto its sibling's name", rename(o.adminA1, o.A1.TenantID), []string{"zeta", "ZETA"}, freshName},
		{"subsidiary renames itself onto its parent's name", rename(o.adminA1, o.A1.TenantID), []string{"Acme"}, freshName},
		{"subsidiary adds a user with its parent's user's address", createUser(o.adminA1), []string{emailA}, freshEmail},
		{"sibling renames itself onto the other sibling's name", rename(adminA2, o.A2.TenantID), []string{"alpha"}, freshName},
		{"sibling adds a user with the other sibling's user's address", createUser(adminA2), []string{emailA1}, freshEmail},
		{"other organisation reuses the victim's Idempotency-Key", idempotentUser(o.adminB), []string{victimKey}, freshKey},
		{"subsidiary reuses its parent's Idempotency-Key", idempotentUser(o.adminA1), []string{victimKey}, freshKey},
	}
	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			for _, v := range p.taken {
				want := answer(p.write(p.fresh()))
				if got := answer(p.write(v)); got != want {
					t.Errorf("writing %q (held by an invisible row): %s; a fresh value: %s", v, got, want)
				}
			}
		})
	}
	// Where the other row is visible, uniqueness holds.
	o.do(o.platform, "POST", "/api/v1/tenants", map[string]any{"name": "ACME", "tenant_type": "parent"}).wantError(t, 409, "CONFLICT", "")
	o.do(o.adminA, "PATCH", "/api/v1/tenants/"+o.A2.TenantID.String(), map[string]any{"name": "Alpha Two"}).want(t, 200, nil)
	o.do(o.adminA, "POST", "/api/v1/tenants", map[string]any{"name": "ALPHA TWO", "tenant_type": "subsidiary"}).wantError(t, 409, "CONFLICT", "")
	o.do(o.adminA, "POST", "/api/v1/users", map[string]any{"email": emailA, "display_name": "Again"}).wantError(t, 409, "CONFLICT", "")
	o.do(o.adminA, "POST", "/api/v1/users", map[string]any{"email": emailA1, "display_name": "Again"}, "X-Tenant-ID", o.A1.TenantID.String()).
		wantError(t, 409, "CONFLICT", "")
}
