package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/config"
	"github.com/mtdb/mtdb/internal/httpapi"
	"github.com/mtdb/mtdb/internal/pgtest"
	"github.com/mtdb/mtdb/internal/tenant"
)

const specSecret = "an-openapi-test-secret-of-at-least-32-bytes"

// signToken returns a platform_admin token for the servers of these tests.
func signToken(t *testing.T) string {
	t.Helper()
	tok, err := auth.Sign([]byte(specSecret), auth.Claims{Subject: "spec-tester", Role: tenant.RolePlatformAdmin}, time.Hour, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// decodeID returns the string field name of the JSON object in res's body.
func decodeID(t *testing.T, res *http.Response, name string) string {
	t.Helper()
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatalf("decoding the body: %v", err)
	}
	id, _ := body[name].(string)
	if id == "" {
		t.Fatalf("no %s in %v", name, body)
	}
	return id
}

// newSpecServer builds the whole Server, as `mtdb serve` does, over a
// fresh database (so that every route is registered).
func newSpecServer(t *testing.T) (*httpapi.Server, *pgtest.DB) {
	t.Helper()
	return newServer(t, map[string]string{"JWT_SECRET_KEY": specSecret})
}

// newDocServer builds a Server without a database: enough for /docs and
// /openapi.json, which need none.
func newDocServer(t *testing.T) *httpapi.Server {
	t.Helper()
	env := map[string]string{"ENVIRONMENT": "development", "LOG_LEVEL": "error",
		"DATABASE_URL": "postgres://mtdb@127.0.0.1:1/none?connect_timeout=1"} // never reached
	cfg, err := config.Load(config.Options{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	return httpapi.TestServer(t, cfg, slog.New(slog.DiscardHandler), "test")
}

func TestOpenAPIServedDocumentIsValid(t *testing.T) {
	h := newDocServer(t).Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	doc, err := openapi3.NewLoader().LoadFromData(rec.Body.Bytes())
	if err != nil {
		t.Fatalf("the served document does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the served document is invalid: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q, want 3.x", doc.OpenAPI)
	}
	if doc.Components.SecuritySchemes["bearerAuth"] == nil {
		t.Error("no bearerAuth security scheme")
	}
}

// documentedOps returns "METHOD /path" for every operation of the document.
func documentedOps(doc *openapi3.T) []string {
	var ops []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, method+" "+path)
		}
	}
	slices.Sort(ops)
	return ops
}

var echoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// routedOps returns "METHOD /path" for every route of the Echo instance,
// with Echo's :param written as the document's {param}. Echo's internal
// routes (its not-found catch-alls, whose method is not an HTTP method) are
// left out.
func routedOps(t *testing.T, s *httpapi.Server) []string {
	t.Helper()
	methods := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
	var ops []string
	for _, r := range s.Echo().Routes() {
		if !slices.Contains(methods, r.Method) {
			continue
		}
		if strings.Contains(r.Path, "*") {
			t.Errorf("route %s %s: wildcard routes cannot be documented; name the parameter", r.Method, r.Path)
		}
		ops = append(ops, r.Method+" "+echoParam.ReplaceAllString(r.Path, "{$1}"))
	}
	slices.Sort(ops)
	return slices.Compact(ops)
}

// TestOpenAPICoversEveryRoute: every route of the real server is in the
// document with its method, and every documented operation is routed.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	s, _ := newSpecServer(t)
	routed := routedOps(t, s)
	documented := documentedOps(loadSpec(t).doc)
	for _, op := range routed {
		if !slices.Contains(documented, op) {
			t.Errorf("route %s is not in openapi.yaml", op)
		}
	}
	for _, op := range documented {
		if !slices.Contains(routed, op) {
			t.Errorf("openapi.yaml documents %s, which the server does not route", op)
		}
	}
	if len(routed) < 25 {
		t.Errorf("only %d routes; the resource routes are missing: %v", len(routed), routed)
	}
}

