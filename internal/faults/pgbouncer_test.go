package faults_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mtdb/mtdb/internal/faults"
	"github.com/mtdb/mtdb/internal/pgtest"
	"github.com/mtdb/mtdb/internal/tenant"
)

type row struct {
	ID       string    `json:"id"`
	TenantID uuid.UUID `json:"tenant_id"`
}

// The service connected through PgBouncer in transaction mode, with far
// fewer server connections than client connections so that tenants share
// them: isolation holds under concurrency (each tenant sees exactly its
// rows and its subsidiaries', never another organisation's, and writes land
// in the caller's tenant), and no setting survives on a pooled server
// connection.
func TestPgBouncerTransactionMode(t *testing.T) {
	long(t)
	if _, err := faults.PgBouncerBinary(); err != nil {
		t.Fatalf("%v: install Debian's pgbouncer package (.ci/run does)", err)
	}
	ctx := context.Background()
	pg := pgtest.New(t)
	b, err := faults.StartPgBouncer(ctx, faults.PgBouncerOptions{
		Dir: t.TempDir(), Server: serverAddr(t, pg.AppURL), PoolSize: 2,
		Users: map[string]string{pgtest.TesterRole: "mtdb_tester"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	// PgBouncer < 1.21 does not track prepared statements: pgx must not
	// cache named ones (docs/operations.md).
	url := withHost(t, pg.AppURL, b.Addr, "default_query_exec_mode", "exec")
	svc := startService(t, url, map[string]string{"DATABASE_MAX_CONNS": "8"})

	a, bb := newTenant(t, svc, "acme"), newTenant(t, svc, "globex")
	var sub struct {
		TenantID uuid.UUID `json:"tenant_id"`
	}
	svc.do(a.Admin, "POST", "/api/v1/tenants", map[string]any{"name": "acme-sub", "tenant_type": "subsidiary"}).must(t, 201, &sub)
	a1 := tenantFixture{ID: sub.TenantID, Admin: token(t, tenant.RoleTenantAdmin, sub.TenantID)}
	var u row
	svc.do(a1.Admin, "POST", "/api/v1/users", map[string]any{"email": "owner@acme-sub.example", "display_name": "Owner"}).must(t, 201, &u)
	a1.Owner = u.ID

	actors := []struct {
		name    string
		fx      tenantFixture
		visible map[uuid.UUID]bool
	}{
		{"acme", a, map[uuid.UUID]bool{a.ID: true, a1.ID: true}},
		{"acme-sub", a1, map[uuid.UUID]bool{a1.ID: true}},
		{"globex", bb, map[uuid.UUID]bool{bb.ID: true}},
	}
	owners := []string{a.Owner, a1.Owner, bb.Owner}

	var wg sync.WaitGroup
	var mu sync.Mutex
	requests := 0
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				k := rand.IntN(len(actors))
				act := actors[k]
				var got row
				r := svc.do(act.fx.Admin, "POST", "/api/v1/projects", map[string]any{
					"name": fmt.Sprintf("%s-%d-%d", act.name, w, i), "description": "", "owner_id": act.fx.Owner})
				if r.Status != 201 {
					t.Errorf("%s: create project: %d %s", act.name, r.Status, r.Body)
					return
				}
				if err := json.Unmarshal(r.Body, &got); err != nil || got.TenantID != act.fx.ID {
					t.Errorf("%s: project created in tenant %s", act.name, got.TenantID)
				}
				for _, path := range []string{"/api/v1/users?limit=1000", "/api/v1/projects?limit=1000"} {
					var page struct {
						Users    []row `json:"users"`
						Projects []row `json:"projects"`
					}
					r := svc.do(act.fx.Admin, "GET", path, nil)
					if err := json.Unmarshal(r.Body, &page); r.Status != 200 || err != nil {
						t.Errorf("%s: GET %s: %d %v %s", act.name, path, r.Status, r.Err, r.Body)
						return
					}
					for _, x := range append(page.Users, page.Projects...) {
						if !act.visible[x.TenantID] {
							t.Errorf("%s sees a row of tenant %s (%s)", act.name, x.TenantID, path)
						}
					}
				}
				// Another organisation's owner: as absent as a random id.
				other := owners[(k+1+rand.IntN(2))%3]
				if !(k == 0 && other == a1.Owner) {
					if r := svc.do(act.fx.Admin, "GET", "/api/v1/users/"+other, nil); r.Status != 404 {
						t.Errorf("%s reads a foreign user: %d", act.name, r.Status)
					}
				}
				mu.Lock()
				requests += 4
				mu.Unlock()
			}
		}()
	}
	// Meanwhile, plain sessions through the same PgBouncer must find every
	// server connection clean: login role, no tenant, no role switch.
	conf, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	dirty := 0
	for range 50 {
		conn, err := pgx.ConnectConfig(ctx, conf)
		if err != nil {
			t.Fatal(err)
		}
		var user, tid, role string
		err = conn.QueryRow(ctx, `SELECT current_user, coalesce(current_setting('app.tenant_id', true), ''), current_setting('role')`).Scan(&user, &tid, &role)
		_ = conn.Close(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if user != pgtest.TesterRole || tid != "" || role != "none" {
			dirty++
			t.Errorf("pooled server connection carries state: current_user %s, app.tenant_id %q, role %s", user, tid, role)
		}
	}
	wg.Wait()
	var counts = map[uuid.UUID]int{}
	rows, err := pg.OwnerPool(t).Query(ctx, `SELECT tenant_id, count(*) FROM projects GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id uuid.UUID
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		counts[id] = n
	}
	t.Logf("through PgBouncer (transaction mode, %d server connections, service pool 8): %d isolated requests from 8 workers; %d/50 clean-session checks dirty; projects per tenant %v",
		2, requests, dirty, counts)
}
