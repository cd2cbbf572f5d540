package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/mtdb/mtdb/internal/apikeys"
	"github.com/mtdb/mtdb/internal/audit"
	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/config"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/health"
	"github.com/mtdb/mtdb/internal/httpapi"
	"github.com/mtdb/mtdb/internal/migrate"
	"github.com/mtdb/mtdb/internal/projects"
	"github.com/mtdb/mtdb/internal/tenant"
	"github.com/mtdb/mtdb/internal/tenants"
	"github.com/mtdb/mtdb/internal/users"
)

// serveCmd is `mtdb serve [--host H] [--port P]`.
func (e *cmdEnv) serveCmd(ctx context.Context, args []string) error {
	fs, cfgFile := e.flagSet("serve")
	fs.String("host", "", "listen host (SERVER_HOST, default 0.0.0.0)")
	fs.Int("port", 0, "listen port (SERVER_PORT, default 8000)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	cfg, err := e.loadConfig(fs, *cfgFile, map[string]string{"server.host": "host", "server.port": "port"})
	if err != nil {
		return err
	}
	log := e.newLogger(cfg)
	if err := e.serve(ctx, cfg, log); err != nil {
		if cfg.Log.Format != "json" {
			return err
		}
		// Outside development every line on stderr is one JSON object, the
		// reason for stopping included.
		log.Error("stopped with an error", "err", err.Error())
		return loggedError{err}
	}
	return nil
}

// openConfigured parses args into fs, loads the configuration (file: the
// --config flag) and opens its database; the caller closes it.
func (e *cmdEnv) openConfigured(ctx context.Context, fs *pflag.FlagSet, file string, args []string) (*config.Config, *database.DB, error) {
	if err := e.parse(fs, args); err != nil {
		return nil, nil, err
	}
	cfg, err := e.loadConfig(fs, file, nil)
	if err != nil {
		return nil, nil, err
	}
	db, err := openDatabase(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, db, nil
}

// openDatabase opens the pool for cfg (lazily: it does not connect).
func openDatabase(ctx context.Context, cfg *config.Config) (*database.DB, error) {
	return database.Open(ctx, database.Options{
		URL:               cfg.DatabaseURL,
		MaxConns:          cfg.Database.MaxConns,
		MinConns:          cfg.Database.MinConns,
		MaxConnLifetime:   cfg.Database.MaxConnLifetime,
		MaxConnIdleTime:   cfg.Database.MaxConnIdleTime,
		ConnectTimeout:    cfg.Database.ConnectTimeout,
		AcquireTimeout:    cfg.Database.AcquireTimeout,
		StatementTimeout:  cfg.Database.StatementTimeout,
		SettingsMode:      tenant.SettingsMode(cfg.Database.SettingsMode),
		ReadURL:           cfg.Database.ReadURL,
		ReadMaxLag:        cfg.Database.ReadMaxLag,
		ReadProbeInterval: cfg.Database.ReadProbeInterval,
	})
}

// newChecker returns the health checker over db: ping, pending migrations
// and the RLS self-check of the tenant-scoped tables.
func newChecker(cfg *config.Config, db *database.DB, log *slog.Logger, keys *auth.KeySet) *health.Checker {
	var notReady func() []string
	if keys != nil {
		notReady = func() []string {
			if ok, why := keys.Ready(); !ok {
				return []string{why}
			}
			return nil
		}
	}
	return health.New(health.Options{
		NotReady: notReady,
		Ping:     db.Pool.Ping,
		Pending: func(ctx context.Context) (int, error) {
			return migrate.PendingFrom(ctx, db.SQL, cfg.MigrationURL())
		},
		RLS:      health.RLSCheck(db.SQL, tenant.AppRole, migrate.TenantScopedTables()),
		Interval: cfg.Health.CheckInterval,
		Log:      log,
	})
}

// serve runs the API until ctx is cancelled, then drains in-flight
// requests within the shutdown timeout. It refuses to start (error, exit 1)
// when the database is reachable and an isolation guarantee does not hold;
// an unreachable database is only logged (readiness is 503 until it is back).
func (e *cmdEnv) serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	for _, w := range cfg.Warnings {
		log.Warn("!!! " + w + " !!!")
	}
	log.Info("effective configuration", "config", cfg, "version", e.version)

	db, err := openDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	verifier, keys, err := newVerifier(cfg, log)
	if err != nil {
		return err
	}
	checker := newChecker(cfg, db, log, keys)
	if err := selfCheck(ctx, db, checker, log); err != nil {
		return err
	}
	loopCtx, stopLoop := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLoop()
	if keys != nil {
		// A provider that is down only delays JWKS tokens (503 until keys
		// arrive; readiness says why): HS256 tokens and API keys work.
		fctx, cancel := context.WithTimeout(ctx, 2*auth.DefaultHTTPTimout)
		if err := keys.Refresh(fctx); err != nil {
			log.Warn("JWKS not loaded at startup: tokens of the identity provider get 503 until it is reachable", "err", err.Error())
		}
		cancel()
		go keys.Run(loopCtx)
	}
	apiKeyAuth := apikeys.NewAuthenticator(db.Ent, log)
	keysDone := make(chan struct{})
	go func() { apiKeyAuth.Run(loopCtx, cfg.APIKeys.LastUsedInterval); close(keysDone) }()
	defer func() { stopLoop(); <-keysDone }() // the last last_used_at batch is written before the pool closes

	srv, err := httpapi.NewServer(cfg, log, httpapi.Deps{
		Version: e.version, Health: checker, Pool: db.Pool, Replica: db.Replica, Verifier: verifier, Ent: db.Ent,
		Tenants: tenants.NewService(db.Ent), Users: users.NewService(db.Ent), Projects: projects.NewService(db.Ent), Audit: audit.NewService(db.Ent),
		APIKeys: apikeys.NewService(db.Ent), APIKeyAuth: apiKeyAuth,
	})
	if err != nil {
		return err
	}
	if e.onServer != nil {
		e.onServer(srv)
	}
	ln, err := net.Listen("tcp", cfg.Server.Addr())
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Server.Addr(), err)
	}
	var opsLn net.Listener // SERVER_OPS_PORT: /metrics, detailed health, pprof
	if cfg.Server.OpsPort != 0 {
		addr := net.JoinHostPort(cfg.Server.Host, strconv.Itoa(cfg.Server.OpsPort))
		if opsLn, err = net.Listen("tcp", addr); err != nil {
			ln.Close()
			return fmt.Errorf("listen on %s (SERVER_OPS_PORT): %w", addr, err)
		}
	}
	go checker.Run(loopCtx)
	if db.Replica != nil {
		// Reads go to the replica once a probe finds it up and close
		// enough behind the primary; until then, and whenever it is not,
		// to the primary.
		log.Info("read replica configured: GET requests read from it while its lag is within the maximum",
			"max_lag", cfg.Database.ReadMaxLag.String(), "probe_interval", cfg.Database.ReadProbeInterval.String())
		go db.Replica.Run(loopCtx)
	}
	defer startAuditPrune(loopCtx, cfg, log, auditPruneInterval)()

	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())
	servers := 1
	if opsLn != nil {
		servers++
		go func() { errc <- srv.ServeOps(opsLn) }()
		log.Info("ops listener: /metrics, /api/v1/health/detailed and /debug/pprof/ are served here only", "addr", opsLn.Addr().String())
	}
	if e.onListen != nil {
		e.onListen(ln.Addr())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	// Readiness turns 503 at once; during the grace period the listener
	// stays open so that load balancers notice before connections are
	// refused. Then Shutdown stops accepting and drains in-flight requests.
	checker.SetShuttingDown()
	if g := cfg.Server.ShutdownGrace; g > 0 {
		log.Info("shutting down: readiness is 503, still accepting during the grace period", "grace", g.String())
		select {
		case err := <-errc:
			return fmt.Errorf("http server: %w", err)
		case <-time.After(g):
		}
	}
	log.Info("shutting down: refusing new connections, draining in-flight requests", "timeout", cfg.Server.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown did not finish within %s: %w", cfg.Server.ShutdownTimeout, err)
	}
	for range servers {
		if err := <-errc; err != nil {
			return err
		}
	}
	log.Info("stopped")
	return nil
}

