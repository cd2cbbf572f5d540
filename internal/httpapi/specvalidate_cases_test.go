package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestSpecCheckerCatchesMismatches feeds the checker exchanges that break
// the document in one way each, and well-formed ones that must pass.
func TestSpecCheckerCatchesMismatches(t *testing.T) {
	s := loadSpec(t)
	const rid = "req-1"
	const tenantID = "0b7f3c1e-5d2a-4e8b-9c61-2f4a8d3e7b10"
	tenantBody := `{"tenant_id":"` + tenantID + `","name":"Acme","parent_tenant_id":null,"tenant_type":"parent",` +
		`"metadata":{},"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}`
	errBody := func(code string) string {
		return `{"error":{"code":"` + code + `","message":"m","details":{},"request_id":"` + rid + `"}}`
	}
	jsonHeader := func(extra ...string) http.Header {
		h := http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {rid}}
		for i := 0; i+1 < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		return h
	}
	cases := []struct {
		name         string
		method, path string
		reqBody      string
		status       int
		header       http.Header
		body         string
		ok           bool
	}{
		{"well-formed tenant", "GET", "/api/v1/tenants/" + tenantID, "", 200, jsonHeader(), tenantBody, true},
		{"well-formed 404 envelope", "GET", "/api/v1/tenants/" + tenantID, "", 404, jsonHeader(), errBody("NOT_FOUND"), true},
		{"well-formed 405 on an undocumented method", "DELETE", "/api/v1/tenants", "", 405, jsonHeader(), errBody("METHOD_NOT_ALLOWED"), true},
		{"well-formed 404 on an unknown path", "GET", "/nope", "", 404, jsonHeader(), errBody("NOT_FOUND"), true},
		{"invalid request refused with 400", "POST", "/api/v1/tenants", `{"name":"x","tenant_type":"bogus"}`, 400, jsonHeader(), errBody("VALIDATION_ERROR"), true},
		{"tenant without metadata", "GET", "/api/v1/tenants/" + tenantID, "", 200, jsonHeader(),
			strings.Replace(tenantBody, `"metadata":{},`, "", 1), false},
		{"tenant with an extra field", "GET", "/api/v1/tenants/" + tenantID, "", 200, jsonHeader(),
			strings.Replace(tenantBody, `{`, `{"deleted_at":null,`, 1), false},
		{"undocumented status", "GET", "/api/v1/tenants/" + tenantID, "", 201, jsonHeader(), tenantBody, false},
		{"error code that does not match the status", "GET", "/api/v1/tenants/" + tenantID, "", 404, jsonHeader(), errBody("FORBIDDEN"), false},
		{"error without request_id", "GET", "/api/v1/tenants/" + tenantID, "", 404, jsonHeader(),
			`{"error":{"code":"NOT_FOUND","message":"m","details":{}}}`, false},
		{"request_id differs from the header", "GET", "/api/v1/tenants/" + tenantID, "", 404, jsonHeader("X-Request-ID", "other"), errBody("NOT_FOUND"), false},
		{"no X-Request-ID header", "GET", "/api/v1/health/liveness", "", 200, http.Header{"Content-Type": {"application/json"}}, `{"status":"alive"}`, false},
		{"401 without WWW-Authenticate", "GET", "/api/v1/tenants", "", 401, jsonHeader(), errBody("UNAUTHORIZED"), false},
		{"unknown path answered 200", "GET", "/nope", "", 200, jsonHeader(), `{}`, false},
		{"undocumented method answered 404", "DELETE", "/api/v1/tenants", "", 404, jsonHeader(), errBody("NOT_FOUND"), false},
		{"unknown body field accepted", "POST", "/api/v1/tenants", `{"name":"x","tenant_type":"parent","colour":"red"}`, 201,
			jsonHeader("Location", "/api/v1/tenants/"+tenantID), tenantBody, false},
		{"limit out of range accepted", "GET", "/api/v1/tenants?limit=5000", "", 200, jsonHeader(),
			`{"tenants":[],"total_count":0,"limit":5000,"offset":0}`, false},
		{"list without total_count", "GET", "/api/v1/tenants", "", 200, jsonHeader(), `{"tenants":[],"limit":100,"offset":0}`, false},
		{"HTML where JSON is documented", "GET", "/api/v1/health/liveness", "", 200,
			http.Header{"Content-Type": {"text/html"}, "X-Request-Id": {rid}}, "<p>alive</p>", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rb io.Reader
			if tc.reqBody != "" {
				rb = strings.NewReader(tc.reqBody)
			}
			req := httptest.NewRequest(tc.method, tc.path, rb)
			if tc.reqBody != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			got := s.problems(req, []byte(tc.reqBody), tc.status, tc.header, []byte(tc.body))
			if tc.ok && len(got) > 0 {
				t.Errorf("want no problem, got %q", got)
			}
			if !tc.ok && len(got) == 0 {
				t.Error("want a problem, got none")
			}
		})
	}
}
