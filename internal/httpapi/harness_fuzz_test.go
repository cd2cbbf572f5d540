package httpapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/config"
	"github.com/mtdb/mtdb/internal/httpapi"
	"github.com/mtdb/mtdb/internal/pgtest"
	"github.com/mtdb/mtdb/internal/tenant"
)

// fuzzTarget is the whole HTTP stack over a fresh database, with one
// organisation (parent, subsidiary, a user and a project in each) for the
// fuzz functions to aim at. Every fuzz process (the fuzzing engine runs
// several) builds its own.
type fuzzTarget struct {
	h                   http.Handler
	platform, admin     string // tokens: platform_admin, tenant_admin of the parent
	parent, sub         uuid.UUID
	userID, projectID   string
	otherTenant, member string
}

func newFuzzTarget(tb testing.TB) *fuzzTarget {
	tb.Helper()
	db := pgtest.New(tb)
	env := map[string]string{"ENVIRONMENT": "development", "DATABASE_URL": db.AppURL, "JWT_SECRET_KEY": testSecret, "LOG_LEVEL": "error"}
	cfg, err := config.Load(config.Options{Getenv: func(k string) string { return env[k] }, File: ""})
	if err != nil {
		tb.Fatal(err)
	}
	f := &fuzzTarget{h: httpapi.TestServer(tb, cfg, slog.New(slog.DiscardHandler), "").Handler()}
	f.platform = fuzzToken(tb, tenant.RolePlatformAdmin, uuid.Nil)
	var ten struct {
		TenantID uuid.UUID `json:"tenant_id"`
		ID       string    `json:"id"`
	}
	f.setup(tb, f.platform, "POST", "/api/v1/tenants", `{"name":"Fuzz","tenant_type":"parent"}`, &ten)
	f.parent = ten.TenantID
	f.admin = fuzzToken(tb, tenant.RoleTenantAdmin, f.parent)
	f.member = fuzzToken(tb, tenant.RoleMember, f.parent)
	f.setup(tb, f.admin, "POST", "/api/v1/tenants", `{"name":"Fuzz Sub","tenant_type":"subsidiary"}`, &ten)
	f.sub = ten.TenantID
	f.setup(tb, f.platform, "POST", "/api/v1/tenants", `{"name":"Other","tenant_type":"parent"}`, &ten)
	f.otherTenant = ten.TenantID.String()
	f.setup(tb, f.admin, "POST", "/api/v1/users", `{"email":"owner@fuzz.example","display_name":"Owner"}`, &ten)
	f.userID = ten.ID
	f.setup(tb, f.admin, "POST", "/api/v1/projects", `{"name":"P","description":"d","owner_id":"`+f.userID+`"}`, &ten)
	f.projectID = ten.ID
	return f
}

func fuzzToken(tb testing.TB, role tenant.Role, id uuid.UUID) string {
	tok, err := auth.Sign([]byte(testSecret), auth.Claims{Subject: "fuzz", Role: role, TenantID: id}, time.Hour, "", "")
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func (f *fuzzTarget) setup(tb testing.TB, token, method, path, body string, out any) {
	tb.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != 201 {
		tb.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
		tb.Fatal(err)
	}
}

// serve runs req (a panic fails the test through the fuzzing engine) and
// checks the answer: never a 5xx, and every error in the envelope with a
// code and the request id.
func (f *fuzzTarget) serve(t *testing.T, req *http.Request) int {
	t.Helper()
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Body)
	if rec.Code >= 500 {
		t.Fatalf("%s %s: %d %s", req.Method, req.URL, rec.Code, body)
	}
	if rec.Code >= 400 && req.Method != http.MethodHead {
		var env struct {
			Error struct {
				Code      string `json:"code"`
				RequestID string `json:"request_id"`
			} `json:"error"`
		}
		if err := json.Unmarshal(body, &env); err != nil || env.Error.Code == "" || env.Error.RequestID != rec.Header().Get(httpapi.HeaderRequestID) {
			t.Fatalf("%s %s: %d without the error envelope: %s", req.Method, req.URL, rec.Code, body)
		}
	}
	return rec.Code
}

// newRequest builds a request without httptest.NewRequest's panics on odd
// targets: path and query are set as given.
func newRequest(method, path, rawQuery string, body io.Reader) *http.Request {
	req := httptest.NewRequest(method, "/", body)
	req.URL.Path, req.URL.RawPath, req.URL.RawQuery = path, "", rawQuery
	req.RequestURI = path
	if rawQuery != "" {
		req.RequestURI += "?" + rawQuery
	}
	return req
}
