package tenant_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mtdb/mtdb/internal/pgtest"
	"github.com/mtdb/mtdb/internal/tenant"
)

// tripRecorder records every statement and groups them by round trip: a
// statement sent alone is its own trip, a batch is one trip.
type tripRecorder struct {
	mu    sync.Mutex
	trips [][]string
}

func (r *tripRecorder) add(batch bool, s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if batch {
		r.trips[len(r.trips)-1] = append(r.trips[len(r.trips)-1], s)
		return
	}
	r.trips = append(r.trips, []string{s})
}

func (r *tripRecorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.add(false, d.SQL)
	return ctx
}
func (r *tripRecorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *tripRecorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.mu.Lock()
	r.trips = append(r.trips, nil)
	r.mu.Unlock()
	return ctx
}
func (r *tripRecorder) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.add(true, d.SQL)
}
func (r *tripRecorder) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (r *tripRecorder) take() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.trips
	r.trips = nil
	return out
}

// pipelined returns a pipelining driver over a one-connection pool of the
// test database (as the login role), the pool, and its recorder.
func pipelined(t *testing.T) (dialect.Driver, *pgxpool.Pool, *tripRecorder) {
	t.Helper()
	pg := pgtest.New(t)
	cfg, err := pgxpool.ParseConfig(pg.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	rec := &tripRecorder{}
	cfg.ConnConfig.Tracer, cfg.MaxConns = rec, 1
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	db := sql.OpenDB(stdlib.GetPoolConnector(pool))
	db.SetMaxIdleConns(0)
	t.Cleanup(func() { _ = db.Close() })
	drv := tenant.NewDriver(entsql.OpenDB(dialect.Postgres, db), tenant.DriverOptions{StatementTimeout: time.Second, Pipeline: true})
	return drv, pool, rec
}

func wantTrips(t *testing.T, name string, got, want [][]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d round trips %q, want %d %q", name, len(got), got, len(want), want)
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("%s: trip %d = %q, want %q", name, i, got[i], want[i])
		}
		for j := range want[i] {
			if !strings.EqualFold(strings.TrimSpace(got[i][j]), want[i][j]) {
				t.Fatalf("%s: trip %d statement %d = %q, want %q", name, i, j, got[i][j], want[i][j])
			}
		}
	}
}

