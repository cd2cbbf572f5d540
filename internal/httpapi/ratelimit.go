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

// rateLimit limits each client IP to cfg.RequestsPerSecond (token bucket of
// cfg.Burst). Over the limit: 429 RATE_LIMITED with Retry-After. Every
// request counts but the probes (probePaths). The client IP is c.RealIP():
// the connection's peer, or the client a trusted proxy names (clientIP),
// never a header from anyone else.
func rateLimit(cfg config.RateLimitConfig) echo.MiddlewareFunc {
	return limiter(cfg.RequestsPerSecond, cfg.Burst, "too many requests, retry later", func(c echo.Context) string {
		if probePaths[c.Request().URL.Path] {
			return ""
		}
		return c.RealIP()
	})
}

// limiter is the token bucket behind both rate limits: rps per key, burst
// burst; key returns "" for a request the limit does not apply to. Over the
// limit: 429 RATE_LIMITED with Retry-After and message. Buckets idle for
// three minutes are dropped (the store's default), so memory follows the
// active keys.
func limiter(rps float64, burst int, message string, key func(echo.Context) string) echo.MiddlewareFunc {
	retryAfter := strconv.Itoa(int(math.Max(1, math.Ceil(1/rps))))
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Skipper: func(c echo.Context) bool { return key(c) == "" },
		Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
			Rate: rate.Limit(rps), Burst: burst,
		}),
		IdentifierExtractor: func(c echo.Context) (string, error) { return key(c), nil },
		ErrorHandler: func(c echo.Context, err error) error {
			return &errs.Error{Kind: errs.KindInternal, Err: err}
		},
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			c.Response().Header().Set("Retry-After", retryAfter)
			return &errs.Error{Kind: errs.KindRateLimited, Message: message}
		},
	})
}

// probePaths are the orchestrator's probes, exempt from the per-IP limit:
// they cost no database work per request (liveness and /health answer
// from memory, readiness from the shared ping and the cached checks), and
// a kubelet whose address also carries client traffic (SNAT) must never
// see its probes refused. Every other health route is limited like the API.
var probePaths = map[string]bool{
	"/health":                  true,
	"/api/v1/health/liveness":  true,
	"/api/v1/health/readiness": true,
}
