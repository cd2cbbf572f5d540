package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/tenant"
)

// Where a request names its tenant, in order of precedence (then the
// token's tenant_id claim).
const (
	TenantHeader = "X-Tenant-ID"
	TenantCookie = "tenant_id"
)

// ContextKeyTenantID is the echo.Context key holding the effective tenant id
// (a string, empty when none), for access logs.
const ContextKeyTenantID = "tenant_id"

// Reach checks, for a request whose handler did no database work, that
// the caller of ctx may act in its tenant; tenants.Service implements it.
// Requests that touched the database had it checked by their first
// transaction already (the settings statement refuses such a tenant).
type Reach interface {
	Enter(ctx context.Context) error
}

// TenantContext returns the middleware of the tenant endpoints (CONTRACT §3).
// It authenticates the bearer token with v, resolves the effective tenant
// (X-Tenant-ID header, else tenant_id cookie, else the token's claim) and
// puts the resulting tenant.Context on the request's context.Context
// (ReadOnly for GET and HEAD), where the ent driver picks it up.
//
// Whether the caller may act in that tenant is checked by the database, in
// the request's own first transaction (the settings statement, see
// internal/tenant): no extra round trip. A handler that answered without
// touching the database gets the check from reach afterwards, so an
// unknown, deleted or out-of-reach tenant is 403 on every tenant endpoint.
//
// Errors are *errs.Error: 401 for a missing (when authRequired) or invalid
// token, with WWW-Authenticate set; 400 for a malformed tenant id; 403 for
// an unknown, deleted or out-of-reach tenant; 503/504 when the check
// cannot reach the database.
//
// Without a token and with authRequired false (development only), a named
// tenant is trusted and the caller acts as its tenant_admin; with no tenant
// named it acts as platform_admin. The named tenant must still exist.
func TenantContext(v auth.Authenticator, authRequired bool, reach Reach) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			tc, err := resolve(req, v, authRequired)
			if err != nil {
				if errs.KindOf(err) == errs.KindUnauthorized {
					c.Response().Header().Set(echo.HeaderWWWAuthenticate, wwwAuthenticate(err))
				}
				return err
			}
			tc.ReadOnly = req.Method == http.MethodGet || req.Method == http.MethodHead
			tc.ReplicaOK = tc.ReadOnly // reads of GET and HEAD may come from a read replica (DATABASE_READ_URL)
			tc.RequestID = requestID(c)
			if tc.HasTenant() {
				c.Set(ContextKeyTenantID, tc.TenantID.String())
			}
			ctx := tenant.With(req.Context(), tc)
			c.SetRequest(req.WithContext(ctx))
			err = next(c)
			if tc, _ := tenant.From(ctx); tc.HasTenant() && !tc.Checked() && !c.Response().Committed {
				if rerr := reach.Enter(ctx); rerr != nil {
					return rerr
				}
			}
			return err
		}
	}
}

// resolve works out the tenant.Context of req (without ReadOnly).
func resolve(req *http.Request, v auth.Authenticator, authRequired bool) (tenant.Context, error) {
	claims, authenticated, err := authenticate(req, v, authRequired)
	if err != nil {
		return tenant.Context{}, err
	}
	named, err := namedTenant(req)
	if err != nil {
		return tenant.Context{}, err
	}
	if named != nil && *named == uuid.Nil {
		return tenant.Context{}, database.ErrTenantUnreachable(errors.New("the nil UUID names no tenant"))
	}
	if !authenticated {
		if named == nil {
			return tenant.Context{Role: tenant.RolePlatformAdmin}, nil
		}
		return tenant.Context{TenantID: *named, Role: tenant.RoleTenantAdmin}, nil
	}
	effective := claims.TenantID
	if named != nil {
		effective = *named
	}
	// The database checks HomeTenantID's reach over TenantID in every
	// transaction (mtdb_enter): a subsidiary of the home tenant, or any
	// live tenant for a platform_admin.
	return tenant.Context{TenantID: effective, HomeTenantID: claims.TenantID, UserID: claims.Subject, Role: claims.Role}, nil
}

// authenticate verifies the request's credential (a bearer JWT or API
// key, or X-API-Key) with v. authenticated is false when there is none and
// none is required. A valid token without a mappable role is 403; no
// usable signing key is 503; every other failure is 401.
func authenticate(req *http.Request, v auth.Authenticator, authRequired bool) (auth.Claims, bool, error) {
	raw, err := auth.Credential(req.Header)
	if errors.Is(err, auth.ErrMissing) && !authRequired {
		return auth.Claims{}, false, nil
	}
	if err == nil {
		var claims auth.Claims
		if claims, err = v.Authenticate(req.Context(), raw); err == nil {
			return claims, true, nil
		}
	}
	var dbErr *errs.Error
	if errors.As(err, &dbErr) { // the database, while looking up an API key
		return auth.Claims{}, false, err
	}
	switch {
	case errors.Is(err, auth.ErrRole):
		return auth.Claims{}, false, &errs.Error{Kind: errs.KindForbidden, Message: auth.PublicMessage(err), Err: err}
	case errors.Is(err, auth.ErrUnavailable):
		return auth.Claims{}, false, &errs.Error{Kind: errs.KindUnavailable, Message: auth.PublicMessage(err), Err: err}
	}
	return auth.Claims{}, false, &errs.Error{Kind: errs.KindUnauthorized, Message: auth.PublicMessage(err), Err: err}
}

// wwwAuthenticate is the challenge for a 401 (RFC 6750 §3).
func wwwAuthenticate(err error) string {
	if errors.Is(err, auth.ErrMissing) {
		return "Bearer"
	}
	return `Bearer error="invalid_token"`
}

// namedTenant returns the tenant named by the X-Tenant-ID header or, when
// that is absent, the tenant_id cookie; nil when neither is present.
//
// A header or cookie given more than once is Invalid: the copies could name
// different tenants, and another component (a proxy, a log) might have read
// another copy than the one served.
func namedTenant(req *http.Request) (*uuid.UUID, error) {
	if len(req.Header.Values(TenantHeader)) > 1 {
		return nil, errs.Invalid(TenantHeader, "must be given once")
	}
	source, value := TenantHeader, strings.TrimSpace(req.Header.Get(TenantHeader))
	if value == "" {
		cookies := req.CookiesNamed(TenantCookie)
		if len(cookies) > 1 {
			return nil, errs.Invalid(TenantCookie, "must be given once")
		}
		if len(cookies) == 0 || strings.TrimSpace(cookies[0].Value) == "" {
			return nil, nil
		}
		source, value = TenantCookie, strings.TrimSpace(cookies[0].Value)
	}
	id, err := parseID(value)
	if err != nil {
		return nil, errs.Invalid(source, "must be a UUID")
	}
	return &id, nil
}
