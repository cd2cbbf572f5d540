package httpapi_test

import (
	"bytes"
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

const testSecret = "an-http-test-secret-of-at-least-32-bytes"

// api drives the whole HTTP stack (middleware, tenant context, handlers,
// error handler) against a fresh database, connected as the non-superuser
// test role so that row-level security is in force.
type api struct {
	t *testing.T
	h http.Handler
}

type response struct {
	Code   int
	Header http.Header
	Body   []byte
}

func newAPI(t *testing.T) *api { return newAPIWithEnv(t, nil) }

// newAPIWithEnv is newAPI with extra configuration (environment variables).
func newAPIWithEnv(t *testing.T, extra map[string]string) *api {
	t.Helper()
	s, _ := newServer(t, extra)
	return &api{t: t, h: specChecked(t, failOn500(t, s.Handler()))}
}

// newServer builds the whole server, in development, over a fresh
// database reached as the non-superuser test login (so row-level security
// is in force), with tokens signed by testSecret unless extra (environment
// variables) says otherwise.
func newServer(t *testing.T, extra map[string]string) (*httpapi.Server, *pgtest.DB) {
	t.Helper()
	db := pgtest.New(t)
	env := map[string]string{
		"ENVIRONMENT":    "development",
		"DATABASE_URL":   db.AppURL,
		"JWT_SECRET_KEY": testSecret,
		"LOG_LEVEL":      "error",
	}
	for k, v := range extra {
		env[k] = v
	}
	cfg, err := config.Load(config.Options{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	s := httpapi.TestServer(t, cfg, slog.New(slog.DiscardHandler), "")
	return s, db
}

// failOn500 fails t for every 500 the handler answers: a request that a
// test sends, however bad, must get a deliberate status, never an
// internal error.
func failOn500(t *testing.T, h http.Handler) http.Handler {
	t.Helper()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.status == http.StatusInternalServerError {
			t.Errorf("%s %s answered 500", r.Method, r.URL.RequestURI())
		}
	})
}

// statusWriter remembers the status written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// token mints a token for role in tenant id (uuid.Nil: none).
func (a *api) token(role tenant.Role, id uuid.UUID) string {
	a.t.Helper()
	tok, err := auth.Sign([]byte(testSecret), auth.Claims{Subject: "tester", Role: role, TenantID: id}, time.Hour, "", "")
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

// do sends a request; body is sent as is when a string, JSON-encoded
// otherwise (nil: no body). headers are name, value pairs.
func (a *api) do(token, method, path string, body any, headers ...string) response {
	a.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case io.Reader: // of unknown length: sent chunked
		r = b
	case string:
		r = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		r = bytes.NewReader(buf)
	}
	req := httptest.NewRequest(method, path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return response{Code: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// want fails unless the response has status code, and decodes its body
// into out when out is not nil.
func (r response) want(t *testing.T, code int, out any) response {
	t.Helper()
	if r.Code != code {
		t.Fatalf("status %d, want %d; body %s", r.Code, code, r.Body)
	}
	if out != nil {
		if err := json.Unmarshal(r.Body, out); err != nil {
			t.Fatalf("decoding %s: %v", r.Body, err)
		}
	}
	return r
}

// errorBody is the contract's error envelope.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details struct {
			Fields map[string]string `json:"fields"`
		} `json:"details"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

// wantError checks status, code and (when field is not empty) that
// details.fields names field; it returns the envelope.
func (r response) wantError(t *testing.T, code int, errCode, field string) errorBody {
	t.Helper()
	var e errorBody
	r.want(t, code, &e)
	if e.Error.Code != errCode {
		t.Fatalf("code %q, want %q; body %s", e.Error.Code, errCode, r.Body)
	}
	if field != "" && e.Error.Details.Fields[field] == "" {
		t.Fatalf("details.fields has no %q; body %s", field, r.Body)
	}
	return e
}

type tenantOut struct {
	TenantID       uuid.UUID      `json:"tenant_id"`
	Name           string         `json:"name"`
	ParentTenantID *uuid.UUID     `json:"parent_tenant_id"`
	TenantType     string         `json:"tenant_type"`
	Metadata       map[string]any `json:"metadata"`
	CreatedAt      string         `json:"created_at"`
	UpdatedAt      string         `json:"updated_at"`
}

// org is two organisations, A with subsidiaries A1 and A2, and B, with
// their tokens.
type org struct {
	*api
	A, A1, A2, B             tenantOut
	platform, adminA, adminB string
	memberA, adminA1         string
}

func newOrg(t *testing.T) *org {
	t.Helper()
	o := &org{api: newAPI(t)}
	o.platform = o.token(tenant.RolePlatformAdmin, uuid.Nil)
	o.do(o.platform, "POST", "/api/v1/tenants", map[string]any{"name": "Acme", "tenant_type": "parent"}).want(t, 201, &o.A)
	o.do(o.platform, "POST", "/api/v1/tenants", map[string]any{"name": "Globex", "tenant_type": "parent"}).want(t, 201, &o.B)
	o.adminA, o.adminB = o.token(tenant.RoleTenantAdmin, o.A.TenantID), o.token(tenant.RoleTenantAdmin, o.B.TenantID)
	o.memberA = o.token(tenant.RoleMember, o.A.TenantID)
	o.do(o.adminA, "POST", "/api/v1/tenants", map[string]any{"name": "Zeta", "tenant_type": "subsidiary"}).want(t, 201, &o.A2)
	o.do(o.adminA, "POST", "/api/v1/tenants", map[string]any{"name": "Alpha", "tenant_type": "subsidiary", "parent_tenant_id": o.A.TenantID}).want(t, 201, &o.A1)
	o.adminA1 = o.token(tenant.RoleTenantAdmin, o.A1.TenantID)
	return o
}

func TestTenantsHTTP(t *testing.T) {
	o := newOrg(t)

	t.Run("created tenant on the wire", func(t *testing.T) {
		var got tenantOut
		r := o.do(o.platform, "POST", "/api/v1/tenants", `{"name":"  Initech ","tenant_type":"parent","metadata":{"tier":{"n":12345678901234567890}}}`).want(t, 201, &got)
		if loc := r.Header.Get("Location"); loc != "/api/v1/tenants/"+got.TenantID.String() {
			t.Fatalf("Location %q", loc)
		}
		if got.Name != "Initech" || got.ParentTenantID != nil || got.TenantType != "parent" {
			t.Fatalf("got %+v", got)
		}
		for _, ts := range []string{got.CreatedAt, got.UpdatedAt} {
			if p, err := time.Parse(time.RFC3339Nano, ts); err != nil || !strings.HasSuffix(ts, "Z") || p.IsZero() {
				t.Fatalf("timestamp %q is not RFC 3339 UTC", ts)
			}
		}
		if !bytes.Contains(r.Body, []byte(`"parent_tenant_id":null`)) {
			t.Fatalf("parent_tenant_id not null: %s", r.Body)
		}
		var sub tenantOut
		o.do(o.platform, "POST", "/api/v1/tenants", map[string]any{"name": "Sub", "tenant_type": "subsidiary", "parent_tenant_id": got.TenantID}).want(t, 201, &sub)
		if sub.Metadata == nil || len(sub.Metadata) != 0 || sub.ParentTenantID == nil || *sub.ParentTenantID != got.TenantID {
			t.Fatalf("sub %+v", sub)
		}
	})

	for _, c := range []struct {
		name, token, body string
		code              int
		errCode, field    string
	}{
		{"unknown field", o.platform, `{"name":"x","tenant_type":"parent","color":"red"}`, 400, "VALIDATION_ERROR", "color"},
		{"wrong type", o.platform, `{"name":5,"tenant_type":"parent"}`, 400, "VALIDATION_ERROR", "name"},
		{"metadata not an object", o.platform, `{"name":"x","tenant_type":"parent","metadata":[1]}`, 400, "VALIDATION_ERROR", "metadata"},
		{"trailing data", o.platform, `{"name":"x","tenant_type":"parent"} {}`, 400, "VALIDATION_ERROR", "body"},
		{"not an object", o.platform, `["x"]`, 400, "VALIDATION_ERROR", "body"},
		{"truncated", o.platform, `{"name":"x"`, 400, "VALIDATION_ERROR", "body"},
		{"empty body", o.platform, ``, 400, "VALIDATION_ERROR", "body"},
		{"malformed parent id", o.platform, `{"name":"x","tenant_type":"subsidiary","parent_tenant_id":"nope"}`, 400, "VALIDATION_ERROR", "parent_tenant_id"},
		{"name of 201 characters", o.platform, `{"name":"` + strings.Repeat("é", 201) + `","tenant_type":"parent"}`, 400, "VALIDATION_ERROR", "name"},
		{"parent for a parent", o.platform, `{"name":"x","tenant_type":"parent","parent_tenant_id":"` + o.A.TenantID.String() + `"}`, 400, "VALIDATION_ERROR", "parent_tenant_id"},
		{"parent is a subsidiary", o.platform, `{"name":"x","tenant_type":"subsidiary","parent_tenant_id":"` + o.A1.TenantID.String() + `"}`, 400, "VALIDATION_ERROR", "parent_tenant_id"},
		{"parent not visible", o.adminB, `{"name":"x","tenant_type":"subsidiary","parent_tenant_id":"` + o.A.TenantID.String() + `"}`, 404, "NOT_FOUND", ""},
		{"duplicate name", o.adminA, `{"name":"ALPHA","tenant_type":"subsidiary"}`, 409, "CONFLICT", ""},
		{"member", o.memberA, `{"name":"x","tenant_type":"subsidiary"}`, 403, "FORBIDDEN", ""},
	} {
		t.Run("POST "+c.name, func(t *testing.T) {
			o.do(c.token, "POST", "/api/v1/tenants", c.body).wantError(t, c.code, c.errCode, c.field)
		})
	}

	t.Run("list, paging and filters", func(t *testing.T) {
		var page struct {
			Tenants    []tenantOut `json:"tenants"`
			TotalCount int         `json:"total_count"`
			Limit      int         `json:"limit"`
			Offset     int         `json:"offset"`
		}
		o.do(o.adminA, "GET", "/api/v1/tenants?limit=2&offset=1", nil).want(t, 200, &page)
		if page.TotalCount != 3 || page.Limit != 2 || page.Offset != 1 || len(page.Tenants) != 2 ||
			page.Tenants[0].TenantID != o.A2.TenantID || page.Tenants[1].TenantID != o.A1.TenantID {
			t.Fatalf("page %+v", page)
		}
		o.do(o.adminB, "GET", "/api/v1/tenants?tenant_type=subsidiary", nil).want(t, 200, &page)
		if page.TotalCount != 0 || page.Tenants == nil || page.Limit != 100 {
			t.Fatalf("B's subsidiaries: %+v", page)
		}
		for _, q := range []string{"limit=0", "limit=1001", "limit=x", "offset=-1", "tenant_type=bogus"} {
			field := strings.SplitN(q, "=", 2)[0]
			o.do(o.adminA, "GET", "/api/v1/tenants?"+q, nil).wantError(t, 400, "VALIDATION_ERROR", field)
		}
	})

	t.Run("get, hierarchy and isolation", func(t *testing.T) {
		o.do(o.adminB, "GET", "/api/v1/tenants/"+o.A.TenantID.String(), nil).wantError(t, 404, "NOT_FOUND", "")
		o.do(o.adminA1, "GET", "/api/v1/tenants/"+o.A2.TenantID.String(), nil).wantError(t, 404, "NOT_FOUND", "")
		o.do(o.adminA, "GET", "/api/v1/tenants/not-a-uuid", nil).wantError(t, 400, "VALIDATION_ERROR", "id")
		var h []tenantOut
		o.do(o.memberA, "GET", "/api/v1/tenants/"+o.A.TenantID.String()+"/hierarchy", nil).want(t, 200, &h)
		if len(h) != 3 || h[0].TenantID != o.A.TenantID || h[1].Name != "Alpha" || h[2].Name != "Zeta" {
			t.Fatalf("hierarchy %+v", h)
		}
		// A parent's admin acting in its subsidiary through X-Tenant-ID.
		var one tenantOut
		o.do(o.adminA, "GET", "/api/v1/tenants/"+o.A1.TenantID.String(), nil, "X-Tenant-ID", o.A1.TenantID.String()).want(t, 200, &one)
	})

	t.Run("update", func(t *testing.T) {
		path := "/api/v1/tenants/" + o.A1.TenantID.String()
		o.do(o.adminA, "PATCH", path, `{"metadata":{"k":"v"}}`).want(t, 200, nil)
		var got tenantOut // metadata replaces: the earlier "k" is gone
		o.do(o.adminA1, "PUT", path, `{"name":"Alpha Two","metadata":{"x":1}}`).want(t, 200, &got)
		if got.Name != "Alpha Two" || len(got.Metadata) != 1 || got.Metadata["x"] != float64(1) {
			t.Fatalf("got %+v", got)
		}
		got = tenantOut{}
		o.do(o.adminA, "PATCH", path, `{}`).want(t, 200, &got)
		if got.Name != "Alpha Two" || got.Metadata["x"] != float64(1) {
			t.Fatalf("empty patch changed %+v", got)
		}
		o.do(o.adminA, "PATCH", path, `{"tenant_type":"parent"}`).wantError(t, 400, "VALIDATION_ERROR", "tenant_type")
		o.do(o.adminA, "PATCH", path, `{"parent_tenant_id":"`+o.B.TenantID.String()+`"}`).wantError(t, 400, "VALIDATION_ERROR", "parent_tenant_id")
		o.do(o.adminA, "PATCH", path, `{"name":"zeta"}`).wantError(t, 409, "CONFLICT", "")
		o.do(o.memberA, "PATCH", path, `{"name":"m"}`).wantError(t, 403, "FORBIDDEN", "")
		o.do(o.adminB, "PATCH", path, `{"name":"pwned"}`).wantError(t, 404, "NOT_FOUND", "")
		o.do(o.adminA, "GET", path, nil).want(t, 200, &got)
		if got.Name != "Alpha Two" {
			t.Fatalf("victim changed: %+v", got)
		}
	})

	t.Run("delete", func(t *testing.T) {
		o.do(o.adminA, "DELETE", "/api/v1/tenants/"+o.A.TenantID.String(), nil).wantError(t, 403, "FORBIDDEN", "")
		o.do(o.adminB, "DELETE", "/api/v1/tenants/"+o.A2.TenantID.String(), nil).wantError(t, 404, "NOT_FOUND", "")
		o.do(o.platform, "DELETE", "/api/v1/tenants/"+o.A.TenantID.String(), nil).wantError(t, 409, "CONFLICT", "")
		r := o.do(o.adminA, "DELETE", "/api/v1/tenants/"+o.A2.TenantID.String(), nil).want(t, 204, nil)
		if len(r.Body) != 0 {
			t.Fatalf("204 with body %q", r.Body)
		}
		o.do(o.adminA, "GET", "/api/v1/tenants/"+o.A2.TenantID.String(), nil).wantError(t, 404, "NOT_FOUND", "")
		// Its tokens stop working.
		a2 := o.token(tenant.RoleTenantAdmin, o.A2.TenantID)
		o.do(a2, "GET", "/api/v1/users", nil).wantError(t, 403, "FORBIDDEN", "")
	})
	t.Run("body over the limit is 413, declared or not", func(t *testing.T) {
		big := `{"name":"x","tenant_type":"parent","metadata":{"pad":"` + strings.Repeat("x", 2<<20) + `"}}`
		o.do(o.platform, "POST", "/api/v1/tenants", big).wantError(t, 413, "PAYLOAD_TOO_LARGE", "")
		chunked := io.MultiReader(strings.NewReader(big))
		o.do(o.platform, "POST", "/api/v1/tenants", chunked).wantError(t, 413, "PAYLOAD_TOO_LARGE", "")
	})
	t.Run("unsupported method on the collection", func(t *testing.T) {
		o.do(o.platform, "DELETE", "/api/v1/tenants", nil).wantError(t, 405, "METHOD_NOT_ALLOWED", "")
	})
}
