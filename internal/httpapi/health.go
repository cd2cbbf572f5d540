package httpapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/internal/admission"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/health"
)

// GET /health
func (s *Server) health(c echo.Context) error {
	return noStore(c).JSON(http.StatusOK, map[string]string{"status": "healthy"})
}

type healthInfoResponse struct {
	Status      string `json:"status"`
	Version     string `json:"version"`
	Environment string `json:"environment"`
	Timestamp   string `json:"timestamp"`
}

// GET /api/v1/health (and /api/v1/health/: trimTrailingSlash runs before routing)
func (s *Server) healthInfo(c echo.Context) error {
	return noStore(c).JSON(http.StatusOK, healthInfoResponse{
		Status: "healthy", Version: s.deps.Version, Environment: s.cfg.Environment,
		Timestamp: time.Now().UTC().Format(time.RFC3339),
	})
}

type detailedResponse struct {
	Status        string                   `json:"status"`
	Checks        map[string]health.Result `json:"checks"`
	Failing       []string                 `json:"failing,omitempty"`
	Pool          *poolStats               `json:"pool"`
	Admission     *admission.Stats         `json:"admission,omitempty"` // the effective limit on tenant requests in flight
	Replica       *database.ReplicaStatus  `json:"replica,omitempty"`   // the read replica, when configured (never a failing check)
	UptimeSeconds float64                  `json:"uptime_seconds"`
	Version       string                   `json:"version"`
}

type poolStats struct {
	TotalConns        int32 `json:"total_conns"`
	IdleConns         int32 `json:"idle_conns"`
	AcquiredConns     int32 `json:"acquired_conns"`
	ConstructingConns int32 `json:"constructing_conns"`
	MaxConns          int32 `json:"max_conns"`
	AcquireCount      int64 `json:"acquire_count"`
	EmptyAcquireCount int64 `json:"empty_acquire_count"`
}

// GET /api/v1/health/detailed
func (s *Server) healthDetailed(c echo.Context) error {
	db, r := s.deps.Health.Current(c.Request().Context())
	resp := detailedResponse{
		Status:        "healthy",
		Checks:        map[string]health.Result{"database": db, "migrations": r.Migrations, "rls": r.RLS},
		UptimeSeconds: float64(int64(time.Since(s.started).Seconds()*10)) / 10,
		Version:       s.deps.Version,
	}
	for _, name := range []string{"database", "migrations", "rls"} {
		switch resp.Checks[name].Status {
		case health.StatusDown, health.StatusFailing, health.StatusUnknown:
			resp.Failing = append(resp.Failing, name)
		}
	}
	resp.Admission = s.admissionStats()
	resp.Replica = s.replicaStatus()
	if p := s.deps.Pool; p != nil {
		st := p.Stat()
		resp.Pool = &poolStats{
			TotalConns: st.TotalConns(), IdleConns: st.IdleConns(), AcquiredConns: st.AcquiredConns(),
			ConstructingConns: st.ConstructingConns(), MaxConns: st.MaxConns(),
			AcquireCount: st.AcquireCount(), EmptyAcquireCount: st.EmptyAcquireCount(),
		}
	}
	status := http.StatusOK
	if len(resp.Failing) > 0 {
		resp.Status, status = "unhealthy", http.StatusServiceUnavailable
		c.Response().Header().Set("Retry-After", "5")
	}
	return noStore(c).JSON(status, resp)
}

// GET /api/v1/health/database
func (s *Server) healthDatabase(c echo.Context) error {
	r := s.deps.Health.Database(c.Request().Context())
	if r.Status != health.StatusUp {
		c.Response().Header().Set("Retry-After", "5")
		return noStore(c).JSON(http.StatusServiceUnavailable, map[string]string{"status": "down", "error": r.Error})
	}
	return noStore(c).JSON(http.StatusOK, map[string]any{"status": "up", "latency_ms": *r.LatencyMS})
}

// GET /api/v1/health/readiness
func (s *Server) healthReadiness(c echo.Context) error {
	ok, reasons := s.deps.Health.Readiness(c.Request().Context())
	resp := map[string]any{"status": "ready"}
	if st := s.replicaStatus(); st != nil {
		// Reported, never a reason: reads fall back to the primary.
		resp["replica"] = st
	}
	if !ok {
		c.Response().Header().Set("Retry-After", "5")
		resp["status"], resp["reasons"] = "not_ready", reasons
		return noStore(c).JSON(http.StatusServiceUnavailable, resp)
	}
	return noStore(c).JSON(http.StatusOK, resp)
}

// replicaStatus returns the read replica's state, nil without one.
func (s *Server) replicaStatus() *database.ReplicaStatus {
	if s.deps.Replica == nil {
		return nil
	}
	st := s.deps.Replica.Status()
	return &st
}

// GET /api/v1/health/liveness: never touches the database.
func (s *Server) healthLiveness(c echo.Context) error {
	return noStore(c).JSON(http.StatusOK, map[string]string{"status": "alive"})
}

func noStore(c echo.Context) echo.Context {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c
}
