package httpapi

import (
	"math"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"

	"github.com/mtdb/mtdb/internal/config"
	"github.com/mtdb/mtdb/internal/errs"
)

// rateLimit limits each client IP to cfg.RequestsPerSecond (token bucket of
// cfg.Burst). Over the limit: 429 RATE_LIMITED with Retry-After. Health
// probes and /metrics are never limited. The client IP is the connection's
// peer address (Echo's IPExtractor), not a spoofable header.
func rateLimit(cfg config.RateLimitConfig) echo.MiddlewareFunc {
	retryAfter := strconv.Itoa(int(math.Max(1, math.Ceil(1/cfg.RequestsPerSecond))))
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Skipper: func(c echo.Context) bool {
			p := c.Request().URL.Path
			return p == "/health" || p == "/metrics" || strings.HasPrefix(p, "/api/v1/health")
		},
		Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
			Rate: rate.Limit(cfg.RequestsPerSecond), Burst: cfg.Burst,
		}),
		IdentifierExtractor: func(c echo.Context) (string, error) { return c.RealIP(), nil },
		ErrorHandler: func(c echo.Context, err error) error {
			return &errs.Error{Kind: errs.KindInternal, Err: err}
		},
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			c.Response().Header().Set("Retry-After", retryAfter)
			return &errs.Error{Kind: errs.KindRateLimited, Message: "too many requests, retry later"}
		},
	})
}
