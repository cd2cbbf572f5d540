package httpapi

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"

	"github.com/labstack/echo/v4"
)

// The ops listener (SERVER_OPS_PORT) serves what only operators should
// reach: /metrics (pool figures, per-route traffic), the detailed health
// (RLS findings, pool) and the Go profiler. With it configured, the API
// port answers those paths 404; the probes (/health, /api/v1/health,
// liveness, readiness, database) stay on the API port, where the
// orchestrator looks for them. Without it, /metrics and the detailed
// health are on the API port as before, and pprof is nowhere.

// newOps builds the ops handler: its own Echo instance with the request
// id, panic recovery and the error envelope, and no limits (it is not
// exposed to clients).
func (s *Server) newOps() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(withRequestID, s.recoverPanic, securityHeaders, renderErrors)
	e.GET("/metrics", echo.WrapHandler(s.metrics.handler()))
	e.GET("/api/v1/health/detailed", s.healthDetailed)
	prof := http.NewServeMux()
	prof.HandleFunc("/debug/pprof/", pprof.Index) // and the named profiles: heap, goroutine, allocs, block, mutex, threadcreate
	prof.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	prof.HandleFunc("/debug/pprof/profile", pprof.Profile)
	prof.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	prof.HandleFunc("/debug/pprof/trace", pprof.Trace)
	e.Any("/debug/pprof/*", echo.WrapHandler(prof))
	return e
}

// ServeOps serves the ops handler on ln until Shutdown, like Serve. It
// fails when SERVER_OPS_PORT is not set.
func (s *Server) ServeOps(ln net.Listener) error {
	if s.ops == nil {
		return errors.New("httpapi: no ops listener configured (SERVER_OPS_PORT)")
	}
	err := s.ops.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// newOpsServer returns the http.Server of the ops handler. Its write
// timeout leaves room for a CPU profile (30 s by default, ?seconds=N).
func (s *Server) newOpsServer(log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           s.newOps(),
		ReadTimeout:       s.cfg.Server.ReadTimeout,
		ReadHeaderTimeout: s.cfg.Server.ReadTimeout,
		IdleTimeout:       s.cfg.Server.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
