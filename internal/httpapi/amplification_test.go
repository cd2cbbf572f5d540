package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestMetadataAmplificationAttack: a tenant admin tries to store metadata
// that is small in the request but renders to enormous text in the
// database and in every answer (the attack made every later list and
// hierarchy answer 500 and the poisoned tenant impossible to change). Every
// attempt is 400 VALIDATION_ERROR on metadata, nothing is stored, and the
// tenant and every list still answer, small.
func TestMetadataAmplificationAttack(t *testing.T) {
	o := newOrg(t)
	a1 := "/api/v1/tenants/" + o.A1.TenantID.String()
	for name, md := range map[string]string{
		"tiny exponent (16 KB of digits each)": `{"x":1e-16383}`,
		"huge exponent":                        `{"x":1e16383}`,
		"beyond numeric's range (22003)":       `{"x":1e-20000}`,
		"18 KB of short numbers":               `{"x":[` + strings.Repeat("1e-999,", 2500) + `1]}`,
		"too deep":                             strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40),
	} {
		t.Run(name, func(t *testing.T) {
			o.do(o.adminA1, "PATCH", a1, `{"metadata":`+md+`}`).wantError(t, 400, "VALIDATION_ERROR", "metadata")
			o.do(o.adminA, "POST", "/api/v1/tenants", `{"name":"Poison","tenant_type":"subsidiary","metadata":`+md+`}`).
				wantError(t, 400, "VALIDATION_ERROR", "metadata")
		})
	}
	for _, path := range []string{a1, "/api/v1/tenants?limit=1000", "/api/v1/tenants/" + o.A.TenantID.String() + "/hierarchy"} {
		r := o.do(o.adminA, "GET", path, nil).want(t, http.StatusOK, nil)
		if len(r.Body) > 4096 || strings.Contains(string(r.Body), "Poison") {
			t.Errorf("GET %s: %d bytes: %.200s", path, len(r.Body), r.Body)
		}
	}
	o.do(o.adminA1, "PATCH", a1, `{"metadata":{"ok":1.50}}`).want(t, http.StatusOK, nil)
}

// TestHierarchyIsPaged: the hierarchy answers at most limit subsidiaries
// (default and maximum 1000), each page starting with the tenant, and a
// Link header names the next page while there is one.
func TestHierarchyIsPaged(t *testing.T) {
	o := newOrg(t)
	for i := range 3 {
		o.do(o.adminA, "POST", "/api/v1/tenants", map[string]any{"name": fmt.Sprintf("Sub %d", i), "tenant_type": "subsidiary"}).want(t, 201, nil)
	}
	base := "/api/v1/tenants/" + o.A.TenantID.String() + "/hierarchy"
	var names []string
	next := base + "?limit=2"
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("the pages do not end")
		}
		var page []tenantOut
		r := o.do(o.adminA, "GET", next, nil).want(t, 200, &page)
		if len(page) == 0 || page[0].TenantID != o.A.TenantID || len(page) > 3 {
			t.Fatalf("GET %s: %+v", next, page)
		}
		for _, s := range page[1:] {
			names = append(names, s.Name)
		}
		next = ""
		if link := r.Header.Get("Link"); link != "" {
			next = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
		}
	}
	if want := []string{"Alpha", "Sub 0", "Sub 1", "Sub 2", "Zeta"}; fmt.Sprint(names) != fmt.Sprint(want) {
		t.Fatalf("subsidiaries over the pages: %v, want %v", names, want)
	}
	var all []tenantOut
	if r := o.do(o.adminA, "GET", base, nil).want(t, 200, &all); len(all) != 6 || r.Header.Get("Link") != "" {
		t.Fatalf("one default page: %d tenants, Link %q", len(all), r.Header.Get("Link"))
	}
	o.do(o.adminA, "GET", base+"?limit=1001", nil).wantError(t, 400, "VALIDATION_ERROR", "limit")
}