// TestOpenAPIOperationsAreComplete: every operation has an id, a summary,
// a 2xx response and a default error response; every tenant endpoint
// requires the bearer token and takes X-Tenant-ID; public endpoints need
// no security.
func TestOpenAPIOperationsAreComplete(t *testing.T) {
	doc := loadSpec(t).doc
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			if op.OperationID == "" || op.Summary == "" {
				t.Errorf("%s: operationId or summary missing", name)
			}
			if op.Responses.Default() == nil {
				t.Errorf("%s: no default (error envelope) response", name)
			}
			ok := false
			for code := range op.Responses.Map() {
				ok = ok || strings.HasPrefix(code, "2")
			}
			if !ok {
				t.Errorf("%s: no 2xx response", name)
			}
			tenantEndpoint := strings.HasPrefix(path, "/api/v1/") && !strings.HasPrefix(path, "/api/v1/health")
			security := doc.Security // an operation without its own inherits the top level
			if op.Security != nil {
				security = *op.Security
			}
			switch {
			case tenantEndpoint && !bearerOrAPIKey(security):
				t.Errorf("%s: a tenant endpoint must require bearerAuth or apiKeyAuth (and nothing else)", name)
			case tenantEndpoint && item.Parameters.GetByInAndName("header", "X-Tenant-ID") == nil:
				t.Errorf("%s: a tenant endpoint must take the X-Tenant-ID header", name)
			case !tenantEndpoint && len(security) > 0:
				t.Errorf("%s: a public endpoint must declare security: []", name)
			}
			if op.RequestBody != nil {
				for mt, c := range op.RequestBody.Value.Content {
					if c.Schema.Value.AdditionalProperties.Has == nil || *c.Schema.Value.AdditionalProperties.Has {
						t.Errorf("%s: request body %s must set additionalProperties: false", name, mt)
					}
				}
			}
		}
	}
}

