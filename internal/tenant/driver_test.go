package tenant_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mtdb/mtdb/internal/tenant"
)

func TestSettingsStatement(t *testing.T) {
	tid := uuid.New()
	q, args := tenant.SettingsStatement(tenant.Context{TenantID: tid, UserID: "u", Role: tenant.RoleMember, RequestID: "req-1"}, 0)
	if strings.Count(q, "set_config(") != 6 || strings.Contains(q, "statement_timeout") {
		t.Fatalf("statement = %s", q)
	}
	want := []any{tenant.AppRole, tid.String(), "u", "member", "req-1", ""}
	if len(args) != len(want) {
		t.Fatalf("args = %v, want %v", args, want)
	}
	for i := range want {
		if args[i] != want[i] {
			t.Fatalf("args = %v, want %v", args, want)
		}
	}
	q, args = tenant.SettingsStatement(tenant.Context{}, 1500*time.Millisecond)
	if !strings.Contains(q, "set_config('statement_timeout', $7, true)") || args[1] != "" || args[6] != "1500" {
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
