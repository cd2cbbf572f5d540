package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/config"
	"github.com/mtdb/mtdb/internal/localpg"
	"github.com/mtdb/mtdb/internal/migrate"
	"github.com/mtdb/mtdb/internal/seed"
	"github.com/mtdb/mtdb/internal/tenant"
)

// devCmd is `mtdb dev`: DATABASE_URL when it is set and reachable, else a
// private PostgreSQL cluster under --data-dir; then migrations, demo data,
// ready-to-use tokens and curl lines, and the server.
func (e *cmdEnv) devCmd(ctx context.Context, args []string) error {
	fs, cfgFile := e.flagSet("dev")
	fs.String("host", "", "listen host (SERVER_HOST)")
	fs.Int("port", 0, "listen port (SERVER_PORT, default 8000)")
	dataDir := fs.String("data-dir", ".data/postgres", "directory of the private PostgreSQL cluster")
	signAlg := fs.String("sign-alg", "HS256", "algorithm of the printed tokens: HS256 (JWT_SECRET_KEY), or RS256..EdDSA with --sign-key")
	signKey := fs.String("sign-key", "", "PEM private key whose public half is in the JWKS the server trusts (JWT_JWKS_URL): the printed tokens are signed with it")
	signKID := fs.String("sign-kid", "", "kid of --sign-key in that JWKS")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	// In development the API listens on the loopback interface unless told
	// otherwise: it runs with the public development secret.
	opts := e.configOptions(fs, *cfgFile, map[string]string{"server.host": "host", "server.port": "port"})
	opts.Defaults = map[string]string{"server.host": devHost}
	cfg, err := config.Load(opts)
	if err != nil {
		return err
	}
	if !cfg.IsDevelopment() {
		return &config.SettingError{Setting: "ENVIRONMENT", Problem: "mtdb dev only runs in development (use mtdb serve)"}
	}
	if *signKey != "" && !cfg.JWT.UsesJWKS() {
		return usagef("dev: --sign-key: the server verifies such tokens only with JWT_JWKS_URL or JWT_OIDC_DISCOVERY naming the JWKS that holds its public half")
	}
	signer, err := newSigner(cfg, *signAlg, *signKey, *signKID) // before any work: a bad key fails at once
	if err != nil {
		return err
	}
	log := e.newLogger(cfg)

	url := cfg.DatabaseURL
	if !cfg.IsSet("database_url") || !reachable(ctx, url) {
		if cfg.IsSet("database_url") {
			log.Warn("DATABASE_URL is not reachable: starting a private PostgreSQL instead", "database_url", config.MaskURL(url))
		}
		cluster, err := localpg.Start(ctx, localpg.Options{Dir: *dataDir, Log: log})
		if err != nil {
			return fmt.Errorf("starting a private PostgreSQL under %s: %w", *dataDir, err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := cluster.Stop(sctx); err != nil {
				log.Warn("stopping the private PostgreSQL", "err", err)
			}
		}()
		if err := createDatabase(ctx, cluster.URL("postgres"), "mtdb"); err != nil {
			return err
		}
		url = cluster.URL("mtdb")
	}
	// The configuration is built again with the database chosen above, so
	// that it goes through the same parsing and validation as any other.
	opts.Flags["database_url"], opts.Flags["migration_database_url"] = url, url
	if cfg, err = config.Load(opts); err != nil {
		return err
	}

	rep, err := migrate.Apply(ctx, url)
	if err != nil {
		return fmt.Errorf("applying migrations: %w", err)
	}
	log.Info("migrations applied", "files", len(rep.Applied), "version", rep.Current)
	if err := e.seedAndPrint(ctx, cfg, signer, log); err != nil {
		return err
	}
	return e.serve(ctx, cfg, log)
}

// devHost is where mtdb dev listens unless SERVER_HOST, --host or the
// config file says otherwise.
const devHost = "127.0.0.1"

// reachable reports whether url accepts a connection within 3 seconds.
func reachable(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return false
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.Ping(ctx) == nil
}

// createDatabase creates database name on the server of adminURL unless it
// exists.
func createDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connecting to the private PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return fmt.Errorf("creating database %s: %w", name, err)
		}
	}
	return nil
}