// TestOpenAPIMatchesServerAnswers sends a few requests of every kind
// through the real server and holds each exchange against the document.
func TestOpenAPIMatchesServerAnswers(t *testing.T) {
	s, _ := newSpecServer(t)
	h := specChecked(t, s.Handler())
	admin := signToken(t)
	send := func(method, path, body, token string, headers ...string) *http.Response {
		t.Helper()
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req := httptest.NewRequest(method, path, r)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Result()
	}
	want := func(res *http.Response, code int) *http.Response {
		t.Helper()
		if res.StatusCode != code {
			b, _ := io.ReadAll(res.Body)
			t.Errorf("%s %s: %d, want %d; %s", res.Request.Method, res.Request.URL, res.StatusCode, code, b)
		}
		return res
	}
	for _, path := range []string{"/health", "/api/v1/health", "/api/v1/health/", "/api/v1/health/detailed",
		"/api/v1/health/database", "/api/v1/health/readiness", "/api/v1/health/liveness",
		"/metrics", "/openapi.json", "/docs", "/docs/swagger-ui.css", "/docs/docs.js", "/docs/LICENSE"} {
		want(send("GET", path, "", ""), http.StatusOK)
	}
	want(send("GET", "/api/v1/health/liveness", "", "", "Accept-Encoding", "gzip"), http.StatusOK)
	want(send("GET", "/docs/secrets.txt", "", ""), http.StatusNotFound)
	want(send("GET", "/api/v1/no-such-thing", "", ""), http.StatusNotFound)
	want(send("DELETE", "/api/v1/tenants", "", admin), http.StatusMethodNotAllowed)
	want(send("GET", "/api/v1/tenants", "", ""), http.StatusUnauthorized)
	want(send("GET", "/api/v1/tenants", "", "not-a-jwt"), http.StatusUnauthorized)
	want(send("GET", "/api/v1/tenants?limit=0", "", admin), http.StatusBadRequest)
	want(send("GET", "/api/v1/users?role=bogus", "", admin), http.StatusBadRequest)
	want(send("GET", "/api/v1/tenants/not-a-uuid", "", admin), http.StatusBadRequest)
	want(send("GET", "/api/v1/tenants/0b7f3c1e-5d2a-4e8b-9c61-2f4a8d3e7b10", "", admin), http.StatusNotFound)
	want(send("GET", "/api/v1/users", "", admin, "X-Tenant-ID", "0b7f3c1e-5d2a-4e8b-9c61-2f4a8d3e7b10"), http.StatusForbidden)
	want(send("POST", "/api/v1/tenants", `{"name":"Acme","tenant_type":"parent","colour":"red"}`, admin), http.StatusBadRequest)

	parent := decodeID(t, want(send("POST", "/api/v1/tenants", `{"name":"Acme","tenant_type":"parent"}`, admin), http.StatusCreated), "tenant_id")
	want(send("POST", "/api/v1/tenants", `{"name":"acme","tenant_type":"parent"}`, admin), http.StatusConflict)
	want(send("POST", "/api/v1/tenants", `{"name":"Acme EU","tenant_type":"subsidiary","parent_tenant_id":"`+parent+`","metadata":{"region":"eu"}}`, admin), http.StatusCreated)
	want(send("GET", "/api/v1/tenants?tenant_type=parent&limit=10", "", admin), http.StatusOK)
	want(send("GET", "/api/v1/tenants/"+parent, "", admin), http.StatusOK)
	want(send("PATCH", "/api/v1/tenants/"+parent, `{"metadata":{"tier":"gold"}}`, admin), http.StatusOK)
	want(send("PUT", "/api/v1/tenants/"+parent, `{"name":"Acme Corp","tenant_type":"parent"}`, admin), http.StatusOK)
	want(send("GET", "/api/v1/tenants/"+parent+"/hierarchy", "", admin), http.StatusOK)
	want(send("DELETE", "/api/v1/tenants/"+parent, "", admin), http.StatusConflict)

	tenant := []string{"X-Tenant-ID", parent}
	user := decodeID(t, want(send("POST", "/api/v1/users", `{"email":"Ann@Example.com","display_name":"Ann","role":"tenant_admin"}`, admin, tenant...), http.StatusCreated), "id")
	want(send("GET", "/api/v1/users?email=ann@example.com", "", admin, tenant...), http.StatusOK)
	want(send("PATCH", "/api/v1/users/"+user, `{"display_name":"Ann B.","role":null}`, admin, tenant...), http.StatusOK)
	project := decodeID(t, want(send("POST", "/api/v1/projects", `{"name":"Apollo","owner_id":"`+user+`"}`, admin, tenant...), http.StatusCreated), "id")
	want(send("GET", "/api/v1/projects?owner_id="+user, "", admin, tenant...), http.StatusOK)
	want(send("GET", "/api/v1/projects/"+project, "", admin, tenant...), http.StatusOK)
	want(send("PATCH", "/api/v1/projects/"+project, `{"description":"to the moon"}`, admin, tenant...), http.StatusOK)
	want(send("DELETE", "/api/v1/users/"+user, "", admin, tenant...), http.StatusConflict)
	want(send("DELETE", "/api/v1/projects/"+project, "", admin, tenant...), http.StatusNoContent)
	want(send("DELETE", "/api/v1/users/"+user, "", admin, tenant...), http.StatusNoContent)
}

// TestOpenAPIMatchesUnhealthyAnswers: with no database the health checks
// answer 503, in the shapes the document gives them.
func TestOpenAPIMatchesUnhealthyAnswers(t *testing.T) {
	h := specChecked(t, newDocServer(t).Handler())
	for path, code := range map[string]int{
		"/health":                  http.StatusOK,
		"/api/v1/health/liveness":  http.StatusOK,
		"/api/v1/health/database":  http.StatusServiceUnavailable,
		"/api/v1/health/readiness": http.StatusServiceUnavailable,
		"/api/v1/health/detailed":  http.StatusServiceUnavailable,
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != code {
			t.Errorf("GET %s: %d, want %d; %s", path, rec.Code, code, rec.Body)
		}
	}
}

// bearerOrAPIKey reports whether security is exactly "bearerAuth or
// apiKeyAuth": two alternatives, each one scheme.
func bearerOrAPIKey(security openapi3.SecurityRequirements) bool {
	if len(security) != 2 {
		return false
	}
	found := map[string]bool{}
	for _, req := range security {
		if len(req) != 1 {
			return false
		}
		for name := range req {
			found[name] = true
		}
	}
	return found["bearerAuth"] && found["apiKeyAuth"]
}
