package tenants_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/servicetest"
	"github.com/mtdb/mtdb/internal/tenant"
	"github.com/mtdb/mtdb/internal/tenants"
)

// world is a small hierarchy: organisations A (subsidiaries A1, A2) and B,
// created through the service as the API would.
type world struct {
	svc        *tenants.Service
	A, A1, A2  *ent.Tenant
	B          *ent.Tenant
	platform   context.Context
	adminA     context.Context
	adminA1    context.Context
	adminB     context.Context
	memberA    context.Context
	superadmin context.Context // platform_admin acting in tenant A
}

func newWorld(t *testing.T) *world {
	t.Helper()
	d := servicetest.Open(t)
	w := &world{svc: tenants.NewService(d.Ent), platform: servicetest.As(tenant.RolePlatformAdmin, uuid.Nil)}
	w.A = mustCreate(t, w.svc, w.platform, tenants.CreateInput{Name: "Acme", Type: "parent"})
	w.B = mustCreate(t, w.svc, w.platform, tenants.CreateInput{Name: "Globex", Type: "parent"})
	w.adminA = servicetest.As(tenant.RoleTenantAdmin, w.A.ID)
	w.adminB = servicetest.As(tenant.RoleTenantAdmin, w.B.ID)
	w.memberA = servicetest.As(tenant.RoleMember, w.A.ID)
	w.superadmin = servicetest.As(tenant.RolePlatformAdmin, w.A.ID)
	// A2 is created before A1 so that "by name" and "by creation" differ.
	w.A2 = mustCreate(t, w.svc, w.adminA, tenants.CreateInput{Name: "Zeta Labs", Type: "subsidiary"})
	w.A1 = mustCreate(t, w.svc, w.platform, tenants.CreateInput{Name: "Alpha Labs", Type: "subsidiary", ParentID: &w.A.ID})
	w.adminA1 = servicetest.As(tenant.RoleTenantAdmin, w.A1.ID)
	return w
}

func mustCreate(t *testing.T, svc *tenants.Service, ctx context.Context, in tenants.CreateInput) *ent.Tenant {
	t.Helper()
	tn, err := svc.Create(ctx, in)
	if err != nil {
		t.Fatalf("create %q: %v", in.Name, err)
	}
	return tn
}

