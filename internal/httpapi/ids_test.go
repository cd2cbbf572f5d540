package httpapi_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

// TestIDsOneRule: an id has one spelling wherever a request carries it
// (X-Tenant-ID, the path, the query, the body): the canonical 8-4-4-4-12
// form, in either case. The other forms uuid.Parse reads ({…}, urn:uuid:,
// 32 bare hex digits) are 400 VALIDATION_ERROR naming where they came
// from, in every place alike (the header refused them while the path and
// the body took them).
func TestIDsOneRule(t *testing.T) {
	o := newOrg(t)
	id := o.A1.TenantID
	spellings := func(u uuid.UUID) map[string]string {
		s := u.String()
		return map[string]string{
			"braces":   "{" + s + "}",
			"urn":      "urn:uuid:" + s,
			"bare hex": strings.ReplaceAll(s, "-", ""),
		}
	}
	for _, ok := range []string{id.String(), strings.ToUpper(id.String())} {
		o.do(o.adminA, "GET", "/api/v1/tenants", nil, "X-Tenant-ID", ok).want(t, 200, nil)
		o.do(o.adminA, "GET", "/api/v1/tenants/"+ok, nil).want(t, 200, nil)
		o.do(o.adminA, "GET", "/api/v1/projects?owner_id="+ok, nil).want(t, 200, nil)
	}
	for name, bad := range spellings(id) {
		t.Run(name, func(t *testing.T) {
			o.do(o.adminA, "GET", "/api/v1/tenants", nil, "X-Tenant-ID", bad).wantError(t, 400, "VALIDATION_ERROR", "X-Tenant-ID")
			o.do(o.adminA, "GET", "/api/v1/tenants/"+bad, nil).wantError(t, 400, "VALIDATION_ERROR", "id")
			o.do(o.adminA, "GET", "/api/v1/projects?owner_id="+bad, nil).wantError(t, 400, "VALIDATION_ERROR", "owner_id")
			o.do(o.adminA, "POST", "/api/v1/tenants", map[string]any{"name": "Beta " + name, "tenant_type": "subsidiary",
				"parent_tenant_id": strings.Replace(bad, id.String(), o.A.TenantID.String(), 1)}).
				wantError(t, 400, "VALIDATION_ERROR", "parent_tenant_id")
		})
	}
	o.do(o.adminA, "POST", "/api/v1/tenants", map[string]any{"name": "Beta", "tenant_type": "subsidiary",
		"parent_tenant_id": strings.ToUpper(o.A.TenantID.String())}).want(t, 201, nil)
}