// seedAndPrint seeds the demo tenants and prints a token per role and curl
// lines to try them.
func (e *cmdEnv) seedAndPrint(ctx context.Context, cfg *config.Config, signer auth.Signer, log *slog.Logger) error {
	db, err := openDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := seed.Demo(ctx, db.Ent)
	if err != nil {
		return fmt.Errorf("seeding demo data: %w", err)
	}
	log.Info("demo data ready", "created", res.Created)
	mint := func(c auth.Claims) string {
		tok, err := signer.Sign(c, 24*time.Hour)
		if err != nil {
			return "error: " + err.Error()
		}
		return tok
	}
	org, sub, other := res.Organisation, res.Subsidiary, res.Other
	host := cfg.Server.Host
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	base := "http://" + net.JoinHostPort(host, strconv.Itoa(cfg.Server.Port))
	w := e.stdout
	fmt.Fprintf(w, "\nDemo tenants:\n  %s  %s (parent)\n  %s  %s (subsidiary of %s)\n  %s  %s (parent, unrelated)\n",
		org.ID, org.Name, sub.ID, sub.Name, org.Name, other.ID, other.Name)
	fmt.Fprintf(w, "\nTokens (valid 24h, %s):\n", signer.Method.Alg())
	fmt.Fprintf(w, "export PLATFORM_ADMIN_TOKEN=%s\n", mint(auth.Claims{Subject: "platform-admin", Role: tenant.RolePlatformAdmin}))
	fmt.Fprintf(w, "export ACME_ADMIN_TOKEN=%s\n", mint(auth.Claims{Subject: org.AdminEmail, Role: tenant.RoleTenantAdmin, TenantID: org.ID}))
	fmt.Fprintf(w, "export ACME_MEMBER_TOKEN=%s\n", mint(auth.Claims{Subject: "demo-member", Role: tenant.RoleMember, TenantID: org.ID}))
	fmt.Fprintf(w, "export LABS_ADMIN_TOKEN=%s\n", mint(auth.Claims{Subject: sub.AdminEmail, Role: tenant.RoleTenantAdmin, TenantID: sub.ID}))
	fmt.Fprintf(w, "export GLOBEX_ADMIN_TOKEN=%s\n", mint(auth.Claims{Subject: other.AdminEmail, Role: tenant.RoleTenantAdmin, TenantID: other.ID}))
	if cfg.Server.Host == devHost {
		fmt.Fprintf(w, "\nListening on %s only (development default); set SERVER_HOST=0.0.0.0 or --host to listen on every interface.\n", devHost)
	} else {
		fmt.Fprintf(w, "\nListening on %s: other machines can reach this development server.\n", cfg.Server.Host)
		if cfg.JWT.SecretKey == config.DevJWTSecret {
			fmt.Fprintf(w, "WARNING: it signs with the PUBLIC development JWT secret: anyone who can reach it can mint tokens.\n")
		}
	}
	fmt.Fprintf(w, "\nTry:\n")
	fmt.Fprintf(w, "curl -s %s/api/v1/health/detailed\n", base)
	fmt.Fprintf(w, "curl -s -H \"Authorization: Bearer $PLATFORM_ADMIN_TOKEN\" %s/api/v1/tenants\n", base)
	fmt.Fprintf(w, "curl -s -H \"Authorization: Bearer $ACME_ADMIN_TOKEN\" %s/api/v1/users\n", base)
	fmt.Fprintf(w, "curl -s -H \"Authorization: Bearer $ACME_ADMIN_TOKEN\" -H \"X-Tenant-ID: %s\" %s/api/v1/projects\n", sub.ID, base)
	fmt.Fprintf(w, "curl -s -H \"Authorization: Bearer $GLOBEX_ADMIN_TOKEN\" %s/api/v1/tenants/%s   # 404: other organisation\n", base, org.ID)
	fmt.Fprintf(w, "curl -s -X POST -H \"Authorization: Bearer $ACME_ADMIN_TOKEN\" -H 'Content-Type: application/json' -d '{\"name\":\"New Project\",\"owner_id\":\"%s\"}' %s/api/v1/projects\n\n", org.AdminID, base)
	return nil
}
