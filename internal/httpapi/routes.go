package httpapi

import (
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/internal/auth"
)

// routes is the whole route table. Health, metrics and documentation need
// neither token nor tenant; the resource routes are tenant endpoints.
//
// The tenant middleware is attached per route, not with Group.Use: Echo's
// Group.Use also installs catch-all routes that run the group middleware,
// so unknown paths and wrong methods would answer 401 instead of 404/405.
func (s *Server) routes() {
	e := s.echo
	e.GET("/health", s.health)
	if s.cfg.Server.OpsPort == 0 { // else on the ops listener only (ops.go)
		e.GET("/metrics", echo.WrapHandler(s.metrics.handler()))
	}
	s.registerDocs() // /openapi.json, /docs, /docs/:asset

	v1 := e.Group("/api/v1")
	v1.GET("/health", s.healthInfo)
	if s.cfg.Server.OpsPort == 0 {
		v1.GET("/health/detailed", s.healthDetailed)
	}
	v1.GET("/health/database", s.healthDatabase)
	v1.GET("/health/readiness", s.healthReadiness)
	v1.GET("/health/liveness", s.healthLiveness)

	credentials := auth.Credentials{Tokens: s.deps.Verifier, APIKeys: s.deps.APIKeyAuth}
	var tc []echo.MiddlewareFunc
	if s.admission != nil {
		tc = append(tc, s.admit(s.admission)) // a slot for the database work (the reach check included), fair across tenants
	}
	tc = append(tc, TenantContext(credentials, s.cfg.AuthRequired, s.deps.Tenants)) // JWT or API key → effective tenant; the database checks reach
	if s.cfg.RateLimit.TenantRequestsPerSecond > 0 {
		tc = append(tc, tenantRateLimit(s.cfg.RateLimit)) // per effective tenant, after the per-IP limit
	}
	tc = append(tc, knownQuery) // only the query parameters the route declares (query.go)
	// API keys: no stored replay, since the answer to a create holds the
	// secret, which is never stored (Idempotency-Key is refused there).
	keys := append(slices.Clone(tc), noReplay)
	tc = append(tc, s.idempotent)                     // Idempotency-Key on writes: one transaction, the answer stored with the write
	cur := newCursors(s.cfg.JWT.SecretKey)            // signs next_cursor
	registerTenants(v1, s.deps.Tenants, cur, tc...)   // /tenants, /tenants/:id, /tenants/:id/hierarchy
	registerUsers(v1, s.deps.Users, cur, tc...)       // /users, /users/:id
	registerProjects(v1, s.deps.Projects, cur, tc...) // /projects, /projects/:id
	registerAudit(v1, s.deps.Audit, tc...)            // /audit-events
	registerAPIKeys(v1, s.deps.APIKeys, keys...)      // /api-keys, /api-keys/:id
}
