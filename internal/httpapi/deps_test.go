package httpapi

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/mtdb/mtdb/internal/apikeys"
	"github.com/mtdb/mtdb/internal/audit"
	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/config"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/health"
	"github.com/mtdb/mtdb/internal/migrate"
	"github.com/mtdb/mtdb/internal/pgtest"
	"github.com/mtdb/mtdb/internal/projects"
	"github.com/mtdb/mtdb/internal/tenant"
	"github.com/mtdb/mtdb/internal/tenants"
	"github.com/mtdb/mtdb/internal/users"
)

// testServer builds a Server as `mtdb serve` wires it: over cfg's
// database (opened lazily, so a test that never reaches the database may
// name an unreachable one), with the real health checks and services.
func testServer(t testing.TB, cfg *config.Config, log *slog.Logger, version string) *Server {
	t.Helper()
	mode := tenant.SettingsMode(cfg.Database.SettingsMode)
	if m := pgtest.SettingsMode(); m != "" {
		mode = m
	}
	db, err := database.Open(context.Background(), database.Options{URL: cfg.DatabaseURL, MaxConns: 4,
		ConnectTimeout: cfg.Database.ConnectTimeout, AcquireTimeout: cfg.Database.AcquireTimeout, SettingsMode: mode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	v, err := auth.NewVerifier(auth.Config{Secret: []byte(cfg.JWT.SecretKey)})
	if err != nil {
		t.Fatal(err)
	}
	checker := health.New(health.Options{
		Ping:     db.Pool.Ping,
		Pending:  func(ctx context.Context) (int, error) { return migrate.PendingFrom(ctx, db.SQL, "") },
		RLS:      health.RLSCheck(db.SQL, tenant.AppRole, migrate.TenantScopedTables()),
		Interval: cfg.Health.CheckInterval,
		Log:      log,
	})
	s, err := NewServer(cfg, log, Deps{Version: version, Health: checker, Pool: db.Pool, Verifier: v, Ent: db.Ent,
		Tenants: tenants.NewService(db.Ent), Users: users.NewService(db.Ent), Projects: projects.NewService(db.Ent), Audit: audit.NewService(db.Ent),
		APIKeys: apikeys.NewService(db.Ent), APIKeyAuth: apikeys.NewAuthenticator(db.Ent, log)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestServer is testServer for the external test package.
var TestServer = testServer

// Checker returns the server's health checker (tests drive its loop).
func (s *Server) Checker() *health.Checker { return s.deps.Health }

func TestNewServerRefusesMissingDependencies(t *testing.T) {
	cfg := foundationConfig(t, nil)
	s, err := NewServer(cfg, slog.New(slog.DiscardHandler), Deps{Version: "test"})
	if err == nil || s != nil {
		t.Fatalf("NewServer without dependencies = %v, %v; want an error", s, err)
	}
	for _, name := range []string{"Health", "Pool", "Verifier", "Tenants", "Users", "Projects", "Ent", "APIKeys", "APIKeyAuth"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name the missing %s", err, name)
		}
	}
}
