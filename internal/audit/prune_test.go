package audit_test

import (
	"context"
	"database/sql"
	"log/slog"
	"slices"
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

// TestPruneDeletesInBoundedBatches counts the rows each DELETE statement
// on audit_events removes (a statement trigger with a transition table):
// Prune with a batch of 2 over 5 old events runs statements of 2, 2 and 1
// rows, never more than the batch, and leaves the recent event.
func TestPruneDeletesInBoundedBatches(t *testing.T) {
	pg := pgtest.New(t)
	db, err := sql.Open("pgx", pg.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for _, stmt := range []string{
		`INSERT INTO tenants (id, name, tenant_type, metadata, created_at, updated_at)
		 SELECT gen_random_uuid(), 'T' || i, 'parent', '{}', now(), now() FROM generate_series(1, 6) AS i`,
		`UPDATE audit_events SET occurred_at = now() - interval '2 hours'
		 WHERE id IN (SELECT id FROM audit_events ORDER BY id LIMIT 5)`,
		`CREATE TABLE prune_log (n bigint NOT NULL, at bigserial)`,
		`CREATE FUNCTION prune_log() RETURNS trigger LANGUAGE plpgsql AS $$
		 BEGIN INSERT INTO prune_log (n) SELECT count(*) FROM gone; RETURN NULL; END $$`,
		`CREATE TRIGGER prune_log AFTER DELETE ON audit_events REFERENCING OLD TABLE AS gone
		 FOR EACH STATEMENT EXECUTE FUNCTION prune_log()`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	n, err := audit.Prune(ctx, db, time.Now().Add(-time.Hour), 2)
	if err != nil || n != 5 {
		t.Fatalf("Prune = %d, %v; want 5", n, err)
	}
	rows, err := db.QueryContext(ctx, `SELECT n FROM prune_log ORDER BY at`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int64{2, 2, 1}) {
		t.Fatalf("rows per DELETE %v, want [2 2 1]", got)
	}
	var left int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM audit_events`).Scan(&left); err != nil || left != 1 {
		t.Fatalf("%d events left (%v), want 1", left, err)
	}
}
