package tenant_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
func pipelined(t *testing.T) (dialect.Driver, *pgxpool.Pool, *tripRecorder, *pgtest.DB) {
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
	drv := tenant.NewDriver(db, tenant.DriverOptions{StatementTimeout: time.Second})
	return drv, pool, rec, pg
}

// liveTenant inserts a parent tenant (as the owner) and returns its id:
// every transaction checks that its tenant exists.
func liveTenant(t *testing.T, pg *pgtest.DB) uuid.UUID {
	t.Helper()
	id := uuid.New()
	if _, err := pg.OwnerPool(t).Exec(context.Background(), `INSERT INTO tenants (id, name, tenant_type, metadata, created_at, updated_at)
		VALUES ($1, $2, 'parent', '{}', now(), now())`, id, "t-"+id.String()); err != nil {
		t.Fatal(err)
	}
	return id
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
	drv, _, rec, pg := pipelined(t)
	settings, _ := tenant.SettingsStatement(tenant.Context{}, time.Second)
	ctx := tenant.With(context.Background(), tenant.Context{TenantID: liveTenant(t, pg), Role: tenant.RoleMember, ReadOnly: true})
	rec.take()

	// The first time a statement runs on a connection it goes alone, after
	// BEGIN and the settings (see TestPipelineNewStatementTimeout); from
	// then on it joins the batch.
	for _, first := range []bool{true, false} {
		if err := drv.Exec(ctx, "SELECT 1", []any{}, nil); err != nil {
			t.Fatal(err)
		}
		want := [][]string{{"begin read only", settings, "SELECT 1", "commit"}}
		if first {
			want = [][]string{{"begin read only", settings}, {"SELECT 1"}, {"commit"}}
		}
		wantTrips(t, fmt.Sprintf("implicit exec (first: %v)", first), rec.take(), want)
	}

	var rows entsql.Rows
	for _, first := range []bool{true, false} {
		if err := drv.Query(ctx, "SELECT 2", []any{}, &rows); err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		want := [][]string{{"begin read only", settings, "SELECT 2", "commit"}}
		if first {
			want = [][]string{{"begin read only", settings}, {"SELECT 2"}, {"commit"}}
		}
		wantTrips(t, fmt.Sprintf("implicit query (first: %v)", first), rec.take(), want)
	}
	if err := drv.Exec(ctx, "SELECT 3", []any{}, nil); err != nil { // prepare it
		t.Fatal(err)
	}
	if err := drv.Query(ctx, "SELECT 6", []any{}, &rows); err != nil {
		t.Fatal(err)
	}
	_ = rows.Close()
	rec.take()

	tx, err := drv.Tx(tenant.With(context.Background(), tenant.Context{Role: tenant.RolePlatformAdmin}))
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Exec(ctx, "SELECT 3", []any{}, nil); err != nil {
		t.Fatal(err)
	}
	var res sql.Result
	if err := tx.Exec(ctx, "SELECT generate_series(1, 4)", []any{}, &res); err != nil {
		t.Fatal(err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 4 {
		t.Fatalf("rows affected %d, %v", n, err)
	}
	if err := tx.Query(ctx, "SELECT 5", []any{}, &rows); err != nil {
		t.Fatal(err)
	}
	if !rows.Next() || rows.Close() != nil {
		t.Fatal("no row from a query in the transaction")
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	wantTrips(t, "explicit tx", rec.take(), [][]string{{"begin", settings, "SELECT 3"}, {"SELECT generate_series(1, 4)"}, {"SELECT 5"}, {"commit"}})

	tx, err = drv.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Query(ctx, "SELECT 6", []any{}, &rows); err != nil {
		t.Fatal(err)
	}
	_ = rows.Close()
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	wantTrips(t, "read-only tx starting with a query", rec.take(), [][]string{{"begin read only", settings, "SELECT 6"}, {"rollback"}})

	tx, err = drv.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Exec(ctx, "SELECT 7", []any{}, nil); !errors.Is(err, sql.ErrTxDone) {
		t.Fatalf("exec after commit: %v, want ErrTxDone", err)
	}
	wantTrips(t, "empty tx", rec.take(), nil)

	// ent's Tx.ExecContext/QueryContext (feature sql/execquery) run inside.
	tx, err = drv.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	q, ok := tx.(interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	})
	if !ok {
		t.Fatalf("%T has no QueryContext", tx)
	}
	sqlRows, err := q.QueryContext(ctx, "SELECT current_setting('app.role')")
	if err != nil {
		t.Fatal(err)
	}
	var role string
	if !sqlRows.Next() || sqlRows.Scan(&role) != nil || role != string(tenant.RoleMember) {
		t.Fatalf("QueryContext in the transaction saw app.role %q", role)
	}
	_ = sqlRows.Close()
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	wantTrips(t, "QueryContext", rec.take(), [][]string{{"begin read only", settings}, {"SELECT current_setting('app.role')"}, {"rollback"}})

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
	drv, pool, _, pg := pipelined(t)
	ctx := tenant.With(context.Background(), tenant.Context{TenantID: liveTenant(t, pg), Role: tenant.RoleTenantAdmin})
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

	for _, second := range []bool{false, true} {
		name := fmt.Sprintf("failed transaction (failing statement second: %v)", second)
		tx, err := drv.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if second {
			if err := tx.Exec(ctx, "SELECT 1", []any{}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Exec(ctx, "SELECT 1/0", []any{}, nil); err == nil {
			t.Fatalf("%s: division by zero succeeded", name)
		}
		// Nothing may run after the failure: not outside the transaction,
		// where the connection is no longer in the tenant context.
		var rows entsql.Rows
		if err := tx.Query(ctx, "SELECT current_user", []any{}, &rows); err == nil {
			_ = tx.Rollback() // release the connection, or the pool's Close waits for it
			t.Fatalf("%s: a statement after the failure ran", name)
		}
		if err := tx.Commit(); err == nil {
			t.Fatalf("%s: commit of a failed transaction reported success", name)
		}
		if err := tx.Rollback(); !errors.Is(err, sql.ErrTxDone) {
			t.Fatalf("%s: rollback after commit: %v, want ErrTxDone", name, err)
		}
		clean(name)
	}

	cctx, cancel := context.WithCancel(ctx)
	tx, err := drv.Tx(cctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Exec(cctx, "SELECT 1", []any{}, nil); err != nil {
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
	drv, _, _, _ := pipelined(t)
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
		result = []any{&gotID, &gotAt, &doc, &n, &null, &flag, &str, &small, &float}
	)
	if err := rows.Scan(result...); err != nil {
		t.Fatal(err)
	}
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

// TestPipelineNewStatementTimeout: a statement new to the connection is
// prepared inside the transaction, after the settings statement, so the
// statement_timeout bounds a wait on a table lock during its preparation.
func TestPipelineNewStatementTimeout(t *testing.T) {
	drv, _, _, pg := pipelined(t)
	ctx := tenant.With(context.Background(), tenant.Context{Role: tenant.RolePlatformAdmin, ReadOnly: true})
	var rows entsql.Rows
	owner, err := pgx.Connect(context.Background(), pg.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(context.Background())
	lock, err := owner.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Rollback(context.Background()) }()
	if _, err := lock.Exec(context.Background(), "LOCK TABLE users IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{"SELECT count(*) FROM users", "SELECT count(*) FROM users WHERE email <> ''"} {
		start := time.Now()
		var err error
		// A bounded wait, so that a regression fails instead of hanging.
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if strings.Contains(stmt, "email") {
			tx, terr := drv.Tx(wctx)
			if terr != nil {
				t.Fatal(terr)
			}
			err = tx.Query(wctx, stmt, []any{}, &rows)
			_ = tx.Rollback()
		} else {
			err = drv.Query(wctx, stmt, []any{}, &rows)
		}
		cancel()
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
			t.Fatalf("%s behind a lock: %v, want a statement timeout (57014)", stmt, err)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("%s behind a lock answered after %s; statement_timeout is 1s", stmt, took)
		}
	}
}
