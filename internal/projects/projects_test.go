package projects_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/projects"
	"github.com/mtdb/mtdb/internal/servicetest"
	"github.com/mtdb/mtdb/internal/tenant"
	"github.com/mtdb/mtdb/internal/tenants"
	"github.com/mtdb/mtdb/internal/users"
)

// world: organisation A (subsidiary A1) and organisation B, one user each.
type world struct {
	svc                     *projects.Service
	A, A1, B                uuid.UUID
	userA, userA1, userB    *ent.User
	adminA, adminA1, adminB context.Context
	memberA, platform       context.Context
}

func newWorld(t *testing.T) *world {
	t.Helper()
	d := servicetest.Open(t)
	ts, us := tenants.NewService(d.Ent), users.NewService(d.Ent)
	w := &world{svc: projects.NewService(d.Ent), platform: servicetest.As(tenant.RolePlatformAdmin, uuid.Nil)}
	mk := func(name, typ string, parent *uuid.UUID) uuid.UUID {
		tn, err := ts.Create(w.platform, tenants.CreateInput{Name: name, Type: typ, ParentID: parent})
		if err != nil {
			t.Fatal(err)
		}
		return tn.ID
	}
	w.A = mk("Acme", "parent", nil)
	w.A1 = mk("Acme Labs", "subsidiary", &w.A)
	w.B = mk("Globex", "parent", nil)
	w.adminA, w.adminA1, w.adminB = servicetest.As(tenant.RoleTenantAdmin, w.A), servicetest.As(tenant.RoleTenantAdmin, w.A1), servicetest.As(tenant.RoleTenantAdmin, w.B)
	w.memberA = servicetest.As(tenant.RoleMember, w.A)
	mu := func(ctx context.Context, email string) *ent.User {
		u, err := us.Create(ctx, users.CreateInput{Email: email, DisplayName: "U"})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	w.userA, w.userA1, w.userB = mu(w.adminA, "a@example.com"), mu(w.adminA1, "a1@example.com"), mu(w.adminB, "b@example.com")
	return w
}

// clientView is what a client can see of an error.
func clientView(err error) errs.Error {
	e, _ := err.(*errs.Error)
	if e == nil {
		return errs.Error{Message: "not an *errs.Error: " + err.Error()}
	}
	return errs.Error{Kind: e.Kind, Message: e.Message, Fields: e.Fields}
}

func TestCreate(t *testing.T) {
	w := newWorld(t)
	p, err := w.svc.Create(w.adminA, projects.CreateInput{Name: "  Website  ", Description: "new site", OwnerID: w.userA.ID})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "Website" || p.TenantID != w.A || p.OwnerID != w.userA.ID || p.Description != "new site" {
		t.Fatalf("got %+v", p)
	}

	t.Run("owner in another tenant answers exactly like a random id", func(t *testing.T) {
		_, errRandom := w.svc.Create(w.adminA, projects.CreateInput{Name: "X", OwnerID: uuid.New()})
		servicetest.WantField(t, errRandom, "owner_id")
		_, errOther := w.svc.Create(w.adminA, projects.CreateInput{Name: "X", OwnerID: w.userB.ID})
		_, errSub := w.svc.Create(w.adminA, projects.CreateInput{Name: "X", OwnerID: w.userA1.ID})
		for name, err := range map[string]error{"other organisation": errOther, "own subsidiary": errSub} {
			if got, want := clientView(err), clientView(errRandom); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: %+v, random: %+v", name, got, want)
			}
		}
	})
	cases := []struct {
		name  string
		ctx   context.Context
		in    projects.CreateInput
		kind  errs.Kind
		field string
	}{
		{"member is forbidden", w.memberA, projects.CreateInput{Name: "X", OwnerID: w.userA.ID}, errs.KindForbidden, ""},
		{"blank name", w.adminA, projects.CreateInput{Name: " \t", OwnerID: w.userA.ID}, errs.KindInvalid, "name"},
		{"name of 201 characters", w.adminA, projects.CreateInput{Name: strings.Repeat("ü", 201), OwnerID: w.userA.ID}, errs.KindInvalid, "name"},
		{"missing owner", w.adminA, projects.CreateInput{Name: "X"}, errs.KindInvalid, "owner_id"},
		{"no tenant selected", w.platform, projects.CreateInput{Name: "X", OwnerID: w.userA.ID}, errs.KindInvalid, "tenant"},
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
	t.Run("platform_admin acting in a tenant", func(t *testing.T) {
		p, err := w.svc.Create(servicetest.As(tenant.RolePlatformAdmin, w.B), projects.CreateInput{Name: strings.Repeat("ü", 200), OwnerID: w.userB.ID})
		if err != nil || p.TenantID != w.B {
			t.Fatalf("%+v %v", p, err)
		}
	})
}

func TestIsolation(t *testing.T) {
	w := newWorld(t)
	pa, err := w.svc.Create(w.adminA, projects.CreateInput{Name: "A project", OwnerID: w.userA.ID})
	if err != nil {
		t.Fatal(err)
	}
	pa1, err := w.svc.Create(w.adminA1, projects.CreateInput{Name: "A1 project", OwnerID: w.userA1.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Create(w.adminB, projects.CreateInput{Name: "B project", OwnerID: w.userB.ID}); err != nil {
		t.Fatal(err)
	}
	names := func(ctx context.Context, p projects.ListParams) string {
		t.Helper()
		if p.Page.Limit == 0 {
			p.Page.Limit = 100
		}
		res, err := w.svc.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, x := range res.Items {
			out = append(out, x.Name)
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		ctx  context.Context
		p    projects.ListParams
		want string
	}{
		{w.memberA, projects.ListParams{}, "A project,A1 project"},
		{w.adminA1, projects.ListParams{}, "A1 project"},
		{w.adminB, projects.ListParams{}, "B project"},
		{w.platform, projects.ListParams{}, ""},
		{w.memberA, projects.ListParams{OwnerID: &w.userA1.ID}, "A1 project"},
		{w.memberA, projects.ListParams{Page: database.Page{Offset: 1}}, "A1 project"},
	} {
		if got := names(c.ctx, c.p); got != c.want {
			t.Fatalf("list %+v: got %q, want %q", c.p, got, c.want)
		}
	}

	// B attacks A's project with every call.
	_, err = w.svc.Get(w.adminB, pa.ID)
	servicetest.WantKind(t, err, errs.KindNotFound)
	_, err = w.svc.Update(w.adminB, pa.ID, projects.UpdateInput{Name: servicetest.Ptr("pwned")})
	servicetest.WantKind(t, err, errs.KindNotFound)
	_, err = w.svc.Update(w.adminB, pa.ID, projects.UpdateInput{OwnerID: &w.userB.ID})
	servicetest.WantKind(t, err, errs.KindNotFound)
	servicetest.WantKind(t, w.svc.Delete(w.adminB, pa.ID), errs.KindNotFound)
	servicetest.WantKind(t, w.svc.Delete(w.adminA1, pa.ID), errs.KindNotFound)
	servicetest.WantKind(t, w.svc.Delete(w.memberA, pa.ID), errs.KindForbidden)
	got, err := w.svc.Get(w.adminA, pa.ID)
	if err != nil || got.Name != "A project" || got.OwnerID != w.userA.ID {
		t.Fatalf("victim changed: %+v %v", got, err)
	}

	t.Run("moving a project to an owner outside its tenant", func(t *testing.T) {
		// A's admin edits A1's project: the owner must be of A1, not of A.
		_, err := w.svc.Update(w.adminA, pa1.ID, projects.UpdateInput{OwnerID: &w.userA.ID})
		servicetest.WantField(t, err, "owner_id")
		_, errRandom := w.svc.Update(w.adminA, pa1.ID, projects.UpdateInput{OwnerID: servicetest.Ptr(uuid.New())})
		if !reflect.DeepEqual(clientView(err), clientView(errRandom)) {
			t.Fatalf("%+v vs %+v", clientView(err), clientView(errRandom))
		}
		p, err := w.svc.Update(w.adminA, pa1.ID, projects.UpdateInput{Name: servicetest.Ptr("Renamed"), Description: servicetest.Ptr("d")})
		if err != nil || p.Name != "Renamed" || p.Description != "d" || p.OwnerID != w.userA1.ID {
			t.Fatalf("%+v %v", p, err)
		}
	})
	if err := w.svc.Delete(w.adminA, pa.ID); err != nil {
		t.Fatal(err)
	}
	_, err = w.svc.Get(w.adminA, pa.ID)
	servicetest.WantKind(t, err, errs.KindNotFound)
}
