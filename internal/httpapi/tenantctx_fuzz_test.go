package httpapi_test

import (
	"net/http"
	"testing"
)

// FuzzTenantSelection sends arbitrary X-Tenant-ID headers, tenant_id
// cookies and Authorization headers through the tenant middleware to a
// tenant endpoint: every answer is 200, 400, 401 or 403, never a panic or a
// 5xx.
func FuzzTenantSelection(f *testing.F) {
	target := newFuzzTarget(f)
	good := "Bearer " + target.admin
	for _, s := range []struct{ header, cookie, authz string }{
		{"", "", good},
		{target.sub.String(), "", good},
		{"", target.sub.String(), good},
		{target.otherTenant, "", good},
		{"", "", ""},
		{"not-a-uuid", "", good},
		{"00000000-0000-0000-0000-000000000000", "", good},
		{"{" + target.sub.String() + "}", "", good},
		{"urn:uuid:" + target.sub.String(), "", good},
		{"", "x; tenant_id=" + target.sub.String(), good},
		{" \t", "\x00", "Bearer"},
		{"", "", "bearer " + target.platform},
		{"", "", "Basic dXNlcjpwYXNz"},
		{"", "", "Bearer a.b.c"},
		{"", "", "Bearer eyJhbGciOiJub25lIn0.eyJyb2xlIjoicGxhdGZvcm1fYWRtaW4ifQ."},
		{target.parent.String(), target.otherTenant, "Bearer " + target.member},
	} {
		f.Add(s.header, s.cookie, s.authz)
	}
	f.Fuzz(func(t *testing.T, header, cookie, authz string) {
		req := newRequest(http.MethodGet, "/api/v1/users", "", nil)
		if header != "" {
			req.Header["X-Tenant-Id"] = []string{header}
		}
		if cookie != "" {
			req.Header["Cookie"] = []string{"tenant_id=" + cookie}
		}
		if authz != "" {
			req.Header["Authorization"] = []string{authz}
		}
		switch code := target.serve(t, req); code {
		case 200, 400, 401, 403:
		default:
			t.Fatalf("status %d", code)
		}
	})
}
