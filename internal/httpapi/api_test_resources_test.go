package httpapi_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/tenant"
)

type userOut struct {
	ID          uuid.UUID `json:"id"`
	TenantID    uuid.UUID `json:"tenant_id"`
	Email       string    `json:"email"`
	DisplayName string    `json:"display_name"`
	Role        string    `json:"role"`
	CreatedAt   string    `json:"created_at"`
	UpdatedAt   string    `json:"updated_at"`
}

type projectOut struct {
	ID          uuid.UUID `json:"id"`
	TenantID    uuid.UUID `json:"tenant_id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	OwnerID     uuid.UUID `json:"owner_id"`
}

func TestUsersHTTP(t *testing.T) {
	o := newOrg(t)
	var ada userOut
	r := o.do(o.adminA, "POST", "/api/v1/users", `{"email":" Ada@Example.com","display_name":"Ada"}`).want(t, 201, &ada)
	if r.Header.Get("Location") != "/api/v1/users/"+ada.ID.String() {
		t.Fatalf("Location %q", r.Header.Get("Location"))
	}
	if ada.Email != "ada@example.com" || ada.Role != "member" || ada.TenantID != o.A.TenantID || !strings.HasSuffix(ada.CreatedAt, "Z") {
		t.Fatalf("got %+v", ada)
	}
	var inSub userOut
	o.do(o.adminA, "POST", "/api/v1/users", `{"email":"lab@example.com","display_name":"Lab","role":"tenant_admin"}`,
		"X-Tenant-ID", o.A1.TenantID.String()).want(t, 201, &inSub)
	if inSub.TenantID != o.A1.TenantID {
		t.Fatalf("created in %v, want the header's tenant %v", inSub.TenantID, o.A1.TenantID)
	}

	for _, c := range []struct {
		name, token, body string
		code              int
		errCode, field    string
	}{
		{"duplicate email in same tenant", o.adminA, `{"email":"ADA@example.com","display_name":"Again"}`, 409, "CONFLICT", ""},
		{"invalid email", o.adminA, `{"email":"ada","display_name":"Ada"}`, 400, "VALIDATION_ERROR", "email"},
		{"bad role", o.adminA, `{"email":"x@example.com","display_name":"X","role":"owner"}`, 400, "VALIDATION_ERROR", "role"},
		{"unknown field", o.adminA, `{"email":"x@example.com","display_name":"X","tenant_id":"` + o.B.TenantID.String() + `"}`, 400, "VALIDATION_ERROR", "tenant_id"},
		{"member", o.memberA, `{"email":"x@example.com","display_name":"X"}`, 403, "FORBIDDEN", ""},
	} {
		t.Run("POST "+c.name, func(t *testing.T) {
			o.do(c.token, "POST", "/api/v1/users", c.body).wantError(t, c.code, c.errCode, c.field)
		})
	}
	t.Run("another tenant may reuse the email", func(t *testing.T) {
		o.do(o.adminB, "POST", "/api/v1/users", `{"email":"ada@example.com","display_name":"Other Ada"}`).want(t, 201, nil)
	})

	t.Run("list", func(t *testing.T) {
		var page struct {
			Users      []userOut `json:"users"`
			TotalCount int       `json:"total_count"`
		}
		o.do(o.memberA, "GET", "/api/v1/users?role=tenant_admin", nil).want(t, 200, &page)
		if page.TotalCount != 1 || page.Users[0].ID != inSub.ID {
			t.Fatalf("page %+v", page)
		}
		o.do(o.adminB, "GET", "/api/v1/users?email=ada@example.com", nil).want(t, 200, &page)
		if page.TotalCount != 1 || page.Users[0].TenantID != o.B.TenantID {
			t.Fatalf("B sees %+v", page)
		}
		o.do(o.memberA, "GET", "/api/v1/users?role=bogus", nil).wantError(t, 400, "VALIDATION_ERROR", "role")
	})

	t.Run("B attacks A's user", func(t *testing.T) {
		path := "/api/v1/users/" + ada.ID.String()
		o.do(o.adminB, "GET", path, nil).wantError(t, 404, "NOT_FOUND", "")
		o.do(o.adminB, "PATCH", path, `{"role":"tenant_admin"}`).wantError(t, 404, "NOT_FOUND", "")
		o.do(o.adminB, "DELETE", path, nil).wantError(t, 404, "NOT_FOUND", "")
		o.do(o.adminB, "GET", path, nil, "X-Tenant-ID", o.A.TenantID.String()).wantError(t, 403, "FORBIDDEN", "")
		var got userOut
		o.do(o.adminA, "GET", path, nil).want(t, 200, &got)
		if got != ada {
			t.Fatalf("victim changed: %+v, was %+v", got, ada)
		}
	})

	t.Run("patch and delete", func(t *testing.T) {
		path := "/api/v1/users/" + ada.ID.String()
		var got userOut
		o.do(o.adminA, "PATCH", path, `{"display_name":"Ada L.","role":"tenant_admin"}`).want(t, 200, &got)
		if got.DisplayName != "Ada L." || got.Role != "tenant_admin" || got.Email != ada.Email {
			t.Fatalf("got %+v", got)
		}
		o.do(o.memberA, "PATCH", path, `{"display_name":"x"}`).wantError(t, 403, "FORBIDDEN", "")
		o.do(o.adminA, "PATCH", path, `{"display_name":7}`).wantError(t, 400, "VALIDATION_ERROR", "display_name")
		o.do(o.adminA, "PUT", path, `{"display_name":"x"}`).wantError(t, 405, "METHOD_NOT_ALLOWED", "")

		var p projectOut
		o.do(o.adminA, "POST", "/api/v1/projects", map[string]any{"name": "P", "owner_id": ada.ID}).want(t, 201, &p)
		o.do(o.adminA, "DELETE", path, nil).wantError(t, 409, "CONFLICT", "")
		o.do(o.adminA, "DELETE", "/api/v1/projects/"+p.ID.String(), nil).want(t, 204, nil)
		o.do(o.adminA, "DELETE", path, nil).want(t, 204, nil)
		o.do(o.adminA, "GET", path, nil).wantError(t, 404, "NOT_FOUND", "")
	})
}

func TestProjectsHTTP(t *testing.T) {
	o := newOrg(t)
	var ua, ub userOut
	o.do(o.adminA, "POST", "/api/v1/users", `{"email":"a@example.com","display_name":"A"}`).want(t, 201, &ua)
	o.do(o.adminB, "POST", "/api/v1/users", `{"email":"b@example.com","display_name":"B"}`).want(t, 201, &ub)

	var p projectOut
	r := o.do(o.adminA, "POST", "/api/v1/projects", map[string]any{"name": " Site ", "owner_id": ua.ID}).want(t, 201, &p)
	if p.Name != "Site" || p.Description != "" || p.OwnerID != ua.ID || p.TenantID != o.A.TenantID ||
		r.Header.Get("Location") != "/api/v1/projects/"+p.ID.String() {
		t.Fatalf("got %+v, Location %q", p, r.Header.Get("Location"))
	}

	t.Run("owner of another tenant answers exactly like a random UUID", func(t *testing.T) {
		body := func(owner uuid.UUID) []byte {
			r := o.do(o.adminA, "POST", "/api/v1/projects", map[string]any{"name": "X", "owner_id": owner})
			e := r.wantError(t, 400, "VALIDATION_ERROR", "owner_id")
			e.Error.RequestID = ""
			b, _ := json.Marshal(e)
			return b
		}
		if other, random := body(ub.ID), body(uuid.New()); !bytes.Equal(other, random) {
			t.Fatalf("other tenant's user: %s\nrandom: %s", other, random)
		}
	})
	for _, c := range []struct {
		name, token, body string
		code              int
		errCode, field    string
	}{
		{"missing owner", o.adminA, `{"name":"X"}`, 400, "VALIDATION_ERROR", "owner_id"},
		{"malformed owner", o.adminA, `{"name":"X","owner_id":"123"}`, 400, "VALIDATION_ERROR", "owner_id"},
		{"empty name", o.adminA, `{"name":"","owner_id":"` + ua.ID.String() + `"}`, 400, "VALIDATION_ERROR", "name"},
		{"member", o.memberA, `{"name":"X","owner_id":"` + ua.ID.String() + `"}`, 403, "FORBIDDEN", ""},
	} {
		t.Run("POST "+c.name, func(t *testing.T) {
			o.do(c.token, "POST", "/api/v1/projects", c.body).wantError(t, c.code, c.errCode, c.field)
		})
	}

	t.Run("B attacks A's project", func(t *testing.T) {
		path := "/api/v1/projects/" + p.ID.String()
		o.do(o.adminB, "GET", path, nil).wantError(t, 404, "NOT_FOUND", "")
		o.do(o.adminB, "PATCH", path, map[string]any{"owner_id": ub.ID}).wantError(t, 404, "NOT_FOUND", "")
		o.do(o.adminB, "DELETE", path, nil).wantError(t, 404, "NOT_FOUND", "")
		var got projectOut
		o.do(o.memberA, "GET", path, nil).want(t, 200, &got)
		if got != p {
			t.Fatalf("victim changed: %+v", got)
		}
		var page struct {
			Projects   []projectOut `json:"projects"`
			TotalCount int          `json:"total_count"`
		}
		o.do(o.adminB, "GET", "/api/v1/projects", nil).want(t, 200, &page)
		if page.TotalCount != 0 || len(page.Projects) != 0 {
			t.Fatalf("B sees %+v", page)
		}
	})

	t.Run("patch", func(t *testing.T) {
		path := "/api/v1/projects/" + p.ID.String()
		var got projectOut
		o.do(o.adminA, "PATCH", path, `{"description":"d"}`).want(t, 200, &got)
		if got.Description != "d" || got.Name != "Site" {
			t.Fatalf("got %+v", got)
		}
		o.do(o.adminA, "PATCH", path, map[string]any{"owner_id": ub.ID}).wantError(t, 400, "VALIDATION_ERROR", "owner_id")
		o.do(o.memberA, "PATCH", path, `{"name":"m"}`).wantError(t, 403, "FORBIDDEN", "")
	})

	t.Run("platform_admin without a tenant sees no rows and cannot create", func(t *testing.T) {
		var page struct {
			TotalCount int `json:"total_count"`
		}
		o.do(o.platform, "GET", "/api/v1/projects", nil).want(t, 200, &page)
		if page.TotalCount != 0 {
			t.Fatalf("total %d", page.TotalCount)
		}
		o.do(o.platform, "POST", "/api/v1/projects", map[string]any{"name": "X", "owner_id": ua.ID}).wantError(t, 400, "VALIDATION_ERROR", "")
		o.do(o.token(tenant.RolePlatformAdmin, uuid.Nil), "GET", "/api/v1/projects/"+p.ID.String(), nil,
			"X-Tenant-ID", o.A.TenantID.String()).want(t, 200, nil)
	})
}
