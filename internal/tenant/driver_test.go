package tenant_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mtdb/mtdb/internal/pgtest"
	"github.com/mtdb/mtdb/internal/tenant"
)

func TestSettingsStatement(t *testing.T) {
	tid := uuid.New()
	q, args := tenant.SettingsStatement(tenant.Context{TenantID: tid, UserID: "u", Role: tenant.RoleMember, RequestID: "req-1"}, "", 0)
	if strings.Count(q, "set_config(") != 5 || strings.Contains(q, "statement_timeout") {
		t.Fatalf("statement = %s", q)
	}
	want := []any{tenant.DefaultAppRole, tid.String(), "u", "member", "req-1"}
	if len(args) != len(want) {
		t.Fatalf("args = %v, want %v", args, want)
	}
	for i := range want {
		if args[i] != want[i] {
			t.Fatalf("args = %v, want %v", args, want)
		}
	}
	q, args = tenant.SettingsStatement(tenant.Context{}, "r", 1500*time.Millisecond)
	if !strings.Contains(q, "set_config('statement_timeout', $6, true)") || args[1] != "" || args[5] != "1500" {
		t.Fatalf("statement = %s, args = %v", q, args)
	}
	if strings.Contains(strings.ToUpper(q), "SET ") {
		t.Fatalf("session-level SET in %s", q)
	}
}

// recorder is a pgx tracer recording every statement sent.
type recorder struct {
	mu  sync.Mutex
	sql []string
}

func (r *recorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sql = append(r.sql, d.SQL)
	return ctx
}

func (r *recorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.sql
	r.sql = nil
	return out
}

// TestDriverStatementOrder checks on the wire what the driver sends: BEGIN,
// then exactly one settings statement, then the work, then COMMIT; never a
// SET of any kind.
func TestDriverStatementOrder(t *testing.T) {
	pg := pgtest.New(t)
	cfg, err := pgxpool.ParseConfig(pg.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	cfg.ConnConfig.Tracer = rec
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	db := stdlib.OpenDBFromPool(pool)
	t.Cleanup(func() { _ = db.Close() })
	drv := tenant.NewDriver(entsql.OpenDB(dialect.Postgres, db), tenant.DriverOptions{StatementTimeout: time.Second})
	settings, _ := tenant.SettingsStatement(tenant.Context{}, "", time.Second)
	ctx := tenant.With(context.Background(), tenant.Context{TenantID: uuid.New(), Role: tenant.RoleMember, ReadOnly: true})

	check := func(name string, want []string) {
		t.Helper()
		got := rec.take()
		if len(got) != len(want) {
			t.Fatalf("%s: sent %q, want %q", name, got, want)
		}
		for i := range want {
			if !strings.EqualFold(strings.TrimSpace(got[i]), want[i]) {
				t.Fatalf("%s: statement %d = %q, want %q (all: %q)", name, i, got[i], want[i], got)
			}
		}
	}
	rec.take()
	if err := drv.Exec(ctx, "SELECT 1", []any{}, nil); err != nil {
		t.Fatal(err)
	}
	check("implicit exec", []string{"begin read only", settings, "SELECT 1", "commit"})

	var rows entsql.Rows
	if err := drv.Query(ctx, "SELECT 2", []any{}, &rows); err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	check("implicit query", []string{"begin read only", settings, "SELECT 2", "commit"})

	tx, err := drv.Tx(tenant.With(context.Background(), tenant.Context{Role: tenant.RolePlatformAdmin}))
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Exec(ctx, "SELECT 3", []any{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	check("explicit tx", []string{"begin", settings, "SELECT 3", "rollback"})
}
