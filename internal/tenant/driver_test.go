package tenant_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

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
