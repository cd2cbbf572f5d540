package tenants_test

import (
	"context"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/pgtest"
	"github.com/mtdb/mtdb/internal/servicetest"
	"github.com/mtdb/mtdb/internal/tenant"
	"github.com/mtdb/mtdb/internal/tenants"
)

// TestRepairMetadata: rows stored before the bounds existed (written here
// as the owner, as an old release would have) are found without rendering
// their numbers, reported, left alone by a dry run and reset to {} by the
// repair; rows within the bounds are untouched. Only a platform_admin may
// run it.
func TestRepairMetadata(t *testing.T) {
	pg := pgtest.New(t)
	db, err := database.Open(context.Background(), database.Options{URL: pg.AppURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	owner := pg.OwnerPool(t)
	insert := func(md string) uuid.UUID {
		t.Helper()
		id := uuid.New()
		if _, err := owner.Exec(context.Background(), `INSERT INTO tenants (id, name, tenant_type, metadata, created_at, updated_at)
			VALUES ($1, $2, 'parent', $3::jsonb, now(), now())`, id, id.String(), md); err != nil {
			t.Fatal(err)
		}
		return id
	}
	tiny := insert(`{"x": 1e-16383}`)
	huge := insert(`{"a": [{"b": 1e16000}]}`)
	deep := insert(`{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":1}}}}}}}}}`)
	fine := insert(`{"price": 1.50}`)
	bad := []uuid.UUID{tiny, huge, deep}
	slices.SortFunc(bad, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })

	svc := tenants.NewService(db.Ent)
	_, err = svc.RepairMetadata(servicetest.As(tenant.RoleTenantAdmin, fine), false, func(uuid.UUID, string) {})
	servicetest.WantKind(t, err, errs.KindForbidden)

	platform := servicetest.As(tenant.RolePlatformAdmin, uuid.Nil)
	var reported []uuid.UUID
	n, err := svc.RepairMetadata(platform, true, func(id uuid.UUID, _ string) { reported = append(reported, id) })
	slices.SortFunc(reported, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	if err != nil || n != 3 || !slices.Equal(reported, bad) {
		t.Fatalf("dry run: %d %v, reported %v, want %v", n, err, reported, bad)
	}
	metadata := func(id uuid.UUID) string {
		var s string
		if err := owner.QueryRow(context.Background(), `SELECT CASE WHEN length(metadata::text) > 100 THEN 'long' ELSE metadata::text END
			FROM tenants WHERE id = $1`, id).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if got := metadata(tiny); got != "long" {
		t.Fatalf("a dry run changed metadata: %s", got)
	}
	if n, err := svc.RepairMetadata(platform, false, func(uuid.UUID, string) {}); err != nil || n != 3 {
		t.Fatalf("repair: %d, %v; want 3", n, err)
	}
	for _, id := range bad {
		if got := metadata(id); got != "{}" {
			t.Errorf("tenant %s: metadata %s after the repair, want {}", id, got)
		}
	}
	if got := metadata(fine); got != `{"price": 1.50}` {
		t.Errorf("a tenant within the bounds changed: %s", got)
	}
	// The repaired tenants read and update normally again.
	if _, err := svc.Update(platform, tiny, tenants.UpdateInput{Metadata: map[string]any{"ok": true}}); err != nil {
		t.Fatalf("updating a repaired tenant: %v", err)
	}
	if n, err := svc.RepairMetadata(platform, false, func(uuid.UUID, string) {}); err != nil || n != 0 {
		t.Fatalf("second repair: %d, %v; want 0", n, err)
	}
}
