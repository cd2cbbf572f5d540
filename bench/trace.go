package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mtdb/mtdb/internal/apikeys"
	"github.com/mtdb/mtdb/internal/audit"
	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/config"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/health"
	"github.com/mtdb/mtdb/internal/httpapi"
	"github.com/mtdb/mtdb/internal/projects"
	"github.com/mtdb/mtdb/internal/tenants"
	"github.com/mtdb/mtdb/internal/users"
)

// counter is a pgx tracer counting round trips (one per statement sent
// alone, one per pipelined batch, one per prepare) and statements.
type counter struct {
	mu         sync.Mutex
	trips      int
	statements []string
}

func (c *counter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trips++
	c.statements = append(c.statements, d.SQL)
	return ctx
}
func (c *counter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *counter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trips++
	return ctx
}
func (c *counter) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.statements = append(c.statements, "[pipelined] "+d.SQL)
}
func (c *counter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}
func (c *counter) TracePrepareStart(ctx context.Context, _ *pgx.Conn, d pgx.TracePrepareStartData) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trips++
	c.statements = append(c.statements, "[prepare] "+d.SQL)
	return ctx
}
func (c *counter) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

func (c *counter) take() (int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, s := c.trips, c.statements
	c.trips, c.statements = 0, nil
	return t, s
}

// tripRow is what one request of an endpoint sends to PostgreSQL.
type tripRow struct {
	Server     string   `json:"server"`
	Endpoint   string   `json:"endpoint"`
	RoundTrips float64  `json:"round_trips"`
	Statements float64  `json:"statements"`
	Sequence   []string `json:"sequence"` // the statements of one warm request, in order
}

// countTrips serves the API and the reference server in-process over pools
// traced by a counter, and sends each endpoint 20 warm requests.
// With profile set, it then drives the in-process API with each endpoint
// at concurrency 16 under the CPU profiler and writes profile-<n>.pprof
// files there (load generator included: look at the server's frames).
func countTrips(ctx context.Context, appURL string, maxConns int, w *world, profile string) ([]tripRow, error) {
	env := map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": appURL, "JWT_SECRET_KEY": jwtSecret, "LOG_LEVEL": "error",
		"RATE_LIMIT_TENANT_REQUESTS_PER_SECOND": "0", "RATE_LIMIT_REQUESTS_PER_SECOND": "0"}
	cfg, err := config.Load(config.Options{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		return nil, err
	}
	apiC, refC := &counter{}, &counter{}
	db, err := database.Open(ctx, database.Options{URL: appURL, MaxConns: int32(maxConns),
		StatementTimeout: cfg.Database.StatementTimeout, Tracer: apiC})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	v, err := auth.NewVerifier(auth.Config{Secret: []byte(jwtSecret)})
	if err != nil {
		return nil, err
	}
	api, err := httpapi.NewServer(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), httpapi.Deps{Pool: db.Pool, Verifier: v, Ent: db.Ent,
		Health:  health.New(health.Options{Ping: db.Pool.Ping}),
		Tenants: tenants.NewService(db.Ent), Users: users.NewService(db.Ent), Projects: projects.NewService(db.Ent), Audit: audit.NewService(db.Ent),
		APIKeys: apikeys.NewService(db.Ent), APIKeyAuth: apikeys.NewAuthenticator(db.Ent, nil)})
	if err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(appURL)
	if err != nil {
		return nil, err
	}
	pcfg.MaxConns, pcfg.ConnConfig.Tracer = int32(maxConns), refC
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	ref := (&refServer{verifier: v, work: &dbWork{pool: pool, statementTimeout: statementTimeout}}).handler()

	var out []tripRow
	for _, s := range []struct {
		name string
		h    http.Handler
		c    *counter
	}{{"api", api.Handler(), apiC}, {"reference", ref, refC}} {
		srv := httptest.NewServer(s.h)
		ops, err := httpOps(srv.URL, "trips-"+s.name, httpClient(1), w)
		if err != nil {
			srv.Close()
			return nil, err
		}
		for _, ep := range endpoints {
			const n = 20
			for i := 0; i < 5; i++ { // warm the statement caches
				if err := ops[ep](ctx, 0, i); err != nil {
					srv.Close()
					return nil, fmt.Errorf("%s %s: %w", s.name, ep, err)
				}
			}
			s.c.take()
			for i := 0; i < n; i++ {
				if err := ops[ep](ctx, 1, i); err != nil {
					srv.Close()
					return nil, err
				}
			}
			trips, stmts := s.c.take()
			_ = ops[ep](ctx, 2, 0)
			_, seq := s.c.take()
			out = append(out, tripRow{Server: s.name, Endpoint: ep, RoundTrips: float64(trips) / n,
				Statements: float64(len(stmts)) / n, Sequence: shorten(seq)})
		}
		if profile != "" && s.name == "api" {
			if err := profileAPI(ctx, srv.URL, w, profile); err != nil {
				srv.Close()
				return nil, err
			}
		}
		srv.Close()
	}
	return out, nil
}

func shorten(stmts []string) []string {
	out := make([]string, len(stmts))
	for i, s := range stmts {
		if len(s) > 160 {
			s = s[:157] + "..."
		}
		out[i] = strings.Join(strings.Fields(s), " ")
	}
	return out
}

// profileAPI writes a CPU profile of each endpoint at concurrency 16
// against the in-process API at base.
func profileAPI(ctx context.Context, base string, w *world, dir string) error {
	ops, err := httpOps(base, "profile", httpClient(16), w)
	if err != nil {
		return err
	}
	for i, ep := range endpoints {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("profile-%d.pprof", i)))
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		r := drive(ctx, ops[ep], 16, 500*time.Millisecond, 3*time.Second, 0)
		pprof.StopCPUProfile()
		f.Close()
		logf("profiled %s: %.0f req/s", ep, r.RPS)
	}
	return nil
}
