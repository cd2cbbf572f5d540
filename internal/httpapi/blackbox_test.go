package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestStrictBodies covers the strictness encoding/json leaves out: exact
// (case-sensitive) field names, duplicate keys and invalid UTF-8 are all
// 400, and the tenant is left unchanged.
func TestStrictBodies(t *testing.T) {
	o := newOrg(t)
	path := "/api/v1/tenants/" + o.A1.TenantID.String()
	for _, c := range []struct {
		name, body, field string
	}{
		{"field name in another case", `{"NAME":"Renamed"}`, "NAME"},
		{"duplicate key", `{"name":"Renamed","name":"Again"}`, "name"},
		{"duplicate key inside metadata", `{"metadata":{"a":{"x":1,"x":2}}}`, "x"},
		{"invalid UTF-8", "{\"name\":\"Re\xffnamed\"}", "body"},
		{"lone high surrogate", `{"name":"Re\ud800named"}`, "body"},
		{"lone low surrogate", `{"name":"Re\udc00named"}`, "body"},
		{"high surrogate then another escape", `{"name":"Re\ud800\u0041named"}`, "body"},
		{"lone surrogate inside metadata", `{"metadata":{"k":["x\udfff"]}}`, "body"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o.do(o.adminA, "PATCH", path, c.body).wantError(t, 400, "VALIDATION_ERROR", c.field)
			var got tenantOut
			o.do(o.adminA, "GET", path, nil).want(t, 200, &got)
			if got.Name != o.A1.Name || len(got.Metadata) != 0 {
				t.Fatalf("tenant changed: %+v", got)
			}
		})
	}
	t.Run("same key in sibling objects is fine", func(t *testing.T) {
		var got tenantOut
		o.do(o.adminA, "PATCH", path, `{"metadata":{"a":{"x":1},"b":{"x":2},"c":[{"x":1},{"x":2}]}}`).want(t, 200, &got)
		if len(got.Metadata) != 3 {
			t.Fatalf("metadata %v", got.Metadata)
		}
	})
	t.Run("surrogate pairs and escaped backslashes are fine", func(t *testing.T) {
		var got tenantOut
		o.do(o.adminA, "PATCH", path, `{"name":"Smile \ud83d\ude00 \\ud800"}`).want(t, 200, &got)
		if got.Name != "Smile \U0001F600 \\ud800" {
			t.Fatalf("name %q", got.Name)
		}
	})
}

// TestErrorBodiesCompressed checks that error answers are gzip-compressed
// like successful ones when the client accepts it (Echo's gzip middleware
// steps aside for errors rendered outside it).
func TestErrorBodiesCompressed(t *testing.T) {
	o := newOrg(t)
	for _, c := range []struct {
		name, token, method, path string
		code                      int
	}{
		{"401 without a token", "", "GET", "/api/v1/users", 401},
		{"404 unknown path", "", "GET", "/no/such/path", 404},
		{"405 on a collection", "", "DELETE", "/api/v1/tenants", 405},
		{"400 bad id", o.platform, "GET", "/api/v1/tenants/nope", 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(c.method, c.path, nil)
			req.Header.Set("Accept-Encoding", "gzip")
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			rec := httptest.NewRecorder()
			o.h.ServeHTTP(rec, req)
			if rec.Code != c.code || rec.Header().Get("Content-Encoding") != "gzip" {
				t.Fatalf("status %d, Content-Encoding %q", rec.Code, rec.Header().Get("Content-Encoding"))
			}
			zr, err := gzip.NewReader(rec.Body)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			rid := rec.Header().Get("X-Request-ID")
			if rid == "" || !bytes.Contains(body, []byte(`"request_id":"`+rid+`"`)) {
				t.Fatalf("body %s, X-Request-ID %q", body, rid)
			}
		})
	}
}

