package tenant_test

import (
	"context"
	"errors"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/ent/project"
	"github.com/mtdb/mtdb/ent/user"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/tenant"
)

// Isolation through the ent client and the driver wrapper, as the API runs.

func TestEntVisibility(t *testing.T) {
	w := newWorld(t)
	db := w.openDB(t, database.Options{})
	for _, actor := range w.live() {
		for _, role := range []tenant.Role{tenant.RoleMember, tenant.RoleTenantAdmin, tenant.RolePlatformAdmin} {
			ctx := in(actor, role)
			users, err := db.Ent.User.Query().All(ctx)
			if err != nil {
				t.Fatalf("users as %s: %v", actor, err)
			}
			projects, err := db.Ent.Project.Query().All(ctx)
			if err != nil {
				t.Fatalf("projects as %s: %v", actor, err)
			}
			want := w.visible(actor)
			got := map[uuid.UUID]bool{}
			for _, u := range users {
				got[u.TenantID] = true
			}
			assertSameSet(t, "users tenants", got, want)
			got = map[uuid.UUID]bool{}
			for _, p := range projects {
				got[p.TenantID] = true
			}
			assertSameSet(t, "projects tenants", got, want)
			if len(users) != len(want) || len(projects) != len(want) {
				t.Fatalf("as %s: %d users, %d projects, want %d each", actor, len(users), len(projects), len(want))
			}
		}
	}
}

func assertSameSet(t *testing.T, what string, got, want map[uuid.UUID]bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
	for id := range got {
		if !want[id] {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
	}
}

// TestEntAttacks: tenant B (and subsidiaries, and a parent towards a foreign
// subsidiary) try every call on A's rows; each must fail or touch nothing,
// and the victim rows must be unchanged.
func TestEntAttacks(t *testing.T) {
	w := newWorld(t)
	db := w.openDB(t, database.Options{})
	pairs := []struct {
		name             string
		attacker, victim uuid.UUID
	}{
		{"other organisation", w.B, w.A},
		{"other organisation's subsidiary", w.B1, w.A1},
		{"parent to foreign subsidiary", w.B, w.A1},
		{"subsidiary to its parent", w.A1, w.A},
		{"sibling", w.A1, w.A2},
		{"parent to its deleted subsidiary", w.A, w.AD},
	}
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			ctx := in(p.attacker, tenant.RoleTenantAdmin)
			vu, vp := w.user[p.victim], w.project[p.victim]

			if _, err := db.Ent.User.Get(ctx, vu); !ent.IsNotFound(err) {
				t.Errorf("get victim user: err = %v, want not found", err)
			}
			if _, err := db.Ent.Project.Get(ctx, vp); !ent.IsNotFound(err) {
				t.Errorf("get victim project: err = %v, want not found", err)
			}
			if _, err := db.Ent.User.UpdateOneID(vu).SetDisplayName("pwned").Save(ctx); !ent.IsNotFound(err) {
				t.Errorf("update victim user: err = %v, want not found", err)
			}
			if n, err := db.Ent.Project.Update().Where(project.TenantID(p.victim)).SetName("pwned").Save(ctx); err != nil || n != 0 {
				t.Errorf("bulk update victim projects: n = %d, err = %v", n, err)
			}
			if err := db.Ent.Project.DeleteOneID(vp).Exec(ctx); !ent.IsNotFound(err) {
				t.Errorf("delete victim project: err = %v, want not found", err)
			}
			if n, err := db.Ent.User.Delete().Where(user.ID(vu)).Exec(ctx); err != nil || n != 0 {
				t.Errorf("bulk delete victim user: n = %d, err = %v", n, err)
			}
			// Insert into the victim's tenant: the hook refuses; the raw
			// statement through the driver is refused by the policy.
			if _, err := db.Ent.User.Create().SetTenantID(p.victim).SetEmail("x@evil.example").Save(ctx); !errors.Is(err, tenant.ErrTenantMismatch) {
				t.Errorf("create in victim tenant: err = %v, want ErrTenantMismatch", err)
			}
			err := rawDriver(db).Exec(ctx, `INSERT INTO users (id, tenant_id, email, display_name, role, created_at, updated_at)
				VALUES ($1, $2, 'x@evil.example', '', 'member', now(), now())`, []any{uuid.New(), p.victim}, nil)
			if err == nil {
				t.Errorf("raw insert into victim tenant succeeded")
			}
			// A project of the attacker owned by the victim's user.
			if _, err := db.Ent.Project.Create().SetName("x").SetOwnerID(vu).Save(ctx); err == nil {
				t.Errorf("project owned by another tenant's user was created")
			}

			if got := w.ownerText(t, `SELECT display_name FROM users WHERE id = $1`, vu); got != "seed" {
				t.Errorf("victim user changed: display_name = %q", got)
			}
			if got := w.ownerText(t, `SELECT name FROM projects WHERE id = $1`, vp); got == "pwned" {
				t.Errorf("victim project changed: %q", got)
			}
			if got := w.ownerText(t, `SELECT count(*)::text FROM users WHERE email = 'x@evil.example'`); got != "0" {
				t.Errorf("%s attacker rows were inserted", got)
			}
		})
	}
}

