package tenant_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/pgtest"
	"github.com/mtdb/mtdb/internal/tenant"
)

// TestPoolHygiene hammers a pool of two connections with 32 goroutines
// acting for 8 tenants: reads outside and inside explicit transactions,
// writes, and transactions that fail and roll back. Every row any
// transaction sees must belong to its tenant's visible set, and a connection
// used without a tenant context must carry no tenant and run as the login
// role: nothing survives a transaction on a pooled connection.
func TestPoolHygiene(t *testing.T) {
	w := newWorld(t)
	db := w.openDB(t, database.Options{MaxConns: 2})
	tenants := w.live()
	const goroutines, rounds = 32, 150
	var (
		wg     sync.WaitGroup
		failed atomic.Bool
		txs    atomic.Int64
	)
	fail := func(format string, args ...any) {
		if failed.CompareAndSwap(false, true) {
			t.Errorf(format, args...)
		}
	}
	errBoom := errors.New("boom")
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tid := tenants[g%len(tenants)]
			visible := w.visible(tid)
			role := []tenant.Role{tenant.RoleMember, tenant.RoleTenantAdmin, tenant.RolePlatformAdmin}[g%3]
			ctx := tenant.With(context.Background(), tenant.Context{TenantID: tid, UserID: fmt.Sprint(g), Role: role, ReadOnly: g%2 == 0})
			rw := tenant.With(context.Background(), tenant.Context{TenantID: tid, UserID: fmt.Sprint(g), Role: role})
			for i := 0; i < rounds && !failed.Load(); i++ {
				var err error
				switch i % 5 {
				case 0: // implicit transaction
					var users []*ent.User
					users, err = db.Ent.User.Query().All(ctx)
					if err == nil && !sameTenants(users, visible) {
						fail("tenant %s saw users of %v", tid, tenantsOf(users))
					}
				case 1: // explicit read transaction
					err = database.WithTx(ctx, db.Ent, func(tx *ent.Tx) error {
						ps, err := tx.Project.Query().All(ctx)
						for _, p := range ps {
							if !visible[p.TenantID] {
								fail("tenant %s saw a project of %s", tid, p.TenantID)
							}
						}
						return err
					})
				case 2: // write, then remove it again
					err = database.WithTx(rw, db.Ent, func(tx *ent.Tx) error {
						p, err := tx.Project.Create().SetName("load").SetOwnerID(w.user[tid]).Save(rw)
						if err != nil {
							return err
						}
						if p.TenantID != tid {
							fail("project created in %s stamped %s", tid, p.TenantID)
						}
						return tx.Project.DeleteOneID(p.ID).Exec(rw)
					})
				case 3: // a transaction that fails and rolls back
					err = database.WithTx(rw, db.Ent, func(tx *ent.Tx) error {
						if _, err := tx.User.Query().Count(rw); err != nil {
							return err
						}
						return errBoom
					})
					if errors.Is(err, errBoom) {
						err = nil
					}
				case 4: // a bare connection: no tenant, login role
					var setting, user string
					err = db.SQL.QueryRowContext(context.Background(),
						`SELECT coalesce(current_setting('app.tenant_id', true), ''), current_user::text`).Scan(&setting, &user)
					if err == nil && (setting != "" || user != pgtest.TesterRole) {
						fail("bare connection carries tenant %q as %s", setting, user)
					}
				}
				if err != nil {
					fail("goroutine %d round %d: %v", g, i, err)
				}
				txs.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() {
		return
	}
	// Every connection, checked directly on the pgx pool.
	conns := db.Pool.AcquireAllIdle(context.Background())
	for _, c := range conns {
		var setting, user string
		if err := c.QueryRow(context.Background(),
			`SELECT coalesce(current_setting('app.tenant_id', true), ''), current_user::text`).Scan(&setting, &user); err != nil {
			t.Fatal(err)
		}
		if setting != "" || user != pgtest.TesterRole {
			t.Errorf("pooled connection carries tenant %q as %s", setting, user)
		}
		c.Release()
	}
	if n := w.ownerText(t, `SELECT count(*)::text FROM projects WHERE name = 'load'`); n != "0" {
		t.Errorf("%s load projects left behind", n)
	}
	t.Logf("%d operations on %d pooled connections", txs.Load(), len(conns))
}

func sameTenants(users []*ent.User, want map[uuid.UUID]bool) bool {
	got := map[uuid.UUID]bool{}
	for _, u := range users {
		if !want[u.TenantID] {
			return false
		}
		got[u.TenantID] = true
	}
	return len(got) == len(want)
}

func tenantsOf(users []*ent.User) []uuid.UUID {
	var out []uuid.UUID
	for _, u := range users {
		out = append(out, u.TenantID)
	}
	return out
}