func TestCreateRules(t *testing.T) {
	w := newWorld(t)
	random := uuid.New()
	cases := []struct {
		name  string
		ctx   context.Context
		in    tenants.CreateInput
		kind  errs.Kind
		field string
	}{
		{"member cannot create", w.memberA, tenants.CreateInput{Name: "x", Type: "subsidiary"}, errs.KindForbidden, ""},
		{"tenant_admin cannot create a parent", w.adminA, tenants.CreateInput{Name: "x", Type: "parent"}, errs.KindForbidden, ""},
		{"tenant_admin of a subsidiary cannot create", w.adminA1, tenants.CreateInput{Name: "x", Type: "subsidiary"}, errs.KindForbidden, ""},
		{"parent given for a parent", w.platform, tenants.CreateInput{Name: "x", Type: "parent", ParentID: &w.A.ID}, errs.KindInvalid, "parent_tenant_id"},
		{"parent missing for a subsidiary", w.platform, tenants.CreateInput{Name: "x", Type: "subsidiary"}, errs.KindInvalid, "parent_tenant_id"},
		{"unknown tenant_type", w.platform, tenants.CreateInput{Name: "x", Type: "branch"}, errs.KindInvalid, "tenant_type"},
		{"missing tenant_type", w.platform, tenants.CreateInput{Name: "x"}, errs.KindInvalid, "tenant_type"},
		{"blank name", w.platform, tenants.CreateInput{Name: "   ", Type: "parent"}, errs.KindInvalid, "name"},
		{"name of 201 characters", w.platform, tenants.CreateInput{Name: strings.Repeat("é", 201), Type: "parent"}, errs.KindInvalid, "name"},
		{"parent of another organisation is not visible", w.adminB, tenants.CreateInput{Name: "x", Type: "subsidiary", ParentID: &w.A.ID}, errs.KindNotFound, ""},
		{"random parent", w.platform, tenants.CreateInput{Name: "x", Type: "subsidiary", ParentID: &random}, errs.KindNotFound, ""},
		{"parent is a subsidiary", w.platform, tenants.CreateInput{Name: "x", Type: "subsidiary", ParentID: &w.A1.ID}, errs.KindInvalid, "parent_tenant_id"},
		{"tenant_admin naming its subsidiary as parent", w.adminA, tenants.CreateInput{Name: "x", Type: "subsidiary", ParentID: &w.A1.ID}, errs.KindInvalid, "parent_tenant_id"},
		{"duplicate sibling name ignoring case", w.adminA, tenants.CreateInput{Name: " alpha LABS ", Type: "subsidiary"}, errs.KindConflict, ""},
		{"duplicate parent name ignoring case", w.platform, tenants.CreateInput{Name: "GLOBEX", Type: "parent"}, errs.KindConflict, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.svc.Create(tc.ctx, tc.in)
			if tc.field != "" {
				servicetest.WantField(t, err, tc.field)
				return
			}
			servicetest.WantKind(t, err, tc.kind)
		})
	}

	t.Run("name trimmed, 200 characters accepted, metadata defaults to {}", func(t *testing.T) {
		name := strings.Repeat("é", 200)
		got := mustCreate(t, w.svc, w.platform, tenants.CreateInput{Name: "  " + name + " ", Type: "parent"})
		if got.Name != name || got.Metadata == nil || len(got.Metadata) != 0 || got.ParentTenantID != nil {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("same name under another parent is fine", func(t *testing.T) {
		got := mustCreate(t, w.svc, w.adminB, tenants.CreateInput{Name: "Alpha Labs", Type: "subsidiary"})
		if got.ParentTenantID == nil || *got.ParentTenantID != w.B.ID {
			t.Fatalf("parent = %v, want %v", got.ParentTenantID, w.B.ID)
		}
	})
	t.Run("underscore and percent are not wildcards", func(t *testing.T) {
		mustCreate(t, w.svc, w.adminA, tenants.CreateInput{Name: "Team_1%", Type: "subsidiary"})
		mustCreate(t, w.svc, w.adminA, tenants.CreateInput{Name: "TeamX1 and more", Type: "subsidiary"})
	})
	t.Run("a deleted sibling's name is free again", func(t *testing.T) {
		tmp := mustCreate(t, w.svc, w.adminA, tenants.CreateInput{Name: "Temp", Type: "subsidiary"})
		if err := w.svc.Delete(w.adminA, tmp.ID); err != nil {
			t.Fatal(err)
		}
		mustCreate(t, w.svc, w.adminA, tenants.CreateInput{Name: "temp", Type: "subsidiary"})
	})
}

func TestVisibility(t *testing.T) {
	w := newWorld(t)
	ids := func(ts []*ent.Tenant) []uuid.UUID {
		var out []uuid.UUID
		for _, x := range ts {
			out = append(out, x.ID)
		}
		return out
	}
	list := func(ctx context.Context, p tenants.ListParams) ([]uuid.UUID, int) {
		t.Helper()
		if p.Page.Limit == 0 {
			p.Page.Limit = 100
		}
		res, err := w.svc.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return ids(res.Items), *res.Total
	}
	eq := func(got, want []uuid.UUID) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("got %v, want %v", got, want)
			}
		}
	}
	got, total := list(w.adminA, tenants.ListParams{})
	eq(got, []uuid.UUID{w.A.ID, w.A2.ID, w.A1.ID}) // by created_at
	if total != 3 {
		t.Fatalf("total %d", total)
	}
	got, _ = list(w.adminB, tenants.ListParams{})
	eq(got, []uuid.UUID{w.B.ID})
	got, _ = list(w.adminA1, tenants.ListParams{})
	eq(got, []uuid.UUID{w.A1.ID})
	got, total = list(w.platform, tenants.ListParams{Type: "parent"})
	eq(got, []uuid.UUID{w.A.ID, w.B.ID})
	if total != 2 {
		t.Fatalf("total %d parents, want 2", total)
	}
	got, total = list(w.platform, tenants.ListParams{Page: database.Page{Limit: 2, Offset: 1}})
	eq(got, []uuid.UUID{w.B.ID, w.A2.ID})
	if total != 4 {
		t.Fatalf("total %d, want 4", total)
	}
	if _, err := w.svc.List(w.platform, tenants.ListParams{Type: "bogus", Page: database.Page{Limit: 10}}); err == nil {
		t.Fatal("bogus tenant_type accepted")
	}

	if _, err := w.svc.Get(w.adminB, w.A.ID); errs.KindOf(err) != errs.KindNotFound {
		t.Fatalf("B reading A: %v", err)
	}
	if _, err := w.svc.Get(w.adminA1, w.A2.ID); errs.KindOf(err) != errs.KindNotFound {
		t.Fatalf("A1 reading its sibling: %v", err)
	}
	if _, err := w.svc.Get(w.memberA, w.A1.ID); err != nil {
		t.Fatalf("member of A reading A1: %v", err)
	}

	h, _, err := w.svc.Hierarchy(w.memberA, w.A.ID, all)
	if err != nil {
		t.Fatal(err)
	}
	eq(ids(h), []uuid.UUID{w.A.ID, w.A1.ID, w.A2.ID}) // the tenant, then by name
	h, _, err = w.svc.Hierarchy(w.adminA1, w.A1.ID, all)
	if err != nil {
		t.Fatal(err)
	}
	eq(ids(h), []uuid.UUID{w.A1.ID})
	if _, _, err := w.svc.Hierarchy(w.adminB, w.A.ID, all); errs.KindOf(err) != errs.KindNotFound {
		t.Fatalf("B's hierarchy of A: %v", err)
	}
}

// all is a hierarchy page large enough for every test organisation.
var all = database.Page{Limit: 1000}
