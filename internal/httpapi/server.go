// Package httpapi owns mtdb's HTTP surface: the Echo server, its middleware
// stack (request id, access log, recover, CORS, gzip, body limit, request
// timeout, security headers), the error envelope, the route table
// (routes.go), the handlers and their JSON wire types.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/internal/admission"
	"github.com/mtdb/mtdb/internal/apikeys"
	"github.com/mtdb/mtdb/internal/audit"
	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/config"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/health"
	"github.com/mtdb/mtdb/internal/idempotency"
	"github.com/mtdb/mtdb/internal/projects"
	"github.com/mtdb/mtdb/internal/tenants"
	"github.com/mtdb/mtdb/internal/users"
)

// Deps are the collaborators a Server needs, built by the caller (`mtdb
// serve`). Every field but Version is required: NewServer refuses a
// missing one rather than leaving routes out or reporting ready without
// an RLS check.
type Deps struct {
	// Version is reported by the health endpoints ("dev" when empty).
	Version string
	// Health owns the database, migrations and RLS status behind the
	// health endpoints.
	Health *health.Checker
	// Pool is exported in /metrics and /health/detailed.
	Pool *pgxpool.Pool
	// Replica is the read replica (DATABASE_READ_URL), nil without one:
	// readiness and detailed health report it (it never makes them fail:
	// reads fall back to the primary), /metrics counts reads by target.
	Replica *database.Replica
	// Verifier checks bearer tokens on the tenant endpoints.
	Verifier *auth.Verifier
	// Tenants, Users and Projects are the domain services behind the
	// resource routes.
	Tenants  *tenants.Service
	Users    *users.Service
	Projects *projects.Service
	// Audit reads the audit trail behind /audit-events.
	Audit *audit.Service
	// APIKeys is the service behind /api-keys; APIKeyAuth authenticates
	// API keys (the caller runs its Run, which flushes last_used_at).
	APIKeys    *apikeys.Service
	APIKeyAuth *apikeys.Authenticator
	// Ent is the tenant-aware client the Idempotency-Key middleware opens
	// the request transaction with.
	Ent *ent.Client
}

// missing names the required fields of d that are nil.
func (d Deps) missing() []string {
	var m []string
	for _, dep := range []struct {
		name string
		nil  bool
	}{
		{"Health", d.Health == nil}, {"Pool", d.Pool == nil}, {"Verifier", d.Verifier == nil},
		{"Tenants", d.Tenants == nil}, {"Users", d.Users == nil}, {"Projects", d.Projects == nil}, {"Audit", d.Audit == nil}, {"Ent", d.Ent == nil},
		{"APIKeys", d.APIKeys == nil}, {"APIKeyAuth", d.APIKeyAuth == nil},
	} {
		if dep.nil {
			m = append(m, dep.name)
		}
	}
	return m
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
	// The idempotency key purge: started by the first Serve, ended by
	// Shutdown (purgeCtx is made with the Server, so both may run at once).
	purgeCtx   context.Context
	stopPurge  context.CancelFunc
	startPurge sync.Once
	// admission guards the tenant endpoints' database work; nil when off.
	admission *admission.Controller
	// ops serves /metrics, the detailed health and pprof on
	// SERVER_OPS_PORT; nil when that is not set (ops.go).
	ops *http.Server
}

// NewServer builds the Echo instance with its middleware and routes, and
// the http.Server with the configured timeouts. It does not listen. It
// returns an error naming each missing dependency.
func NewServer(cfg *config.Config, log *slog.Logger, deps Deps) (*Server, error) {
	if m := deps.missing(); len(m) > 0 {
		return nil, fmt.Errorf("httpapi: missing dependencies: %s", strings.Join(m, ", "))
	}
	if deps.Version == "" {
		deps.Version = "dev"
	}
	ctl, err := newAdmission(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, deps: deps, metrics: newMetrics(deps.Pool, deps.Replica), started: time.Now(), admission: ctl}
	s.purgeCtx, s.stopPurge = context.WithCancel(context.Background())
	s.metrics.admission = newAdmissionMetrics(s.metrics.reg)
	if s.admission != nil {
		s.metrics.reg.MustRegister(admissionCollector{s.admission})
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	trusted, err := cfg.Server.TrustedProxyNets()
	if err != nil {
		return nil, fmt.Errorf("httpapi: SERVER_TRUSTED_PROXIES: %w", err)
	}
	e.IPExtractor = clientIP(trusted) // the peer, or the client a trusted proxy names
	e.Pre(headAsGet, trimTrailingSlash)
	e.Use(restoreHEAD, withRequestID, s.observe, s.recoverPanic, securityHeaders)
	if cfg.RateLimit.RequestsPerSecond > 0 {
		e.Use(rateLimit(cfg.RateLimit))
	}
	if len(cfg.CORS.AllowedOrigins) > 0 { // an empty list allows no origin (Echo would default to *)
		e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins:  cfg.CORS.AllowedOrigins,
			AllowMethods:  []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
			AllowHeaders:  []string{echo.HeaderAuthorization, echo.HeaderContentType, "X-Tenant-ID", HeaderRequestID, idempotency.Header},
			ExposeHeaders: []string{HeaderRequestID, echo.HeaderLocation, "Retry-After", HeaderIdempotentReplayed},
			MaxAge:        600,
		}))
	}
	e.Use(normalizeAcceptEncoding, middleware.GzipWithConfig(middleware.GzipConfig{
		Skipper: func(c echo.Context) bool { return strings.HasPrefix(c.Request().URL.Path, "/metrics") },
	}))
	e.Use(renderErrors, limitBody(cfg.Server.BodyLimit), withTimeout(cfg.Server.RequestTimeout))
	s.echo = e
	s.routes()
	s.metrics.knowRoutes(e.Routes()) // the route label set is closed from here on
	s.http = &http.Server{
		Handler:           e,
		ReadTimeout:       cfg.Server.ReadTimeout,
		ReadHeaderTimeout: cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if cfg.Server.OpsPort != 0 {
		s.ops = s.newOpsServer(log)
	}
	return s, nil
}

// Echo returns the underlying Echo instance (tests add routes to it).
func (s *Server) Echo() *echo.Echo { return s.echo }

// Handler returns the server's http.Handler.
func (s *Server) Handler() http.Handler { return s.echo }

// Serve accepts connections on ln until Shutdown; it returns nil after a
// graceful Shutdown and the listener's error otherwise.
func (s *Server) Serve(ln net.Listener) error {
	s.startPurge.Do(func() { go s.purgeKeys(s.purgeCtx) })
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
	s.stopPurge()
	err := s.http.Shutdown(ctx)
	if s.ops != nil {
		err = errors.Join(err, s.ops.Shutdown(ctx))
	}
	return err
}
