package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mtdb/mtdb/internal/health"
	"github.com/mtdb/mtdb/internal/migrate"
	"github.com/mtdb/mtdb/internal/tenant"
)

// errCheckFailed makes `mtdb check` exit 1 after it printed its findings.
var errCheckFailed = errors.New("check failed")

// checkCmd is `mtdb check`: it connects with DATABASE_URL, runs the RLS
// self-check and the pending-migrations check, prints one line per finding
// and fails when any guarantee does not hold.
func (e *cmdEnv) checkCmd(ctx context.Context, args []string) error {
	fs, cfgFile := e.flagSet("check")
	cfg, db, err := e.openConfigured(ctx, fs, *cfgFile, args)
	if err != nil {
		return err
	}
	defer db.Close()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := db.Pool.Ping(cctx); err != nil {
		return fmt.Errorf("cannot reach the database: %s", health.Sanitize(err))
	}
	failed := false
	findings, err := health.CheckRLS(cctx, db.SQL, tenant.AppRole, migrate.TenantScopedTables())
	if err != nil {
		return fmt.Errorf("rls check could not run: %w", err)
	}
	for _, f := range findings {
		fmt.Fprintln(e.stdout, "FAIL "+f.String())
		failed = true
	}
	pending, err := migrate.PendingFrom(cctx, db.SQL, cfg.MigrationURL())
	switch {
	case err != nil:
		fmt.Fprintf(e.stdout, "FAIL migrations: cannot read the migration status: %v\n", err)
		failed = true
	case pending > 0:
		fmt.Fprintf(e.stdout, "FAIL migrations: %d pending (run mtdb migrate apply)\n", pending)
		failed = true
	}
	if failed {
		return errCheckFailed
	}
	fmt.Fprintf(e.stdout, "ok: row-level security holds for role %s on %v; migrations up to date\n",
		tenant.AppRole, migrate.TenantScopedTables())
	return nil
}
