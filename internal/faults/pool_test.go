package faults_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mtdb/mtdb/internal/pgtest"
)

// lockTable takes an ACCESS EXCLUSIVE lock on table as the owner, so that
// every request touching it waits: a slow query that holds its pooled
// connection. The returned function releases the lock.
func lockTable(t *testing.T, owner *pgxpool.Pool, table string) func() {
	t.Helper()
	ctx := context.Background()
	tx, err := owner.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE "+table+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release := func() { once.Do(func() { _ = tx.Rollback(ctx) }) }
	t.Cleanup(release)
	return release
}

// backends counts the service's server connections (login role of AppURL)
// to the test database, and those of them inside a transaction.
func backends(t *testing.T, owner *pgxpool.Pool, db string) (total, inTx int) {
	t.Helper()
	err := owner.QueryRow(context.Background(), `SELECT count(*), count(*) FILTER (WHERE state <> 'idle')
		FROM pg_stat_activity WHERE datname = $1 AND usename = $2`, db, pgtest.TesterRole).Scan(&total, &inTx)
	if err != nil {
		t.Fatal(err)
	}
	return total, inTx
}

// settle waits up to 5 s for cond.
func settle(cond func() bool) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// More concurrent slow requests than pooled connections: the ones that
// find no connection wait DATABASE_ACQUIRE_TIMEOUT and get 503 with
// Retry-After; the slow ones finish once unblocked; afterwards no
// connection is held and no goroutine is left behind.
func TestPoolExhaustion(t *testing.T) {
	const (
		maxConns = 2
		acquire  = 500 * time.Millisecond
		clients  = 10
	)
	pg := pgtest.New(t)
	owner := pg.OwnerPool(t)
	svc := startService(t, pg.AppURL, map[string]string{
		"DATABASE_MAX_CONNS":       "2",
		"DATABASE_ACQUIRE_TIMEOUT": acquire.String(),
		"SERVER_REQUEST_TIMEOUT":   "20s",
		"HEALTH_CHECK_INTERVAL":    "30s",
	})
	fx := newTenant(t, svc, "pool")
	for range 5 { // warm up: pool filled, HTTP connections made
		svc.do(fx.Admin, "GET", "/api/v1/projects", nil).must(t, 200, nil)
	}
	svc.client.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond)
	baseline := runtime.NumGoroutine()

	release := lockTable(t, owner, "projects")
	results := make([]result, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = svc.do(fx.Admin, "GET", "/api/v1/projects", nil)
		}()
	}
	time.Sleep(3 * time.Second) // all but the connection holders have given up by now
	busy := svc.db.Pool.Stat().AcquiredConns()
	release()
	wg.Wait()

	var ok, unavailable int
	var slowest503 time.Duration
	for _, r := range results {
		switch {
		case r.Status == 200:
			ok++
		case r.Status == 503 && r.Code == "SERVICE_UNAVAILABLE" && r.Retry != "":
			unavailable++
			slowest503 = max(slowest503, r.Took)
		default:
			t.Errorf("status %d %s (Retry-After %q, %v) after %s: %s", r.Status, r.Code, r.Retry, r.Err, r.Took, r.Body)
		}
	}
	if unavailable < clients-maxConns || ok < 1 {
		t.Errorf("%d answered 200 and %d 503; want at least %d 503s and some 200s", ok, unavailable, clients-maxConns)
	}
	// Bounded wait: the acquire timeout (twice over at most: the tenant
	// lookup and the handler each take a connection) plus scheduling slack.
	if slowest503 > 2*acquire+1500*time.Millisecond {
		t.Errorf("a 503 took %s; the acquire timeout is %s", slowest503, acquire)
	}

	svc.client.CloseIdleConnections()
	noConnHeld := settle(func() bool { return svc.db.Pool.Stat().AcquiredConns() == 0 })
	var total, inTx int
	noBackendBusy := settle(func() bool { total, inTx = backends(t, owner, pg.Name); return inTx == 0 && total <= maxConns })
	var now int
	noGoroutineLeft := settle(func() bool { now = runtime.NumGoroutine(); return now <= baseline+2 })
	if !noConnHeld || !noBackendBusy || !noGoroutineLeft {
		t.Errorf("leak: pool connections acquired %d; server backends %d (%d not idle, pool max %d); goroutines %d, baseline %d",
			svc.db.Pool.Stat().AcquiredConns(), total, inTx, maxConns, now, baseline)
	}
	svc.do(fx.Admin, "GET", "/api/v1/projects", nil).must(t, 200, nil)
	t.Logf("%d concurrent slow requests, pool of %d (acquired while blocked: %d): %d answered 200, %d answered 503 (slowest 503 after %s, acquire timeout %s)",
		clients, maxConns, busy, ok, unavailable, slowest503.Round(time.Millisecond), acquire)
	t.Logf("afterwards: pool connections acquired %d; server backends %d (%d not idle); goroutines %d (baseline %d)",
		svc.db.Pool.Stat().AcquiredConns(), total, inTx, now, baseline)
}
