package seed_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/pgtest"
	"github.com/mtdb/mtdb/internal/projects"
	"github.com/mtdb/mtdb/internal/seed"
	"github.com/mtdb/mtdb/internal/tenant"
	"github.com/mtdb/mtdb/internal/tenants"
	"github.com/mtdb/mtdb/internal/users"
)

func TestDemoIsIdempotentAndIsolated(t *testing.T) {
	db := pgtest.New(t)
	d, err := database.Open(context.Background(), database.Options{URL: db.AppURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	ctx := context.Background()

	first, err := seed.Demo(ctx, d.Ent)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Created {
		t.Fatal("first run created nothing")
	}
	second, err := seed.Demo(ctx, d.Ent)
	if err != nil {
		t.Fatal(err)
	}
	if second.Created || *second != (seed.Result{Organisation: first.Organisation, Subsidiary: first.Subsidiary, Other: first.Other}) {
		t.Fatalf("second run differs: %+v vs %+v", second, first)
	}
	for _, tn := range []seed.Tenant{first.Organisation, first.Subsidiary, first.Other} {
		if tn.ID == uuid.Nil || tn.AdminID == uuid.Nil || tn.AdminEmail == "" {
			t.Fatalf("incomplete %+v", tn)
		}
	}

	as := func(id uuid.UUID) context.Context {
		return tenant.With(ctx, tenant.Context{TenantID: id, Role: tenant.RoleMember})
	}
	platform := tenant.With(ctx, tenant.Context{Role: tenant.RolePlatformAdmin})
	res, err := tenants.NewService(d.Ent).List(platform, tenants.ListParams{Page: database.Page{Limit: 100}})
	if err != nil || *res.Total != 3 {
		t.Fatalf("tenants: %+v %v", res, err)
	}
	h, _, err := tenants.NewService(d.Ent).Hierarchy(as(first.Organisation.ID), first.Organisation.ID, database.Page{Limit: 1000})
	if err != nil || len(h) != 2 || h[1].ID != first.Subsidiary.ID {
		t.Fatalf("hierarchy: %v %v", h, err)
	}
	count := func(id uuid.UUID) (int, int) {
		nu, err := users.NewService(d.Ent).List(as(id), users.ListParams{Page: database.Page{Limit: 100}})
		if err != nil {
			t.Fatal(err)
		}
		np, err := projects.NewService(d.Ent).List(as(id), projects.ListParams{Page: database.Page{Limit: 100}})
		if err != nil {
			t.Fatal(err)
		}
		return *nu.Total, *np.Total
	}
	// The organisation sees its subsidiary's rows too; the other sees only its own.
	for _, c := range []struct {
		id                   uuid.UUID
		wantUsers, wantProjs int
	}{
		{first.Organisation.ID, 4, 3},
		{first.Subsidiary.ID, 2, 1},
		{first.Other.ID, 2, 1},
	} {
		if nu, np := count(c.id); nu != c.wantUsers || np != c.wantProjs {
			t.Fatalf("tenant %v: %d users, %d projects; want %d, %d", c.id, nu, np, c.wantUsers, c.wantProjs)
		}
	}
}
