package httpapi

import (
	"math"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"

	"github.com/mtdb/mtdb/internal/config"
	"github.com/mtdb/mtdb/internal/errs"
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
	retryAfter := strconv.Itoa(int(math.Max(1, math.Ceil(1/cfg.TenantRequestsPerSecond))))
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Skipper: func(c echo.Context) bool {
			tid, _ := c.Get(ContextKeyTenantID).(string)
			return tid == ""
		},
		// Buckets of tenants idle for three minutes are dropped (the
		// store's default), so memory follows the active tenants.
		Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
			Rate: rate.Limit(cfg.TenantRequestsPerSecond), Burst: burst,
		}),
		IdentifierExtractor: func(c echo.Context) (string, error) {
			tid, _ := c.Get(ContextKeyTenantID).(string)
			return tid, nil
		},
		ErrorHandler: func(c echo.Context, err error) error {
			return &errs.Error{Kind: errs.KindInternal, Err: err}
		},
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			c.Response().Header().Set("Retry-After", retryAfter)
			return &errs.Error{Kind: errs.KindRateLimited, Message: "too many requests for this tenant, retry later"}
		},
	})
}