// TestEntOwnTenantWorks makes sure the attacks above fail for the right
// reason: the same calls on one's own (or a subsidiary's) rows succeed.
func TestEntOwnTenantWorks(t *testing.T) {
	w := newWorld(t)
	db := w.openDB(t, database.Options{})
	ctx := in(w.A, tenant.RoleTenantAdmin)
	if _, err := db.Ent.User.UpdateOneID(w.user[w.A1]).SetDisplayName("renamed").Save(ctx); err != nil {
		t.Fatalf("parent updating its subsidiary's user: %v", err)
	}
	u, err := db.Ent.User.Create().SetEmail("new@a.example").Save(ctx)
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	if u.TenantID != w.A {
		t.Fatalf("user stamped with %s, want %s", u.TenantID, w.A)
	}
	p, err := db.Ent.Project.Create().SetName("p").SetOwnerID(u.ID).Save(ctx)
	if err != nil {
		t.Fatalf("create project: %v", err)
	}
	if err := db.Ent.Project.DeleteOneID(p.ID).Exec(ctx); err != nil {
		t.Fatalf("delete own project: %v", err)
	}
	// Composite FK: a parent cannot make its user own a subsidiary's project
	// nor the reverse, even though it sees both rows.
	if _, err := db.Ent.Project.Create().SetName("x").SetOwnerID(w.user[w.A1]).Save(ctx); err == nil {
		t.Fatalf("project of A owned by a user of A1 was created")
	}
}

func TestEntNoTenant(t *testing.T) {
	w := newWorld(t)
	db := w.openDB(t, database.Options{})
	for _, role := range []tenant.Role{tenant.RoleMember, tenant.RolePlatformAdmin} {
		ctx := in(uuid.Nil, role)
		n, err := db.Ent.User.Query().Count(ctx)
		if err != nil || n != 0 {
			t.Fatalf("%s without tenant: %d users, err %v; want 0, nil", role, n, err)
		}
		n, err = db.Ent.Project.Query().Count(ctx)
		if err != nil || n != 0 {
			t.Fatalf("%s without tenant: %d projects, err %v; want 0, nil", role, n, err)
		}
		if _, err := db.Ent.User.Create().SetEmail("x@y.example").Save(ctx); !errors.Is(err, tenant.ErrNoTenant) {
			t.Fatalf("create without tenant: %v, want ErrNoTenant", err)
		}
		err = rawDriver(db).Exec(ctx, `INSERT INTO users (id, tenant_id, email, display_name, role, created_at, updated_at)
			VALUES ($1, $2, 'x@y.example', '', 'member', now(), now())`, []any{uuid.New(), w.A}, nil)
		if err == nil {
			t.Fatalf("raw insert without tenant succeeded")
		}
		if n, err := db.Ent.User.Update().SetDisplayName("x").Save(ctx); err != nil || n != 0 {
			t.Fatalf("update without tenant: n = %d, err = %v", n, err)
		}
	}
}

