package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mtdb/mtdb/internal/auth"
)

// statementTimeout is the API's default database.statement_timeout; the
// reference server and the floor send the same settings statement.
const statementTimeout = 10 * time.Second

// run is the whole benchmark.
func run(ctx context.Context, o options) error {
	started := time.Now()
	db, err := createDB(ctx, o.serverURL)
	if err != nil {
		return err
	}
	defer db.drop()
	owner, w, seedTime, err := prepareDB(ctx, db, o.mtdb)
	if err != nil {
		return err
	}
	defer owner.Close(context.Background())
	// An older binary gets a database of its own, migrated by itself and
	// seeded alike: its self-check refuses a schema newer than its own.
	beforeURL := ""
	if o.before != "" {
		bdb, err := createDB(ctx, o.serverURL)
		if err != nil {
			return err
		}
		defer bdb.drop()
		bowner, _, _, err := prepareDB(ctx, bdb, o.before)
		if err != nil {
			return fmt.Errorf("database of %s: %w", o.before, err)
		}
		bowner.Close(context.Background())
		beforeURL = bdb.appURL
	}
	rep := &report{Started: started.UTC(), Tenants: w.Tenants, Users: w.Users, Projects: w.Projects,
		SeedSeconds: seedTime.Seconds(), Duration: o.duration.String(), MaxConns: o.maxConns}
	logf("seeded %d tenants, %d users, %d projects in %.1fs", w.Tenants, w.Users, w.Projects, rep.SeedSeconds)

	pool, err := newPool(ctx, db.appURL, o.maxConns)
	if err != nil {
		return err
	}
	defer pool.Close()
	floor := &dbWork{pool: pool, statementTimeout: statementTimeout}

	apiEnv := []string{"ENVIRONMENT=production", "DATABASE_URL=" + db.appURL, "JWT_SECRET_KEY=" + jwtSecret,
		"LOG_LEVEL=info", "LOG_FORMAT=json", "DATABASE_MAX_CONNS=" + itoa(o.maxConns), "RATE_LIMIT_REQUESTS_PER_SECOND=0",
		"RATE_LIMIT_TENANT_REQUESTS_PER_SECOND=0", "SERVER_SHUTDOWN_GRACE=0s"}
	// The flood scenario (flood.go) runs its own servers with the default
	// admission settings; the matrix's closed-loop clients count a 503 as
	// an error, so here admission queues instead of shedding.
	floodEnv := apiEnv
	apiEnv = append(apiEnv[:len(apiEnv):len(apiEnv)], "ADMISSION_MAX_QUEUE=100000", "ADMISSION_QUEUE_TIMEOUT=10s")
	servers := map[string]*server{}
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	start := func(name, bin string, args []string, env ...string) error {
		s, err := startServer(ctx, name, bin, args, append(apiEnv, env...))
		if err != nil {
			return err
		}
		servers[name] = s
		return nil
	}
	if o.only == "profile" {
		_, err := countTrips(ctx, db.appURL, o.maxConns, w, o.profile)
		return err
	}
	if o.only == "flood" {
		if rep.Flood, err = runFlood(ctx, o, floodEnv, beforeURL); err != nil {
			return err
		}
		_, _, err = rep.write(o.out)
		return err
	}
	if err := start("api", o.mtdb, []string{"serve"}); err != nil {
		return err
	}
	if o.before != "" {
		if err := start("api_before", o.before, []string{"serve"}, "DATABASE_URL="+beforeURL); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := start("reference", self, []string{"ref", "-db", db.appURL, "-max-conns", itoa(o.maxConns)}); err != nil {
		return err
	}

	if o.only == "audit" { // just the audit trigger's cost: go run ./bench -only audit
		if rep.Audit, err = runAudit(ctx, o, owner, servers["api"], w); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		_, _, err = rep.write(o.out)
		return err
	}
	rep.Matrix, err = runMatrix(ctx, o, w, servers, floor)
	if err != nil {
		return err
	}
	for name, s := range servers {
		rep.PeakRSS = append(rep.PeakRSS, rssRow{Server: name, PeakMiB: peakRSS(s.pid())})
	}
	if rep.Flood, err = runFlood(ctx, o, floodEnv, beforeURL); err != nil {
		return fmt.Errorf("flood: %w", err)
	}
	if rep.RLS, err = runRLS(ctx, o, owner, pool, w); err != nil {
		return fmt.Errorf("rls: %w", err)
	}
	if rep.Growth, err = runGrowth(ctx, o, pool, w, servers["api"]); err != nil {
		return fmt.Errorf("growth: %w", err)
	}
	if rep.Audit, err = runAudit(ctx, o, owner, servers["api"], w); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if rep.Trips, err = countTrips(ctx, db.appURL, o.maxConns, w, o.profile); err != nil {
		return fmt.Errorf("round trips: %w", err)
	}
	rep.Finished = time.Now().UTC()
	md, js, err := rep.write(o.out)
	if err != nil {
		return err
	}
	logf("wrote %s and %s in %s", md, js, time.Since(started).Round(time.Second))
	return nil
}

func newPool(ctx context.Context, url string, maxConns int) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(maxConns)
	return pgxpool.NewWithConfig(ctx, cfg)
}

// refMain is `bench ref -db URL`: the reference server, listening on
// BENCH_ADDR until interrupted.
func refMain(args []string) error {
	fs := flag.NewFlagSet("ref", flag.ContinueOnError)
	dbURL := fs.String("db", "", "database URL")
	maxConns := fs.Int("max-conns", 10, "pool size")
	if err := fs.Parse(args); err != nil {
		return err
	}
	addr := os.Getenv("BENCH_ADDR")
	if addr == "" || *dbURL == "" {
		return errors.New("BENCH_ADDR and -db are required")
	}
	ctx, stop := notifyContext()
	defer stop()
	pool, err := newPool(ctx, *dbURL, *maxConns)
	if err != nil {
		return err
	}
	defer pool.Close()
	v, err := auth.NewVerifier(auth.Config{Secret: []byte(os.Getenv("JWT_SECRET_KEY"))})
	if err != nil {
		return err
	}
	return serveRef(ctx, addr, &refServer{verifier: v, work: &dbWork{pool: pool, statementTimeout: statementTimeout}})
}

// prepareDB migrates db with the mtdb binary bin, grants the bench login
// the app role and seeds it; it returns the owner connection (close it).
func prepareDB(ctx context.Context, db *benchDB, bin string) (*pgx.Conn, *world, time.Duration, error) {
	logf("database %s: migrating with %s", db.name, bin)
	if out, err := exec.CommandContext(ctx, bin, "migrate", "apply", "--url", db.ownerURL).CombinedOutput(); err != nil {
		return nil, nil, 0, fmt.Errorf("migrate: %v: %s", err, out)
	}
	owner, err := pgx.Connect(ctx, db.ownerURL)
	if err != nil {
		return nil, nil, 0, err
	}
	if err := grantApp(ctx, owner); err != nil {
		owner.Close(context.Background())
		return nil, nil, 0, err
	}
	t0 := time.Now()
	w, err := seed(ctx, owner)
	if err != nil {
		owner.Close(context.Background())
		return nil, nil, 0, err
	}
	return owner, w, time.Since(t0), nil
}
