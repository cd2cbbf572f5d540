package faults_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/internal/pgtest"
	"github.com/mtdb/mtdb/internal/tenant"
)

// A statement running past DATABASE_STATEMENT_TIMEOUT is cancelled by
// PostgreSQL and the request answers 504 TIMEOUT in the error envelope,
// long before the request's own deadline; the connection is released.
func TestStatementTimeoutHTTP(t *testing.T) {
	const budget = 300 * time.Millisecond
	pg := pgtest.New(t)
	svc := startService(t, pg.AppURL, map[string]string{
		"DATABASE_STATEMENT_TIMEOUT": budget.String(),
		"SERVER_REQUEST_TIMEOUT":     "10s",
		"HEALTH_CHECK_INTERVAL":      "30s",
	})
	// A test-only route running a long query through the tenant driver,
	// like every request's database work.
	svc.srv.Echo().GET("/test/sleep", func(c echo.Context) error {
		ctx := tenant.With(c.Request().Context(), tenant.Context{Role: tenant.RolePlatformAdmin, ReadOnly: true})
		if err := svc.db.Driver.Exec(ctx, "SELECT pg_sleep(5)", []any{}, nil); err != nil {
			return err
		}
		return c.NoContent(204)
	})
	fx := newTenant(t, svc, "timeout")

	check := func(name string, r result) {
		t.Helper()
		var env struct {
			Error struct {
				Code      string `json:"code"`
				Message   string `json:"message"`
				RequestID string `json:"request_id"`
			} `json:"error"`
		}
		if err := json.Unmarshal(r.Body, &env); err != nil || r.Status != 504 || env.Error.Code != "TIMEOUT" || env.Error.RequestID == "" || env.Error.Message == "" {
			t.Fatalf("%s: %d %s, want 504 TIMEOUT in the envelope", name, r.Status, r.Body)
		}
		if r.Took > budget+3*time.Second {
			t.Fatalf("%s: answered after %s; the statement budget is %s", name, r.Took, budget)
		}
		t.Logf("%s: 504 TIMEOUT after %s (statement_timeout %s)", name, r.Took.Round(time.Millisecond), budget)
	}
	check("pg_sleep(5)", svc.do("", "GET", "/test/sleep", nil))

	// A real route whose query waits on a lock held elsewhere.
	release := lockTable(t, pg.OwnerPool(t), "projects")
	check("GET /projects behind a lock", svc.do(fx.Admin, "GET", "/api/v1/projects", nil))
	check("POST /projects behind a lock", svc.do(fx.Admin, "POST", "/api/v1/projects",
		map[string]any{"name": "late", "description": "", "owner_id": fx.Owner}))
	release()

	if !settle(func() bool { return svc.db.Pool.Stat().AcquiredConns() == 0 }) {
		t.Fatalf("%d connections still acquired", svc.db.Pool.Stat().AcquiredConns())
	}
	svc.do(fx.Admin, "GET", "/api/v1/projects", nil).must(t, 200, nil)
	var n int
	if err := pg.OwnerPool(t).QueryRow(context.Background(), `SELECT count(*) FROM projects WHERE name = 'late'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the timed-out insert left %d rows (%v)", n, err)
	}
}
