package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// bodyRoutes are the request bodies the API decodes (every decoder), each
// with the token allowed to send it.
func (f *fuzzTarget) bodyRoutes() []struct{ method, path, token string } {
	return []struct{ method, path, token string }{
		{http.MethodPost, "/api/v1/tenants", f.platform},
		{http.MethodPost, "/api/v1/tenants", f.admin},
		{http.MethodPut, "/api/v1/tenants/" + f.sub.String(), f.admin},
		{http.MethodPatch, "/api/v1/tenants/" + f.sub.String(), f.admin},
		{http.MethodPost, "/api/v1/users", f.admin},
		{http.MethodPatch, "/api/v1/users/" + f.userID, f.admin},
		{http.MethodPost, "/api/v1/projects", f.admin},
		{http.MethodPatch, "/api/v1/projects/" + f.projectID, f.admin},
	}
}

// FuzzRequestBodies sends arbitrary bodies to every route that decodes one:
// strict decoding and validation answer 4xx (or 2xx for a valid body),
// never a panic or a 5xx.
func FuzzRequestBodies(f *testing.F) {
	target := newFuzzTarget(f)
	n := uint8(len(target.bodyRoutes()))
	seeds := []string{
		`{"name":"Initech","tenant_type":"parent","metadata":{"a":[1,{"b":null}]}}`,
		`{"name":"Sub","tenant_type":"subsidiary","parent_tenant_id":"` + target.parent.String() + `"}`,
		`{"name":"x","tenant_type":"subsidiary","parent_tenant_id":"` + target.sub.String() + `"}`,
		`{"name":"x\u0000y","tenant_type":"parent"}`,
		`{"email":"a\u0000@b.example","display_name":"x"}`, `{"metadata":{"k\u0000":"v"}}`,
		`{"name":"p","description":"\u0000","owner_id":"` + target.userID + `"}`,
		`{"name":"` + strings.Repeat("é", 201) + `","tenant_type":"parent"}`,
		`{"email":"A@Example.COM","display_name":"A","role":"member"}`,
		`{"email":"a@b","display_name":"\ud800","role":"tenant_admin"}`,
		`{"email":"x@y.example","display_name":"n","role":"platform_admin"}`,
		`{"name":"p","description":"d","owner_id":"` + target.userID + `"}`,
		`{"name":"p","owner_id":"00000000-0000-0000-0000-000000000000"}`,
		`{"metadata":{"n":1e999}}`, `{"metadata":null}`, `{"name":null}`, `{"role":null}`,
		`{}`, `[]`, `null`, ``, `{"name":"x"} {}`, `{"name":"x"`, `{"name":1}`, `{"bogus":true}`,
		"\xff\xfe{", `{"name":"a","name":"b"}`, `{"tenant_type":"parent","tenant_type":"subsidiary"}`,
	}
	for _, s := range seeds { // every seed against every route
		for route := range n {
			f.Add(route, s)
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		r := target.bodyRoutes()[int(route)%len(target.bodyRoutes())]
		req := newRequest(r.method, r.path, "", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+r.token)
		target.serve(t, req)
	})
}
