package users_test

import (
	"context"
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

// world: organisation A with subsidiary A1, and organisation B.
type world struct {
	svc                     *users.Service
	projects                *projects.Service
	A, A1, B                uuid.UUID
	adminA, adminA1, adminB context.Context
	memberA, platform       context.Context
}

func newWorld(t *testing.T) *world {
	t.Helper()
	d := servicetest.Open(t)
	ts := tenants.NewService(d.Ent)
	w := &world{svc: users.NewService(d.Ent), projects: projects.NewService(d.Ent), platform: servicetest.As(tenant.RolePlatformAdmin, uuid.Nil)}
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
	return w
}

func (w *world) mustUser(t *testing.T, ctx context.Context, email string) *ent.User {
	t.Helper()
	u, err := w.svc.Create(ctx, users.CreateInput{Email: email, DisplayName: "Someone"})
	if err != nil {
		t.Fatalf("create %s: %v", email, err)
	}
	return u
}

func TestCreate(t *testing.T) {
	w := newWorld(t)
	u, err := w.svc.Create(w.adminA, users.CreateInput{Email: "  Ada@Example.COM ", DisplayName: " Ada "})
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "ada@example.com" || u.DisplayName != "Ada" || u.Role != "member" || u.TenantID != w.A {
		t.Fatalf("got %+v", u)
	}
	cases := []struct {
		name  string
		ctx   context.Context
		in    users.CreateInput
		kind  errs.Kind
		field string
	}{
		{"member is forbidden", w.memberA, users.CreateInput{Email: "m@example.com", DisplayName: "M"}, errs.KindForbidden, ""},
		{"duplicate email in same tenant", w.adminA, users.CreateInput{Email: "ADA@example.com", DisplayName: "Other"}, errs.KindConflict, ""},
		{"malformed email", w.adminA, users.CreateInput{Email: "not-an-email", DisplayName: "X"}, errs.KindInvalid, "email"},
		{"email with a display name part", w.adminA, users.CreateInput{Email: "X <x@example.com>", DisplayName: "X"}, errs.KindInvalid, "email"},
		{"empty email", w.adminA, users.CreateInput{DisplayName: "X"}, errs.KindInvalid, "email"},
		{"empty display_name", w.adminA, users.CreateInput{Email: "x@example.com"}, errs.KindInvalid, "display_name"},
		{"display_name of 201 characters", w.adminA, users.CreateInput{Email: "x@example.com", DisplayName: strings.Repeat("ß", 201)}, errs.KindInvalid, "display_name"},
		{"platform_admin role is not a user role", w.adminA, users.CreateInput{Email: "x@example.com", DisplayName: "X", Role: "platform_admin"}, errs.KindInvalid, "role"},
		{"no tenant selected", w.platform, users.CreateInput{Email: "x@example.com", DisplayName: "X"}, errs.KindInvalid, "tenant"},
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
	t.Run("another tenant may reuse the email", func(t *testing.T) {
		other := w.mustUser(t, w.adminB, "ada@example.com")
		if other.TenantID != w.B {
			t.Fatalf("tenant %v, want %v", other.TenantID, w.B)
		}
	})
	t.Run("display_name of 200 characters", func(t *testing.T) {
		if _, err := w.svc.Create(w.adminA, users.CreateInput{Email: "long@example.com", DisplayName: strings.Repeat("ß", 200), Role: "tenant_admin"}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestReadIsolation(t *testing.T) {
	w := newWorld(t)
	a := w.mustUser(t, w.adminA, "a@example.com")
	a1 := w.mustUser(t, w.adminA1, "a1@example.com")
	b := w.mustUser(t, w.adminB, "b@example.com")
	if _, err := w.svc.Create(w.adminA, users.CreateInput{Email: "boss@example.com", DisplayName: "Boss", Role: "tenant_admin"}); err != nil {
		t.Fatal(err)
	}

	emails := func(ctx context.Context, p users.ListParams) []string {
		t.Helper()
		if p.Page.Limit == 0 {
			p.Page.Limit = 100
		}
		res, err := w.svc.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if *res.Total < len(res.Items) {
			t.Fatalf("total %d < %d items", *res.Total, len(res.Items))
		}
		var out []string
		for _, u := range res.Items {
			out = append(out, u.Email)
		}
		return out
	}
	check := func(got []string, want ...string) {
		t.Helper()
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	check(emails(w.memberA, users.ListParams{}), "a@example.com", "a1@example.com", "boss@example.com")
	check(emails(w.adminA1, users.ListParams{}), "a1@example.com")
	check(emails(w.adminB, users.ListParams{}), "b@example.com")
	check(emails(w.platform, users.ListParams{})) // no tenant: no rows
	check(emails(w.memberA, users.ListParams{Role: "tenant_admin"}), "boss@example.com")
	check(emails(w.memberA, users.ListParams{Email: " A1@Example.com"}), "a1@example.com")
	check(emails(w.memberA, users.ListParams{Page: database.Page{Limit: 1, Offset: 1}}), "a1@example.com")
	if _, err := w.svc.List(w.memberA, users.ListParams{Role: "bogus", Page: database.Page{Limit: 10}}); errs.KindOf(err) != errs.KindInvalid {
		t.Fatalf("role=bogus: %v", err)
	}

	if _, err := w.svc.Get(w.memberA, a1.ID); err != nil {
		t.Fatalf("parent reading its subsidiary's user: %v", err)
	}
	for name, c := range map[string]struct {
		ctx context.Context
		id  uuid.UUID
	}{
		"B reads A's user":          {w.adminB, a.ID},
		"A reads B's user":          {w.adminA, b.ID},
		"subsidiary reads parent's": {w.adminA1, a.ID},
		"random id":                 {w.adminA, uuid.New()},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := w.svc.Get(c.ctx, c.id)
			servicetest.WantKind(t, err, errs.KindNotFound)
		})
	}
}

func TestWriteAttacks(t *testing.T) {
	w := newWorld(t)
	victim := w.mustUser(t, w.adminA, "victim@example.com")
	w.mustUser(t, w.adminB, "taken@example.com")

	_, err := w.svc.Update(w.adminB, victim.ID, users.UpdateInput{Role: servicetest.Ptr("tenant_admin")})
	servicetest.WantKind(t, err, errs.KindNotFound)
	servicetest.WantKind(t, w.svc.Delete(w.adminB, victim.ID), errs.KindNotFound)
	servicetest.WantKind(t, w.svc.Delete(w.adminA1, victim.ID), errs.KindNotFound)
	_, err = w.svc.Update(w.memberA, victim.ID, users.UpdateInput{DisplayName: servicetest.Ptr("x")})
	servicetest.WantKind(t, err, errs.KindForbidden)
	servicetest.WantKind(t, w.svc.Delete(w.memberA, victim.ID), errs.KindForbidden)
	got, err := w.svc.Get(w.adminA, victim.ID)
	if err != nil || got.Role != "member" || got.DisplayName != "Someone" {
		t.Fatalf("victim changed: %+v %v", got, err)
	}

	t.Run("patch", func(t *testing.T) {
		u, err := w.svc.Update(w.adminA, victim.ID, users.UpdateInput{Email: servicetest.Ptr("Taken@example.com"), Role: servicetest.Ptr("tenant_admin")})
		if err != nil {
			t.Fatal(err) // taken only in B
		}
		if u.Email != "taken@example.com" || u.Role != "tenant_admin" || u.DisplayName != "Someone" {
			t.Fatalf("got %+v", u)
		}
		other := w.mustUser(t, w.adminA, "other@example.com")
		_, err = w.svc.Update(w.adminA, other.ID, users.UpdateInput{Email: servicetest.Ptr("taken@example.com")})
		servicetest.WantKind(t, err, errs.KindConflict)
		_, err = w.svc.Update(w.adminA, other.ID, users.UpdateInput{Role: servicetest.Ptr("owner")})
		servicetest.WantField(t, err, "role")
		same, err := w.svc.Update(w.adminA, other.ID, users.UpdateInput{})
		if err != nil || same.Email != "other@example.com" {
			t.Fatalf("empty patch: %+v %v", same, err)
		}
	})

	t.Run("delete refuses a user owning projects", func(t *testing.T) {
		owner := w.mustUser(t, w.adminA, "owner@example.com")
		p, err := w.projects.Create(w.adminA, projects.CreateInput{Name: "P", OwnerID: owner.ID})
		if err != nil {
			t.Fatal(err)
		}
		servicetest.WantKind(t, w.svc.Delete(w.adminA, owner.ID), errs.KindConflict)
		if err := w.projects.Delete(w.adminA, p.ID); err != nil {
			t.Fatal(err)
		}
		if err := w.svc.Delete(w.adminA, owner.ID); err != nil {
			t.Fatal(err)
		}
		_, err = w.svc.Get(w.adminA, owner.ID)
		servicetest.WantKind(t, err, errs.KindNotFound)
	})
}
