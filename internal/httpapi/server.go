// Package httpapi owns mtdb's HTTP surface: the Echo server, its middleware
// stack (request id, access log, recover, CORS, gzip, body limit, request
// timeout, security headers), the error envelope, the route table
// (routes.go), the handlers and their JSON wire types.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/config"
	"github.com/mtdb/mtdb/internal/health"
)

// Deps are the collaborators a Server needs. Nil fields disable what needs
// them (for example a nil Ent client leaves the resource routes out).
type Deps struct {
	// Version is reported by the health endpoints.
	Version string
	// Health runs the database, migrations and RLS checks; required.
	Health *health.Checker
	// Pool is exported in /metrics and /health/detailed; may be nil.
	Pool *pgxpool.Pool
	// Ent is the tenant-aware client the resource handlers use; nil leaves
	// the resource routes out.
	Ent *ent.Client
	// Verifier checks bearer tokens on the tenant endpoints; required with Ent.
	Verifier *auth.Verifier
}

// Server is the HTTP API. Create it with NewServer.
type Server struct {
	cfg     *config.Config
	log     *slog.Logger
	deps    Deps
	echo    *echo.Echo
	http    *http.Server
	metrics *metrics
	started time.Time
}

// NewServer builds the Echo instance with its middleware and routes, and
// the http.Server with the configured timeouts. It does not listen.
func NewServer(cfg *config.Config, log *slog.Logger, deps Deps) *Server {
	if deps.Health == nil {
		deps.Health = health.New(health.Options{Pool: deps.Pool, Log: log})
	}
	if deps.Version == "" {
		deps.Version = "dev"
	}
	s := &Server{cfg: cfg, log: log, deps: deps, metrics: newMetrics(deps.Pool), started: time.Now()}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = echo.ExtractIPDirect() // the peer address; X-Forwarded-For is not trusted
	e.Pre(headAsGet, trimTrailingSlash)
	e.Use(restoreHEAD, withRequestID, s.observe, s.recoverPanic, securityHeaders)
	if cfg.RateLimit.RequestsPerSecond > 0 {
		e.Use(rateLimit(cfg.RateLimit))
	}
	if len(cfg.CORS.AllowedOrigins) > 0 { // an empty list allows no origin (Echo would default to *)
		e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins:  cfg.CORS.AllowedOrigins,
			AllowMethods:  []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
			AllowHeaders:  []string{echo.HeaderAuthorization, echo.HeaderContentType, "X-Tenant-ID", HeaderRequestID},
			ExposeHeaders: []string{HeaderRequestID, echo.HeaderLocation, "Retry-After"},
			MaxAge:        600,
		}))
	}
	e.Use(normalizeAcceptEncoding, middleware.GzipWithConfig(middleware.GzipConfig{
		Skipper: func(c echo.Context) bool { return strings.HasPrefix(c.Request().URL.Path, "/metrics") },
	}))
	e.Use(renderErrors, limitBody(cfg.Server.BodyLimit), withTimeout(cfg.Server.RequestTimeout))
	s.echo = e
	s.routes()
	s.http = &http.Server{
		Handler:           e,
		ReadTimeout:       cfg.Server.ReadTimeout,
		ReadHeaderTimeout: cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s
}

// Echo returns the underlying Echo instance (tests add routes to it).
func (s *Server) Echo() *echo.Echo { return s.echo }

// Handler returns the server's http.Handler.
func (s *Server) Handler() http.Handler { return s.echo }

// Serve accepts connections on ln until Shutdown; it returns nil after a
// graceful Shutdown and the listener's error otherwise.
func (s *Server) Serve(ln net.Listener) error {
	err := s.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown turns readiness to 503 at once, stops accepting connections and
// waits for in-flight requests until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.deps.Health.SetShuttingDown()
	return s.http.Shutdown(ctx)
}
