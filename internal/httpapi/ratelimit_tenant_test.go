package httpapi_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/config"
	"github.com/mtdb/mtdb/internal/tenant"
)

// One tenant over its budget gets 429 RATE_LIMITED with Retry-After; another
// tenant, from the same client address, keeps being served.
func TestTenantRateLimit(t *testing.T) {
	a := newAPIWithEnv(t, map[string]string{
		"RATE_LIMIT_TENANT_REQUESTS_PER_SECOND": "0.5",
		"RATE_LIMIT_TENANT_BURST":               "5",
	})
	platform := a.token(tenant.RolePlatformAdmin, uuid.Nil)
	var noisy, quiet tenantOut
	a.do(platform, "POST", "/api/v1/tenants", map[string]any{"name": "Noisy", "tenant_type": "parent"}).want(t, 201, &noisy)
	a.do(platform, "POST", "/api/v1/tenants", map[string]any{"name": "Quiet", "tenant_type": "parent"}).want(t, 201, &quiet)
	noisyTok := a.token(tenant.RoleTenantAdmin, noisy.TenantID)
	quietTok := a.token(tenant.RoleTenantAdmin, quiet.TenantID)

	limited, served := 0, 0
	for range 20 {
		r := a.do(noisyTok, "GET", "/api/v1/users", nil)
		switch r.Code {
		case 200:
			served++
		case 429:
			limited++
			r.wantError(t, 429, "RATE_LIMITED", "")
			if r.Header.Get("Retry-After") != "2" {
				t.Fatalf("Retry-After %q, want 2", r.Header.Get("Retry-After"))
			}
		default:
			t.Fatalf("noisy tenant: status %d: %s", r.Code, r.Body)
		}
	}
	if served != 5 || limited != 15 {
		t.Fatalf("noisy tenant: %d served, %d limited; want 5 and 15 (burst 5)", served, limited)
	}
	// The quiet tenant has its own bucket: all of its burst is served, at
	// the usual latency, while the noisy one is still throttled.
	for i := range 5 {
		start := time.Now()
		a.do(quietTok, "GET", "/api/v1/users", nil).want(t, 200, nil)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("quiet tenant request %d took %s", i, d)
		}
	}
	a.do(noisyTok, "GET", "/api/v1/users", nil).wantError(t, 429, "RATE_LIMITED", "")
	// The platform admin acting across tenants (no effective tenant) has no
	// tenant bucket; naming the noisy tenant puts it in that tenant's.
	for range 10 {
		a.do(platform, "GET", "/api/v1/tenants", nil).want(t, 200, nil)
	}
	a.do(platform, "GET", "/api/v1/users", nil, "X-Tenant-ID", noisy.TenantID.String()).wantError(t, 429, "RATE_LIMITED", "")
}

// In development the per-tenant limit is off unless configured; elsewhere
// it is on by default.
func TestTenantRateLimitDefaults(t *testing.T) {
	t.Chdir(t.TempDir()) // no config.yaml
	for _, c := range []struct {
		env  map[string]string
		want float64
	}{
		{map[string]string{}, 0},
		{map[string]string{"ENVIRONMENT": "production", "JWT_SECRET_KEY": testSecret, "DATABASE_URL": "postgres://db/x"}, 1000},
		{map[string]string{"ENVIRONMENT": "production", "JWT_SECRET_KEY": testSecret, "DATABASE_URL": "postgres://db/x", "RATE_LIMIT_TENANT_REQUESTS_PER_SECOND": "0"}, 0},
	} {
		cfg, err := config.Load(config.Options{Getenv: func(k string) string { return c.env[k] }})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.RateLimit.TenantRequestsPerSecond != c.want {
			t.Errorf("env %v: tenant rate %g, want %g", c.env, cfg.RateLimit.TenantRequestsPerSecond, c.want)
		}
	}
}
