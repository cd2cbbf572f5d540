package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(h http.Handler, path string) (int, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Body.String()
}

// TestOpsPort: with SERVER_OPS_PORT, /metrics, the detailed health and
// pprof are served by the ops listener only (the API port answers 404:
// anyone reaching the API must not read pool figures, RLS findings or
// profiles), while the probes stay on the API port. Without it, /metrics
// and the detailed health stay on the API port and pprof is nowhere.
func TestOpsPort(t *testing.T) {
	s, _ := newServer(t, map[string]string{"SERVER_OPS_PORT": "9099"})
	api, ops := s.Handler(), s.OpsHandler()
	if ops == nil {
		t.Fatal("SERVER_OPS_PORT set but no ops handler")
	}
	for _, p := range []string{"/metrics", "/api/v1/health/detailed", "/debug/pprof/", "/debug/pprof/heap"} {
		if code, body := get(api, p); code != http.StatusNotFound {
			t.Errorf("API port %s: %d %.80s, want 404", p, code, body)
		}
	}
	for _, p := range []string{"/health", "/api/v1/health", "/api/v1/health/liveness", "/api/v1/health/readiness", "/api/v1/health/database"} {
		if code, body := get(api, p); code != http.StatusOK {
			t.Errorf("probe %s on the API port: %d %.120s, want 200", p, code, body)
		}
	}
	for p, want := range map[string]string{
		"/metrics":                       "mtdb_http_requests_total",
		"/api/v1/health/detailed":        `"checks"`,
		"/debug/pprof/":                  "goroutine",
		"/debug/pprof/heap?debug=1":      "heap profile",
		"/debug/pprof/goroutine?debug=1": "goroutine profile",
		"/debug/pprof/cmdline":           "",
	} {
		if code, body := get(ops, p); code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("ops port %s: %d %.120s, want 200 with %q", p, code, body, want)
		}
	}
	if code, _ := get(ops, "/api/v1/tenants"); code != http.StatusNotFound {
		t.Errorf("ops port serves the API: /api/v1/tenants %d, want 404", code)
	}

	plain, _ := newServer(t, nil)
	if plain.OpsHandler() != nil {
		t.Fatal("ops handler without SERVER_OPS_PORT")
	}
	for p, want := range map[string]int{"/metrics": 200, "/api/v1/health/detailed": 200, "/debug/pprof/": 404} {
		if code, body := get(plain.Handler(), p); code != want {
			t.Errorf("without an ops port, %s: %d %.80s, want %d", p, code, body, want)
		}
	}
}