func TestDriverRefusesWithoutContext(t *testing.T) {
	w := newWorld(t)
	db := w.openDB(t, database.Options{})
	ctx := context.Background()
	if _, err := db.Ent.User.Query().All(ctx); !errors.Is(err, tenant.ErrNoContext) {
		t.Fatalf("query without context: %v", err)
	}
	if _, err := db.Ent.Tx(ctx); !errors.Is(err, tenant.ErrNoContext) {
		t.Fatalf("tx without context: %v", err)
	}
	if _, err := db.Ent.BeginTx(ctx, nil); !errors.Is(err, tenant.ErrNoContext) {
		t.Fatalf("BeginTx without context: %v", err)
	}
	if err := rawDriver(db).Exec(ctx, `SELECT 1`, []any{}, nil); !errors.Is(err, tenant.ErrNoContext) {
		t.Fatalf("exec without context: %v", err)
	}
}

// rawDriver is a second tenant driver over db's pool, for raw statements.
func rawDriver(db *database.DB) dialect.Driver {
	return tenant.NewDriver(db.SQL, tenant.DriverOptions{})
}

// TestDriverSettings checks what a transaction runs as: the settings of the
// context, the restricted role, READ ONLY for read-only contexts, through
// both Tx and BeginTx (which the generated client.BeginTx needs).
func TestDriverSettings(t *testing.T) {
	w := newWorld(t)
	db := w.openDB(t, database.Options{})
	drv := rawDriver(db).(*tenant.Driver)
	tc := tenant.Context{TenantID: w.A1, UserID: "alice", Role: tenant.RoleMember, ReadOnly: true}
	ctx := tenant.With(context.Background(), tc)
	for name, begin := range map[string]func() (dialect.Tx, error){
		"Tx":      func() (dialect.Tx, error) { return drv.Tx(ctx) },
		"BeginTx": func() (dialect.Tx, error) { return drv.BeginTx(ctx, nil) },
	} {
		tx, err := begin()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() { _ = tx.Rollback() }) // before the pool closes
		got := settings(t, ctx, tx)
		want := [5]string{"mtdb_app", w.A1.String(), "alice", "member", "on"}
		if got != want {
			t.Fatalf("%s: settings %v, want %v", name, got, want)
		}
		_ = tx.Rollback()
	}
	for name, begin := range map[string]func() (*ent.Tx, error){
		"client.Tx":      func() (*ent.Tx, error) { return db.Ent.Tx(ctx) },
		"client.BeginTx": func() (*ent.Tx, error) { return db.Ent.BeginTx(ctx, nil) },
	} {
		tx, err := begin()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() { _ = tx.Rollback() })
		if n, err := tx.User.Query().Count(ctx); err != nil || n != 1 {
			t.Fatalf("%s: %d users visible in A1, err %v", name, n, err)
		}
		if _, err := tx.User.Create().SetEmail("ro@a1.example").Save(ctx); err == nil {
			t.Fatalf("%s: write in a read-only transaction succeeded", name)
		}
		_ = tx.Rollback()
	}
	rw := tenant.With(context.Background(), tenant.Context{TenantID: w.A1, Role: tenant.RoleTenantAdmin})
	err := database.WithTx(rw, db.Ent, func(tx *ent.Tx) error {
		_, err := tx.User.Create().SetEmail("rw@a1.example").Save(rw)
		return err
	})
	if err != nil {
		t.Fatalf("WithTx: %v", err)
	}
	boom := errors.New("boom")
	err = database.WithTx(rw, db.Ent, func(tx *ent.Tx) error {
		if _, err := tx.User.Create().SetEmail("rolledback@a1.example").Save(rw); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WithTx returned %v, want boom", err)
	}
	if got := w.ownerText(t, `SELECT string_agg(email, ',' ORDER BY email) FROM users WHERE tenant_id = $1`, w.A1); got != "rw@a1.example,user@a1.example" {
		t.Fatalf("A1 users after WithTx = %s", got)
	}
}

// settings reads what the transaction runs as.
func settings(t *testing.T, ctx context.Context, q dialect.ExecQuerier) [5]string {
	t.Helper()
	var rows entsql.Rows
	if err := q.Query(ctx, `SELECT current_user::text, current_setting('app.tenant_id'),
		current_setting('app.user_id'), current_setting('app.role'), current_setting('transaction_read_only')`, []any{}, &rows); err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got [5]string
	if !rows.Next() {
		t.Fatalf("no row: %v", rows.Err())
	}
	if err := rows.Scan(&got[0], &got[1], &got[2], &got[3], &got[4]); err != nil {
		t.Fatal(err)
	}
	return got
}
