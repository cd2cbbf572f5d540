package audit_test

import (
	"context"
	"database/sql"
	"log/slog"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/mtdb/mtdb/internal/audit"
	"github.com/mtdb/mtdb/internal/pgtest"
)

// TestPruneEveryDeletesOldEvents runs the background prune of serve
// (AUDIT_RETENTION) with a short interval: the aged events go, the recent
// one stays.
func TestPruneEveryDeletesOldEvents(t *testing.T) {
	pg := pgtest.New(t)
	db, err := sql.Open("pgx", pg.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for _, name := range []string{"One", "Two", "Three"} {
		if _, err := db.ExecContext(ctx, `INSERT INTO tenants (id, name, tenant_type, metadata, created_at, updated_at)
			VALUES (gen_random_uuid(), $1, 'parent', '{}', now(), now())`, name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `UPDATE audit_events SET occurred_at = now() - interval '2 hours'
		WHERE id IN (SELECT id FROM audit_events ORDER BY id LIMIT 2)`); err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		audit.PruneEvery(pctx, db, time.Hour, 20*time.Millisecond, slog.New(slog.DiscardHandler))
	}()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM audit_events`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events left, want 1", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
