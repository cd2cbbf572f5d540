package health

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mtdb/mtdb/internal/migrate"
	"github.com/mtdb/mtdb/internal/pgtest"
)

// countedChecker is a Checker over a fresh migrated database whose ping,
// migrations check and RLS check count their runs. The intervals are long
// enough that only the collapsing and rate limiting under test can keep
// the counts down.
type countedChecker struct {
	*Checker
	pings, pending, rls atomic.Int64
}

func newCountedChecker(t *testing.T, rlsDB *sql.DB) *countedChecker {
	t.Helper()
	pg := pgtest.New(t)
	pool := pg.AppPool(t)
	app := stdlib.OpenDBFromPool(pool)
	t.Cleanup(func() { _ = app.Close() })
	if rlsDB == nil {
		rlsDB = app
	}
	c := &countedChecker{}
	check := RLSCheck(rlsDB, "", migrate.TenantScopedTables())
	c.Checker = New(Options{
		Ping: func(ctx context.Context) error { c.pings.Add(1); return pool.Ping(ctx) },
		Pending: func(ctx context.Context) (int, error) {
			c.pending.Add(1)
			return migrate.PendingFrom(ctx, app, "")
		},
		RLS:           func(ctx context.Context) ([]string, error) { c.rls.Add(1); return check(ctx) },
		Timeout:       30 * time.Second,
		PingTTL:       time.Hour,
		RetryInterval: time.Hour,
	})
	return c
}

// TestStatusUnknownCollapsesRefreshes: readiness and detailed health are
// unauthenticated; a flood of them while the slow checks' status is
// unknown (before the first background run) must cause one catalog check,
// not one per request, and one ping.
func TestStatusUnknownCollapsesRefreshes(t *testing.T) {
	c := newCountedChecker(t, nil)
	if r := c.Snapshot(); r.RLS.Status != StatusUnknown {
		t.Fatalf("fresh checker: rls %q, want unknown", r.RLS.Status)
	}
	const n = 64
	start := make(chan struct{})
	var wg sync.WaitGroup
	ready := make(chan bool, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if i%2 == 0 {
				ok, _ := c.Readiness(context.Background())
				ready <- ok
				return
			}
			db, r := c.Current(context.Background())
			ready <- db.Status == StatusUp && r.RLS.Status == StatusOK && r.Migrations.Status == StatusOK
		}()
	}
	close(start)
	wg.Wait()
	close(ready)
	for ok := range ready {
		if !ok {
			t.Error("a caller did not see the refreshed, healthy status")
			break
		}
	}
	if p, m, r := c.pings.Load(), c.pending.Load(), c.rls.Load(); p > 2 || m != 1 || r != 1 {
		t.Fatalf("%d concurrent callers ran %d pings, %d migrations checks, %d RLS checks; want at most 2 pings (one shared, one by the refresh) and one check each", n, p, m, r)
	}
}

// TestStatusUnknownRetriesAreRateLimited: when the slow checks cannot run
// (here the RLS check's connection is closed), their status stays unknown;
// requests then do not re-run them each time, only once per RetryInterval.
func TestStatusUnknownRetriesAreRateLimited(t *testing.T) {
	broken, err := sql.Open("pgx", "postgres://nobody@127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err)
	}
	broken.Close() // every query: sql: database is closed
	c := newCountedChecker(t, broken)
	for range 20 {
		ok, reasons := c.Readiness(context.Background())
		if ok {
			t.Fatalf("ready while the RLS check cannot run (%v)", reasons)
		}
	}
	if r := c.rls.Load(); r != 1 {
		t.Fatalf("20 readiness requests with the RLS status unknown ran the RLS check %d times, want 1", r)
	}
}

// TestDatabaseFailedForgetsThePing: the shared ping answers every caller
// for PingTTL, but once a request reports the database unavailable the
// next caller pings afresh (readiness shows an outage at once under load).
func TestDatabaseFailedForgetsThePing(t *testing.T) {
	c := newCountedChecker(t, nil)
	ctx := context.Background()
	c.Database(ctx)
	c.Database(ctx)
	if p := c.pings.Load(); p != 1 {
		t.Fatalf("two calls within PingTTL ran %d pings, want 1", p)
	}
	c.DatabaseFailed()
	c.Database(ctx)
	if p := c.pings.Load(); p != 2 {
		t.Fatalf("after DatabaseFailed: %d pings in all, want 2", p)
	}
}
