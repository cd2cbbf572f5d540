package tenant_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/tenant"
)

// TestReachInSettingsStatement attacks the tenant reach check, which runs
// in the settings statement of every transaction (mtdb_enter), through the
// login role and the restricted role: a credential acts in its own tenant
// or one of its live direct subsidiaries (a platform_admin in any live
// tenant); anything else fails the transaction before its first statement
// runs, with tenant.ErrUnreachable, the same for an unknown, a deleted and
// an out-of-reach tenant.
func TestReachInSettingsStatement(t *testing.T) {
	w := newWorld(t)
	db := w.openDB(t, database.Options{})
	cases := []struct {
		name       string
		home, cur  uuid.UUID
		role       tenant.Role
		reachable  bool
		wantTenant int // users visible when reachable
	}{
		{"own parent tenant", w.A, w.A, tenant.RoleTenantAdmin, true, 3},
		{"parent acting in its subsidiary", w.A, w.A1, tenant.RoleTenantAdmin, true, 1},
		{"member of a parent in its subsidiary", w.A, w.A2, tenant.RoleMember, true, 1},
		{"own subsidiary tenant", w.A1, w.A1, tenant.RoleMember, true, 1},
		{"platform admin in any tenant", uuid.Nil, w.C, tenant.RolePlatformAdmin, true, 3},
		{"no home (development, no token): any live tenant", uuid.Nil, w.B1, tenant.RoleTenantAdmin, true, 1},
		{"subsidiary going up to its parent", w.A1, w.A, tenant.RoleTenantAdmin, false, 0},
		{"sibling", w.A1, w.A2, tenant.RoleTenantAdmin, false, 0},
		{"another organisation", w.A, w.B, tenant.RoleTenantAdmin, false, 0},
		{"another organisation's subsidiary", w.A, w.B1, tenant.RoleTenantAdmin, false, 0},
		{"a deleted subsidiary", w.A, w.AD, tenant.RoleTenantAdmin, false, 0},
		{"a deleted own tenant", w.AD, w.AD, tenant.RoleTenantAdmin, false, 0},
		{"platform admin in a deleted tenant", uuid.Nil, w.AD, tenant.RolePlatformAdmin, false, 0},
		{"an unknown tenant", w.A, uuid.New(), tenant.RolePlatformAdmin, false, 0},
		{"an unknown home", uuid.New(), w.A1, tenant.RoleTenantAdmin, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := tenant.With(context.Background(), tenant.Context{TenantID: c.cur, HomeTenantID: c.home, UserID: "attacker", Role: c.role})
			n, err := db.Ent.User.Query().Count(ctx)
			if c.reachable {
				if err != nil || n != c.wantTenant {
					t.Fatalf("count = %d, %v; want %d users", n, err, c.wantTenant)
				}
				return
			}
			if !errors.Is(err, tenant.ErrUnreachable) {
				t.Fatalf("count = %d, %v; want ErrUnreachable", n, err)
			}
			// A write is refused before it runs: nothing lands in the victim.
			before := w.ownerText(t, `SELECT count(*)::text FROM users WHERE tenant_id = $1`, c.cur)
			_, err = db.Ent.User.Create().SetEmail("evil@x.example").Save(ctx)
			if !errors.Is(err, tenant.ErrUnreachable) {
				t.Fatalf("create: %v, want ErrUnreachable", err)
			}
			if after := w.ownerText(t, `SELECT count(*)::text FROM users WHERE tenant_id = $1`, c.cur); after != before {
				t.Fatalf("victim's users %s -> %s", before, after)
			}
		})
	}
}

// TestVisibleSetOncePerTransaction: the policies read the visible tenants
// that the settings statement stored for the transaction's tenant; a
// setting changed afterwards to another tenant does not reuse that set
// (it is recomputed for the new tenant through the tenants policies).
func TestVisibleSetOncePerTransaction(t *testing.T) {
	w := newWorld(t)
	db := w.openDB(t, database.Options{})
	ctx := tenant.With(context.Background(), tenant.Context{TenantID: w.A, HomeTenantID: w.A, UserID: "t", Role: tenant.RoleTenantAdmin, ReadOnly: true})
	tx, err := db.Ent.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT current_setting('app.visible_tenants', true), current_setting('app.visible_for', true), current_user::text`)
	if err != nil {
		t.Fatal(err)
	}
	var vis, vfor, user string
	for rows.Next() {
		if err := rows.Scan(&vis, &vfor, &user); err != nil {
			t.Fatal(err)
		}
	}
	rows.Close()
	if vfor != w.A.String() || user != tenant.AppRole || len(vis) < 3*36 {
		t.Fatalf("visible_tenants %q for %q as %s", vis, vfor, user)
	}
	// Switching tenant by hand inside the transaction: the stored set is
	// not reused for another tenant.
	if _, err := tx.ExecContext(ctx, `SELECT set_config('app.tenant_id', $1, true)`, w.B.String()); err != nil {
		t.Fatal(err)
	}
	n, err := tx.User.Query().Count(ctx)
	if err != nil || n != 2 { // B and B1
		t.Fatalf("after switching to B: %d users, %v; want 2", n, err)
	}
}

// TestRowCountsFollowWrites: the maintained row counts (the total of an
// unfiltered list) equal count(*) after single and multi-row inserts and
// deletes through the restricted role, and after a rolled-back write.
func TestRowCountsFollowWrites(t *testing.T) {
	w := newWorld(t)
	db := w.openDB(t, database.Options{})
	drv := rawDriver(db)
	ctx := tenant.With(context.Background(), tenant.Context{TenantID: w.A, HomeTenantID: w.A, UserID: "t", Role: tenant.RoleTenantAdmin})
	exec := func(q string, args ...any) {
		t.Helper()
		if err := drv.Exec(ctx, q, args, nil); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	check := func(when string) {
		t.Helper()
		counted := w.ownerText(t, `SELECT COALESCE(sum(rows), 0)::text FROM row_counts WHERE table_name = 'users' AND tenant_id IN ($1, $2)`, w.A, w.A1)
		actual := w.ownerText(t, `SELECT count(*)::text FROM users WHERE tenant_id IN ($1, $2)`, w.A, w.A1)
		if counted != actual {
			t.Fatalf("%s: row_counts says %s, count(*) %s", when, counted, actual)
		}
	}
	check("seeded")
	exec(`INSERT INTO users (id, tenant_id, email, display_name, role, created_at, updated_at)
		SELECT gen_random_uuid(), t, 'bulk' || i || '@x.example', '', 'member', now(), now()
		FROM unnest(ARRAY[$1::uuid, $2::uuid]) t, generate_series(1, 5) i`, w.A, w.A1)
	check("after a multi-row insert into two tenants")
	exec(`DELETE FROM users WHERE email LIKE 'bulk%' AND email < 'bulk3'`)
	check("after a multi-row delete")
	tx, err := db.Ent.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.User.Create().SetEmail("rolled@x.example").Save(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	check("after a rolled-back insert")
}
