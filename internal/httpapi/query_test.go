package httpapi_test

import (
	"testing"
)

// TestUnknownQueryParametersRefused: a misspelt or invented query parameter
// is 400 VALIDATION_ERROR naming it, on lists and on every other tenant
// endpoint, instead of being ignored (a misspelt filter would silently
// widen the answer); a repeated one is refused too; known ones still work.
func TestUnknownQueryParametersRefused(t *testing.T) {
	o := newOrg(t)
	a1 := "/api/v1/tenants/" + o.A1.TenantID.String()
	for _, tc := range []struct{ method, path, param string }{
		{"GET", "/api/v1/tenants?tenant_typ=parent", "tenant_typ"},
		{"HEAD", "/api/v1/tenants?tenant_typ=parent", ""}, // no body, but 400
		{"GET", "/api/v1/tenants?limit=10&tenant_id=" + o.B.TenantID.String(), "tenant_id"},
		{"GET", "/api/v1/users?emial=a@example.com", "emial"},
		{"GET", "/api/v1/users?owner_id=" + o.A.TenantID.String(), "owner_id"}, // a filter of another list
		{"GET", "/api/v1/projects?email=x", "email"},
		{"GET", "/api/v1/projects?limit=5&limit=1000", "limit"},
		{"GET", a1 + "?fields=all", "fields"},
		{"GET", a1 + "/hierarchy?depth=9", "depth"},
		{"DELETE", a1 + "?force=true", "force"},
		{"PATCH", a1 + "?dry_run=1", "dry_run"},
	} {
		r := o.do(o.adminA, tc.method, tc.path, nil)
		if tc.method == "HEAD" {
			if r.Code != 400 {
				t.Errorf("HEAD %s: %d, want 400", tc.path, r.Code)
			}
			continue
		}
		r.wantError(t, 400, "VALIDATION_ERROR", tc.param)
	}
	// The tenant is untouched by the refused DELETE and PATCH.
	o.do(o.adminA, "GET", a1, nil).want(t, 200, nil)
	for _, path := range []string{
		"/api/v1/tenants?tenant_type=subsidiary&limit=5&offset=0",
		"/api/v1/users?email=a@example.com&role=member",
		"/api/v1/projects?owner_id=" + o.A.TenantID.String(),
		a1 + "/hierarchy",
	} {
		o.do(o.adminA, "GET", path, nil).want(t, 200, nil)
	}
}
