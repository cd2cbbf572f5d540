package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/pgtest"
	"github.com/mtdb/mtdb/internal/tenant"
	"github.com/mtdb/mtdb/internal/tenants"
)

var tcSecret = []byte("tenantctx-test-secret-0123456789abcdef")

// tcWorld: parent A with subsidiary A1 and deleted subsidiary AD; parent B;
// deleted parent X.
type tcWorld struct {
	db              *database.DB
	v               *auth.Verifier
	A, A1, AD, B, X uuid.UUID
}

func newTCWorld(t *testing.T) *tcWorld {
	t.Helper()
	pg := pgtest.New(t)
	w := &tcWorld{A: uuid.New(), A1: uuid.New(), AD: uuid.New(), B: uuid.New(), X: uuid.New()}
	owner := pg.OwnerPool(t)
	for _, x := range []struct {
		id, parent uuid.UUID
		name       string
		deleted    bool
	}{
		{w.A, uuid.Nil, "A", false}, {w.B, uuid.Nil, "B", false}, {w.X, uuid.Nil, "X", true},
		{w.A1, w.A, "A1", false}, {w.AD, w.A, "AD", true},
	} {
		typ, parent, deleted := "parent", any(nil), any(nil)
		if x.parent != uuid.Nil {
			typ, parent = "subsidiary", x.parent
		}
		if x.deleted {
			deleted = time.Now()
		}
		if _, err := owner.Exec(context.Background(), `INSERT INTO tenants (id, name, tenant_type, parent_tenant_id, metadata, created_at, updated_at, deleted_at)
			VALUES ($1, $2, $3, $4, '{}', now(), now(), $5)`, x.id, x.name, typ, parent, deleted); err != nil {
			t.Fatal(err)
		}
	}
	db, err := database.Open(context.Background(), database.Options{URL: pg.AppURL, SettingsMode: pgtest.SettingsMode()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	w.db = db
	if w.v, err = auth.NewVerifier(auth.Config{Secret: tcSecret}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *tcWorld) token(t *testing.T, role tenant.Role, tid uuid.UUID) string {
	t.Helper()
	s, err := auth.Sign(tcSecret, auth.Claims{Subject: "sub-" + string(role), Role: role, TenantID: tid}, time.Hour, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// request describes one call through the middleware.
type request struct {
	method, token, header, cookie string
}

// run passes r through TenantContext and returns the tenant context the
// handler saw (if it ran), the echo "tenant_id" value, the middleware's
// error and the recorder.
//
//lint:ignore ST1008 the middleware's error sits beside what it produced, in the order a reader checks them
func (w *tcWorld) run(t *testing.T, authRequired bool, r request) (tenant.Context, any, error, *httptest.ResponseRecorder) {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	req := httptest.NewRequest(r.method, "/api/v1/users", nil)
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.header != "" {
		req.Header.Set("X-Tenant-ID", r.header)
	}
	if r.cookie != "" {
		req.AddCookie(&http.Cookie{Name: "tenant_id", Value: r.cookie})
	}
	rec := httptest.NewRecorder()
	c := echo.New().NewContext(req, rec)
	var seen tenant.Context
	ran := false
	err := TenantContext(w.v, authRequired, tenants.NewService(w.db.Ent))(func(c echo.Context) error {
		ran = true
		var ok bool
		if seen, ok = tenant.From(c.Request().Context()); !ok {
			t.Fatal("handler ran without a tenant context")
		}
		return nil
	})(c)
	if err == nil && !ran {
		t.Fatal("middleware neither failed nor called the handler")
	}
	return seen, c.Get("tenant_id"), err, rec
}

// plain is c without what the middleware shares among a request's copies
// of it (whether the reach check ran), for comparison.
func plain(c tenant.Context) tenant.Context {
	return tenant.Context{TenantID: c.TenantID, HomeTenantID: c.HomeTenantID, UserID: c.UserID, Role: c.Role, ReadOnly: c.ReadOnly, RequestID: c.RequestID}
}

func TestTenantContextResolves(t *testing.T) {
	w := newTCWorld(t)
	adminA := w.token(t, tenant.RoleTenantAdmin, w.A)
	memberA1 := w.token(t, tenant.RoleMember, w.A1)
	platform := w.token(t, tenant.RolePlatformAdmin, uuid.Nil)
	tests := []struct {
		name         string
		authRequired bool
		req          request
		want         tenant.Context
	}{
		{"claim", true, request{token: adminA},
			tenant.Context{TenantID: w.A, HomeTenantID: w.A, UserID: "sub-tenant_admin", Role: tenant.RoleTenantAdmin, ReadOnly: true}},
		{"header names a subsidiary", true, request{token: adminA, header: w.A1.String(), method: http.MethodPost},
			tenant.Context{TenantID: w.A1, HomeTenantID: w.A, UserID: "sub-tenant_admin", Role: tenant.RoleTenantAdmin}},
		{"cookie names a subsidiary", true, request{token: adminA, cookie: w.A1.String()},
			tenant.Context{TenantID: w.A1, HomeTenantID: w.A, UserID: "sub-tenant_admin", Role: tenant.RoleTenantAdmin, ReadOnly: true}},
		{"header beats cookie", true, request{token: adminA, header: w.A.String(), cookie: w.A1.String()},
			tenant.Context{TenantID: w.A, HomeTenantID: w.A, UserID: "sub-tenant_admin", Role: tenant.RoleTenantAdmin, ReadOnly: true}},
		{"header beats a bad cookie", true, request{token: adminA, header: w.A1.String(), cookie: "junk"},
			tenant.Context{TenantID: w.A1, HomeTenantID: w.A, UserID: "sub-tenant_admin", Role: tenant.RoleTenantAdmin, ReadOnly: true}},
		{"member in its own subsidiary", true, request{token: memberA1, method: http.MethodHead},
			tenant.Context{TenantID: w.A1, HomeTenantID: w.A1, UserID: "sub-member", Role: tenant.RoleMember, ReadOnly: true}},
		{"platform admin without tenant", true, request{token: platform, method: http.MethodDelete},
			tenant.Context{UserID: "sub-platform_admin", Role: tenant.RolePlatformAdmin}},
		{"platform admin names any tenant", true, request{token: platform, header: w.B.String()},
			tenant.Context{TenantID: w.B, UserID: "sub-platform_admin", Role: tenant.RolePlatformAdmin, ReadOnly: true}},
		{"no auth, tenant named", false, request{header: w.A1.String(), method: http.MethodPatch},
			tenant.Context{TenantID: w.A1, Role: tenant.RoleTenantAdmin}},
		{"no auth, cookie", false, request{cookie: w.B.String()},
			tenant.Context{TenantID: w.B, Role: tenant.RoleTenantAdmin, ReadOnly: true}},
		{"no auth, no tenant", false, request{},
			tenant.Context{Role: tenant.RolePlatformAdmin, ReadOnly: true}},
		{"no auth, token still honoured", false, request{token: memberA1},
			tenant.Context{TenantID: w.A1, HomeTenantID: w.A1, UserID: "sub-member", Role: tenant.RoleMember, ReadOnly: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, logged, err, _ := w.run(t, tt.authRequired, tt.req)
			if err != nil {
				t.Fatalf("middleware: %v", err)
			}
			if got = plain(got); got != tt.want {
				t.Fatalf("context = %+v, want %+v", got, tt.want)
			}
			wantLogged := any(nil)
			if tt.want.HasTenant() {
				wantLogged = tt.want.TenantID.String()
			}
			if logged != wantLogged {
				t.Fatalf("echo tenant_id = %v, want %v", logged, wantLogged)
			}
		})
	}
}

func TestTenantContextRefuses(t *testing.T) {
	w := newTCWorld(t)
	adminA := w.token(t, tenant.RoleTenantAdmin, w.A)
	memberA1 := w.token(t, tenant.RoleMember, w.A1)
	adminB := w.token(t, tenant.RoleTenantAdmin, w.B)
	platform := w.token(t, tenant.RolePlatformAdmin, uuid.Nil)
	deletedOwn := w.token(t, tenant.RoleTenantAdmin, w.X)
	unknownOwn := w.token(t, tenant.RoleMember, uuid.New())
	expired, _ := auth.Sign(tcSecret, auth.Claims{Role: tenant.RolePlatformAdmin}, time.Nanosecond, "", "")
	time.Sleep(10 * time.Millisecond)
	strictV, _ := auth.NewVerifier(auth.Config{Secret: tcSecret, Leeway: -1})
	forged, _ := auth.Sign([]byte("another-secret-another-secret-xxxx"), auth.Claims{Role: tenant.RolePlatformAdmin}, time.Hour, "", "")

	tests := []struct {
		name         string
		authRequired bool
		req          request
		want         errs.Kind
		challenge    string
	}{
		{"no token", true, request{header: w.A.String()}, errs.KindUnauthorized, "Bearer"},
		{"garbage token", true, request{token: "garbage"}, errs.KindUnauthorized, `Bearer error="invalid_token"`},
		{"forged token", false, request{token: forged}, errs.KindUnauthorized, `Bearer error="invalid_token"`},
		{"malformed header", true, request{token: adminA, header: "acme"}, errs.KindInvalid, ""},
		{"uuid without hyphens", true, request{token: adminA, header: "6f1c3f5e2b7a4c8e9d3a1f2e3d4c5b6a"}, errs.KindInvalid, ""},
		{"malformed cookie", true, request{token: adminA, cookie: "acme"}, errs.KindInvalid, ""},
		{"malformed header without auth", false, request{header: "1"}, errs.KindInvalid, ""},
		{"other organisation", true, request{token: adminA, header: w.B.String()}, errs.KindForbidden, ""},
		{"other organisation by cookie", true, request{token: adminB, cookie: w.A1.String()}, errs.KindForbidden, ""},
		{"subsidiary names its parent", true, request{token: memberA1, header: w.A.String()}, errs.KindForbidden, ""},
		{"deleted subsidiary", true, request{token: adminA, header: w.AD.String()}, errs.KindForbidden, ""},
		{"unknown tenant", true, request{token: adminA, header: uuid.NewString()}, errs.KindForbidden, ""},
		{"nil tenant", true, request{token: adminA, header: uuid.Nil.String()}, errs.KindForbidden, ""},
		{"token of a deleted tenant", true, request{token: deletedOwn}, errs.KindForbidden, ""},
		{"token of an unknown tenant", true, request{token: unknownOwn}, errs.KindForbidden, ""},
		{"platform admin names a deleted tenant", true, request{token: platform, header: w.X.String()}, errs.KindForbidden, ""},
		{"no auth names a deleted tenant", false, request{header: w.AD.String()}, errs.KindForbidden, ""},
		{"no auth names an unknown tenant", false, request{cookie: uuid.NewString()}, errs.KindForbidden, ""},
	}
	var forbidden string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err, rec := w.run(t, tt.authRequired, tt.req)
			if err == nil {
				t.Fatal("middleware let the request through")
			}
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != tt.want {
				t.Fatalf("error = %#v, want kind %v", err, tt.want)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Fatalf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
			if tt.want == errs.KindForbidden {
				// Unknown, deleted and out of reach look the same.
				if forbidden == "" {
					forbidden = e.Message
				} else if e.Message != forbidden {
					t.Fatalf("403 message %q differs from %q", e.Message, forbidden)
				}
			}
		})
	}
	// An expired token (checked without leeway, to keep the test fast).
	w.v = strictV
	_, _, err, rec := w.run(t, true, request{token: expired})
	if errs.KindOf(err) != errs.KindUnauthorized || rec.Header().Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
		t.Fatalf("expired token: %v, challenge %q", err, rec.Header().Get("WWW-Authenticate"))
	}
}
