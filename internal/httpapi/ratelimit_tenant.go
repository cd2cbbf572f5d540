package httpapi

import (
	"math"

	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/internal/config"
)

// tenantRateLimit limits each effective tenant to cfg.TenantRequestsPerSecond
// (a token bucket of cfg.TenantBurst, default ceil(rate)). Over the limit:
// 429 RATE_LIMITED with Retry-After.
//
// It must run after TenantContext, which records the effective tenant on
// the echo.Context: the bucket is the tenant's, whoever the caller and
// whatever the client address, so one busy tenant cannot starve the others
// of the shared connection pool. It composes with the per-client-IP limiter
// (rateLimit), which runs first for every request, authenticated or not;
// a request must pass both. Requests with no effective tenant (a
// platform_admin acting across tenants) are not limited here.
func tenantRateLimit(cfg config.RateLimitConfig) echo.MiddlewareFunc {
	burst := cfg.TenantBurst
	if burst <= 0 {
		burst = int(math.Ceil(cfg.TenantRequestsPerSecond))
	}
	return limiter(cfg.TenantRequestsPerSecond, burst, "too many requests for this tenant, retry later", func(c echo.Context) string {
		tid, _ := c.Get(ContextKeyTenantID).(string)
		return tid
	})
}