// selfCheck runs the checks once before serving. A reachable database whose
// isolation guarantees do not hold is fatal; everything else is logged.
func selfCheck(ctx context.Context, db *database.DB, checker *health.Checker, log *slog.Logger) error {
	if r := checker.Database(ctx); r.Status != health.StatusUp {
		log.Warn("database unreachable at startup: serving anyway, readiness is 503 until it is back", "error", r.Error)
		return nil
	}
	rep := checker.Refresh(ctx)
	if rep.RLS.Status == health.StatusFailing {
		return fmt.Errorf("refusing to start: the database does not provide the isolation guarantees: %s (apply migrations with `mtdb migrate apply`; see `mtdb check`)",
			strings.Join(rep.RLS.Problems, "; "))
	}
	if rep.RLS.Status != health.StatusOK {
		log.Warn("rls self-check did not run", "status", rep.RLS.Status, "error", rep.RLS.Error)
	}
	if rep.Migrations.Status != health.StatusOK {
		log.Warn("migrations are not up to date: readiness is 503 until they are", "status", rep.Migrations.Status, "error", rep.Migrations.Error)
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var super bool
	var user string
	if err := db.Pool.QueryRow(cctx, "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&user, &super); err == nil && super {
		log.Warn("the DATABASE_URL login role is a superuser: requests still run as the restricted role, but use a dedicated login role in production", "login_role", user)
	}
	return nil
}

// newVerifier builds the token verifier of cfg: HS* with JWT_SECRET_KEY,
// and, when JWT_JWKS_URL or JWT_OIDC_DISCOVERY is set, the identity
// provider's keys (returned, not yet loaded), with the claim mapping.
func newVerifier(cfg *config.Config, log *slog.Logger) (*auth.Verifier, *auth.KeySet, error) {
	j := cfg.JWT
	roleMap, err := auth.ParseRoleMap(j.RoleMap)
	if err != nil {
		return nil, nil, &config.SettingError{Setting: "JWT_ROLE_MAP", Problem: err.Error()}
	}
	var keys *auth.KeySet
	if j.UsesJWKS() {
		keys, err = auth.NewKeySet(auth.KeySetConfig{
			URLs: j.JWKSURLs, Issuer: j.Issuer, Discovery: j.OIDCDiscovery,
			CacheMin: j.JWKSCacheMin, CacheMax: j.JWKSCacheMax, RefetchInterval: j.JWKSRefetchInterval, Log: log,
		})
		if err != nil {
			return nil, nil, &config.SettingError{Setting: "JWT_JWKS_URL", Problem: err.Error()}
		}
	}
	iatLeeway := j.IatLeeway
	if iatLeeway == 0 {
		iatLeeway = -1 // JWT_IAT_LEEWAY=0s means none; auth reads 0 as its default
	}
	v, err := auth.NewVerifier(auth.Config{
		Secret: []byte(j.SecretKey), Keys: keys, Issuer: j.Issuer, Audience: j.Audience, Algorithms: j.Algorithms,
		IssuedAtLeeway: iatLeeway,
		Mapping:        auth.Mapping{TenantClaim: j.TenantClaim, RoleClaim: j.RoleClaim, RoleMap: roleMap},
	})
	if err != nil {
		return nil, nil, &config.SettingError{Setting: "JWT_ALGORITHMS", Problem: err.Error()}
	}
	return v, keys, nil
}