// TestPipelineStatementOrder checks on the wire that pipelining sends the
// same statements in the same order as the plain path, only in fewer round
// trips.
func TestPipelineStatementOrder(t *testing.T) {
	drv, _, rec := pipelined(t)
	settings, _ := tenant.SettingsStatement(tenant.Context{}, "", time.Second)
	ctx := tenant.With(context.Background(), tenant.Context{TenantID: uuid.New(), Role: tenant.RoleMember, ReadOnly: true})
	rec.take()

	if err := drv.Exec(ctx, "SELECT 1", []any{}, nil); err != nil {
		t.Fatal(err)
	}
	wantTrips(t, "implicit exec", rec.take(), [][]string{{"begin read only", settings, "SELECT 1", "commit"}})

	var rows entsql.Rows
	if err := drv.Query(ctx, "SELECT 2", []any{}, &rows); err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	wantTrips(t, "implicit query", rec.take(), [][]string{{"begin read only", settings, "SELECT 2", "commit"}})

	tx, err := drv.Tx(tenant.With(context.Background(), tenant.Context{Role: tenant.RolePlatformAdmin}))
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Exec(ctx, "SELECT 3", []any{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	wantTrips(t, "explicit tx", rec.take(), [][]string{{"begin", settings}, {"SELECT 3"}, {"commit"}})

	if err := drv.Exec(context.Background(), "SELECT 4", []any{}, nil); !errors.Is(err, tenant.ErrNoContext) {
		t.Fatalf("without a tenant context: %v, want ErrNoContext", err)
	}
	wantTrips(t, "no context", rec.take(), nil)
}

// TestPipelineFailureLeavesNothing: a failing statement is reported with
// its PostgreSQL error, its transaction is rolled back at once, and the
// connection goes back to the pool clean: no transaction open, no setting
// left, the login role again; and it is the same connection (rolled back,
// not thrown away).
func TestPipelineFailureLeavesNothing(t *testing.T) {
	drv, pool, _ := pipelined(t)
	ctx := tenant.With(context.Background(), tenant.Context{TenantID: uuid.New(), Role: tenant.RoleTenantAdmin})
	var pid int
	if err := pool.QueryRow(context.Background(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	clean := func(name string) {
		t.Helper()
		var tid, role, user string
		var now int
		err := pool.QueryRow(context.Background(), "SELECT COALESCE(current_setting('app.tenant_id', true), ''), "+
			"COALESCE(current_setting('app.role', true), ''), current_user, pg_backend_pid()").Scan(&tid, &role, &user, &now)
		if err != nil {
			t.Fatalf("%s: connection not reusable: %v", name, err)
		}
		if tid != "" || role != "" || user != pgtest.TesterRole {
			t.Fatalf("%s: left app.tenant_id=%q app.role=%q current_user=%q", name, tid, role, user)
		}
		if now != pid {
			t.Fatalf("%s: the connection was discarded, not rolled back (backend %d, was %d)", name, now, pid)
		}
	}
	var pgErr *pgconn.PgError
	err := drv.Exec(ctx, "SELECT 1/0", []any{}, nil)
	if !errors.As(err, &pgErr) || pgErr.Code != "22012" {
		t.Fatalf("implicit exec: %v, want division_by_zero", err)
	}
	clean("implicit exec")

	var rows entsql.Rows
	err = drv.Query(ctx, "SELECT 1/0", []any{}, &rows)
	if !errors.As(err, &pgErr) || pgErr.Code != "22012" {
		t.Fatalf("implicit query: %v, want division_by_zero", err)
	}
	clean("implicit query")

	err = drv.Exec(ctx, "INSERT INTO users (id) VALUES ($1)", []any{uuid.New()}, nil)
	if err == nil {
		t.Fatal("an insert outside the tenant's rules succeeded")
	}
	clean("refused insert")

	tx, err := drv.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Exec(ctx, "SELECT 1/0", []any{}, nil); err == nil {
		t.Fatal("division by zero succeeded")
	}
	if err := tx.Commit(); err == nil {
		t.Fatal("commit of a failed transaction reported success")
	}
	if err := tx.Rollback(); !errors.Is(err, sql.ErrTxDone) {
		t.Fatalf("rollback after commit: %v, want ErrTxDone", err)
	}
	clean("failed transaction")

	cctx, cancel := context.WithCancel(ctx)
	tx, err = drv.Tx(cctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := tx.Commit(); !errors.Is(err, context.Canceled) {
		t.Fatalf("commit after cancel: %v, want context.Canceled", err)
	}
	clean("cancelled transaction")
}

// TestPipelineScan: the rows of a pipelined query scan into the
// destinations ent uses as they do through database/sql.
func TestPipelineScan(t *testing.T) {
	drv, _, _ := pipelined(t)
	ctx := tenant.With(context.Background(), tenant.Context{Role: tenant.RolePlatformAdmin, ReadOnly: true})
	id := uuid.New()
	at := time.Date(2026, 5, 4, 3, 2, 1, 123456000, time.UTC)
	var rows entsql.Rows
	err := drv.Query(ctx, `SELECT $1::uuid, $2::timestamptz, '{"a": [1, 2]}'::jsonb, 42::int8, NULL::text, true, 'x'::varchar, 7::int4, 1.5::float8`,
		[]any{id, at}, &rows)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil || len(cols) != 9 {
		t.Fatalf("columns %v, %v", cols, err)
	}
	if !rows.Next() {
		t.Fatal("no row")
	}
	var (
		gotID  uuid.UUID
		gotAt  sql.NullTime
		doc    []byte
		n      int
		null   sql.NullString
		flag   sql.NullBool
		str    string
		small  any
		float  float64
		nrows  int
		result = []any{&gotID, &gotAt, &doc, &n, &null, &flag, &str, &small, &float}
	)
	if err := rows.Scan(result...); err != nil {
		t.Fatal(err)
	}
	nrows++
	if rows.Next() {
		t.Fatal("more than one row")
	}
	if gotID != id || !gotAt.Valid || !gotAt.Time.Equal(at) || string(doc) != `{"a": [1, 2]}` || n != 42 ||
		null.Valid || !flag.Valid || !flag.Bool || str != "x" || small != int64(7) || float != 1.5 {
		t.Fatalf("scanned %v %v %s %d %v %v %q %v %v", gotID, gotAt, doc, n, null, flag, str, small, float)
	}
	if err := rows.Scan(result...); err == nil {
		t.Fatal("Scan after the last row succeeded")
	}
}
