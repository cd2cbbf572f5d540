package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/mtdb/mtdb/internal/audit"
	"github.com/mtdb/mtdb/internal/config"
)

// auditCmd is `mtdb audit prune --before DURATION|DATE [--url URL] [--batch N]`.
func (e *cmdEnv) auditCmd(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "prune" {
		return usagef("audit: missing or unknown subcommand (prune)")
	}
	fs, cfgFile := e.flagSet("audit prune")
	before := fs.String("before", "", "delete events older than this: a duration (720h, 90d) or a date (2026-01-31, RFC 3339)")
	urlFlag := fs.String("url", "", "owner database URL (default MIGRATION_DATABASE_URL, else DATABASE_URL)")
	batch := fs.Int("batch", audit.DefaultPruneBatch, "events deleted per transaction")
	if err := e.parse(fs, args[1:]); err != nil {
		return err
	}
	if *before == "" {
		return usagef("audit prune: --before is required")
	}
	cutoff, err := audit.ParseBefore(*before, time.Now())
	if err != nil {
		return usagef("audit prune: --before: %v", err)
	}
	if *batch < 1 || *batch > 1_000_000 {
		return usagef("audit prune: --batch must be from 1 to 1000000")
	}
	url, err := e.migrationURL(*urlFlag, *cfgFile)
	if err != nil {
		return err
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		return fmt.Errorf("audit prune on %s: %w", config.MaskURL(url), err)
	}
	defer db.Close()
	n, err := audit.Prune(ctx, db, cutoff, *batch)
	if err != nil {
		return fmt.Errorf("audit prune on %s (deleted %d before failing): %w", config.MaskURL(url), n, err)
	}
	fmt.Fprintf(e.stdout, "deleted %d audit event(s) older than %s\n", n, cutoff.UTC().Format(time.RFC3339))
	return nil
}

// auditPruneInterval is how often serve prunes the audit trail.
const auditPruneInterval = time.Hour

// startAuditPrune starts the background prune of serve when AUDIT_RETENTION
// is set: every interval (auditPruneInterval; the first round after a
// minute at most), as the migration owner (MIGRATION_DATABASE_URL, else
// DATABASE_URL). The returned function stops it.
func startAuditPrune(ctx context.Context, cfg *config.Config, log *slog.Logger, interval time.Duration) (stop func()) {
	if cfg.Audit.Retention <= 0 {
		return func() {}
	}
	db, err := sql.Open("pgx", cfg.MigrationURL())
	if err != nil {
		log.Error("audit prune disabled", "error", err)
		return func() {}
	}
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		audit.PruneEvery(ctx, db, cfg.Audit.Retention, interval, log)
	}()
	log.Info("audit prune scheduled", "retention", cfg.Audit.Retention.String())
	return func() { cancel(); <-done; _ = db.Close() }
}