// TestAmbiguousIdentityRefused checks that a request naming its tenant or
// its token twice is refused, even when the first copy alone would pass:
// another component may have read the other copy.
func TestAmbiguousIdentityRefused(t *testing.T) {
	o := newOrg(t)
	a, b := o.A.TenantID.String(), o.B.TenantID.String()
	for _, c := range []struct {
		name   string
		setup  func(h http.Header)
		code   int
		errKey string
	}{
		{"two X-Tenant-ID headers", func(h http.Header) {
			h.Add("Authorization", "Bearer "+o.adminA)
			h.Add("X-Tenant-ID", a)
			h.Add("X-Tenant-ID", b)
		}, 400, "X-Tenant-ID"},
		{"two tenant_id cookies", func(h http.Header) {
			h.Add("Authorization", "Bearer "+o.adminA)
			h.Add("Cookie", "tenant_id="+a+"; tenant_id="+b)
		}, 400, "tenant_id"},
		{"two Authorization headers", func(h http.Header) {
			h.Add("Authorization", "Bearer "+o.adminA)
			h.Add("Authorization", "Bearer "+o.adminB)
		}, 401, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/api/v1/users", nil)
			c.setup(req.Header)
			rec := httptest.NewRecorder()
			o.h.ServeHTTP(rec, req)
			r := response{Code: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
			code := map[int]string{400: "VALIDATION_ERROR", 401: "UNAUTHORIZED"}[c.code]
			r.wantError(t, c.code, code, c.errKey)
			if c.code == 401 && r.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
	t.Run("one header with a cookie still works", func(t *testing.T) {
		o.do(o.adminA, "GET", "/api/v1/users", nil, "X-Tenant-ID", a, "Cookie", "tenant_id="+b).want(t, 200, nil)
	})
}

// TestCreatedEqualsUpdatedOnCreate checks that a new tenant, user and
// project read as never updated: updated_at equals created_at, on the
// create answer and on a later read.
func TestCreatedEqualsUpdatedOnCreate(t *testing.T) {
	o := newOrg(t)
	var u struct {
		ID        string `json:"id"`
		CreatedAt string `json:"created_at"`
		UpdatedAt string `json:"updated_at"`
	}
	o.do(o.adminA, "POST", "/api/v1/users", map[string]any{"email": "stamp@example.com", "display_name": "Stamp"}).want(t, 201, &u)
	var p struct {
		ID        string `json:"id"`
		CreatedAt string `json:"created_at"`
		UpdatedAt string `json:"updated_at"`
	}
	o.do(o.adminA, "POST", "/api/v1/projects", map[string]any{"name": "Stamped", "owner_id": u.ID}).want(t, 201, &p)
	for _, c := range []struct{ name, path, created, updated string }{
		{"tenant", "/api/v1/tenants/" + o.A1.TenantID.String(), o.A1.CreatedAt, o.A1.UpdatedAt},
		{"user", "/api/v1/users/" + u.ID, u.CreatedAt, u.UpdatedAt},
		{"project", "/api/v1/projects/" + p.ID, p.CreatedAt, p.UpdatedAt},
	} {
		if c.created == "" || c.created != c.updated {
			t.Errorf("%s create answer: created_at %q, updated_at %q", c.name, c.created, c.updated)
		}
		var got struct {
			CreatedAt string `json:"created_at"`
			UpdatedAt string `json:"updated_at"`
		}
		o.do(o.adminA, "GET", c.path, nil).want(t, 200, &got)
		if got.CreatedAt != c.created || got.UpdatedAt != c.created {
			t.Errorf("%s read: %+v, created %q", c.name, got, c.created)
		}
	}
}

// TestHEADOnTenantEndpoints checks HEAD through the whole stack (tenant
// context included): the GET status, 401 without a token.
func TestHEADOnTenantEndpoints(t *testing.T) {
	o := newOrg(t)
	o.do(o.adminA, "HEAD", "/api/v1/users", nil).want(t, 200, nil)
	o.do(o.adminA, "HEAD", "/api/v1/tenants/"+o.A1.TenantID.String(), nil).want(t, 200, nil)
	o.do(o.adminA, "HEAD", "/api/v1/tenants/"+o.B.TenantID.String(), nil).want(t, 404, nil)
	if r := o.do("", "HEAD", "/api/v1/users", nil); r.Code != 401 || r.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("HEAD without a token: %d %v", r.Code, r.Header)
	}
}

// TestTrailingSlash checks that a resource path with one trailing slash is
// served like the path without it, with every method, and that a path
// with two is still unknown.
func TestTrailingSlash(t *testing.T) {
	o := newOrg(t)
	var created tenantOut
	r := o.do(o.platform, "POST", "/api/v1/tenants/", map[string]any{"name": "Slashed", "tenant_type": "parent"}).want(t, 201, &created)
	if loc := r.Header.Get("Location"); loc != "/api/v1/tenants/"+created.TenantID.String() {
		t.Fatalf("Location %q", loc)
	}
	o.do(o.platform, "GET", "/api/v1/tenants/", nil).want(t, 200, nil)
	o.do(o.platform, "GET", "/api/v1/tenants/"+created.TenantID.String()+"/", nil).want(t, 200, nil)
	o.do(o.platform, "PATCH", "/api/v1/tenants/"+created.TenantID.String()+"/", map[string]any{"name": "Slashed 2"}).want(t, 200, nil)
	o.do(o.adminA, "GET", "/api/v1/users/", nil).want(t, 200, nil)
	o.do("", "DELETE", "/api/v1/tenants/", nil).wantError(t, 405, "METHOD_NOT_ALLOWED", "")
	o.do(o.platform, "GET", "/api/v1/tenants//", nil).wantError(t, 404, "NOT_FOUND", "")
	o.do("", "GET", "/health/", nil).want(t, 200, nil)
}

// TestMetadataNumbersExact checks that metadata numbers read back exactly
// as written (integers past 2^53, trailing zeros), on every later read and
// not only in the create answer.
func TestMetadataNumbersExact(t *testing.T) {
	o := newOrg(t)
	const md = `{"id":12345678901234567890,"n":{"k":9007199254740993},"list":[1.50,-0.0001]}`
	r := o.do(o.platform, "POST", "/api/v1/tenants", `{"name":"Numbers","tenant_type":"parent","metadata":`+md+`}`).want(t, 201, nil)
	var created struct {
		TenantID string `json:"tenant_id"`
	}
	if err := json.Unmarshal(r.Body, &created); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/v1/tenants/" + created.TenantID, "/api/v1/tenants/" + created.TenantID + "/hierarchy", "/api/v1/tenants?tenant_type=parent"} {
		body := o.do(o.platform, "GET", path, nil).want(t, 200, nil).Body
		for _, want := range []string{`"id":12345678901234567890`, `"k":9007199254740993`, `[1.50,-0.0001]`} {
			if !bytes.Contains(body, []byte(want)) {
				t.Errorf("GET %s: %s lacks %s", path, body, want)
			}
		}
	}
}

// TestChunkedOversizeRefusedOnEveryRoute checks that a body over the limit
// sent without a Content-Length gets 413 also on routes whose handler never
// reads its body, and that the request has no effect.
func TestChunkedOversizeRefusedOnEveryRoute(t *testing.T) {
	o := newOrg(t)
	big := func() io.Reader { return io.MultiReader(strings.NewReader(strings.Repeat("x", 2<<20))) }
	path := "/api/v1/tenants/" + o.A2.TenantID.String()
	o.do(o.adminA, "DELETE", path, big()).wantError(t, 413, "PAYLOAD_TOO_LARGE", "")
	o.do(o.adminA, "GET", path, nil).want(t, 200, nil) // not deleted
	o.do(o.adminA, "GET", "/api/v1/users", big()).wantError(t, 413, "PAYLOAD_TOO_LARGE", "")
	small := io.MultiReader(strings.NewReader(`{"name":"Chunked","tenant_type":"subsidiary"}`))
	o.do(o.adminA, "POST", "/api/v1/tenants", small).want(t, 201, nil)
}
