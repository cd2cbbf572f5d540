package tenants_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/servicetest"
	"github.com/mtdb/mtdb/internal/tenants"
)

func TestUpdate(t *testing.T) {
	w := newWorld(t)
	t.Run("member is forbidden", func(t *testing.T) {
		_, err := w.svc.Update(w.memberA, w.A.ID, tenants.UpdateInput{Name: servicetest.Ptr("x")})
		servicetest.WantKind(t, err, errs.KindForbidden)
	})
	t.Run("another organisation's admin gets 404 and changes nothing", func(t *testing.T) {
		_, err := w.svc.Update(w.adminB, w.A.ID, tenants.UpdateInput{Name: servicetest.Ptr("Pwned")})
		servicetest.WantKind(t, err, errs.KindNotFound)
		got, err := w.svc.Get(w.platform, w.A.ID)
		if err != nil || got.Name != "Acme" {
			t.Fatalf("victim changed: %v %v", got, err)
		}
	})
	t.Run("subsidiary admin cannot reach its sibling", func(t *testing.T) {
		_, err := w.svc.Update(w.adminA1, w.A2.ID, tenants.UpdateInput{Name: servicetest.Ptr("x")})
		servicetest.WantKind(t, err, errs.KindNotFound)
	})
	t.Run("parent admin renames a subsidiary and replaces metadata", func(t *testing.T) {
		if _, err := w.svc.Update(w.adminA, w.A1.ID, tenants.UpdateInput{Metadata: map[string]any{"a": "1", "b": "2"}}); err != nil {
			t.Fatal(err)
		}
		got, err := w.svc.Update(w.adminA, w.A1.ID, tenants.UpdateInput{Name: servicetest.Ptr(" Alpha Research "), Metadata: map[string]any{"c": true}})
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "Alpha Research" || len(got.Metadata) != 1 || got.Metadata["c"] != true {
			t.Fatalf("got %+v", got)
		}
		if !got.UpdatedAt.After(got.CreatedAt) {
			t.Fatalf("updated_at %v not after created_at %v", got.UpdatedAt, got.CreatedAt)
		}
	})
	t.Run("tenant_admin renames its own tenant", func(t *testing.T) {
		if _, err := w.svc.Update(w.adminB, w.B.ID, tenants.UpdateInput{Name: servicetest.Ptr("Globex Inc")}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("changing tenant_type is invalid, sending the same value is not", func(t *testing.T) {
		_, err := w.svc.Update(w.adminA, w.A1.ID, tenants.UpdateInput{TenantType: servicetest.Ptr("parent")})
		servicetest.WantField(t, err, "tenant_type")
		if _, err := w.svc.Update(w.adminA, w.A1.ID, tenants.UpdateInput{TenantType: servicetest.Ptr("subsidiary")}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("changing parent_tenant_id is invalid", func(t *testing.T) {
		_, err := w.svc.Update(w.platform, w.A1.ID, tenants.UpdateInput{ParentTenantIDSet: true, ParentTenantID: &w.B.ID})
		servicetest.WantField(t, err, "parent_tenant_id")
		_, err = w.svc.Update(w.platform, w.A1.ID, tenants.UpdateInput{ParentTenantIDSet: true})
		servicetest.WantField(t, err, "parent_tenant_id")
	})
	t.Run("empty name is invalid", func(t *testing.T) {
		_, err := w.svc.Update(w.adminA, w.A1.ID, tenants.UpdateInput{Name: servicetest.Ptr(" ")})
		servicetest.WantField(t, err, "name")
	})
	t.Run("duplicate sibling name conflicts", func(t *testing.T) {
		_, err := w.svc.Update(w.adminA, w.A1.ID, tenants.UpdateInput{Name: servicetest.Ptr("ZETA labs")})
		servicetest.WantKind(t, err, errs.KindConflict)
	})
	t.Run("the name of a sibling the caller cannot see is no conflict", func(t *testing.T) {
		// A1's admin cannot see A2: a 409 would reveal it (existence oracle).
		got, err := w.svc.Update(w.adminA1, w.A1.ID, tenants.UpdateInput{Name: servicetest.Ptr("zeta LABS")})
		if err != nil || got.Name != "zeta LABS" {
			t.Fatalf("rename onto an invisible sibling's name: %v, %v", got, err)
		}
		// A's admin sees both: a rename onto a sibling's name conflicts,
		// keeping one's own name (in any case) does not.
		_, err = w.svc.Update(w.adminA, w.A2.ID, tenants.UpdateInput{Name: servicetest.Ptr("Alpha")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.svc.Update(w.adminA, w.A2.ID, tenants.UpdateInput{Name: servicetest.Ptr("ZETA labs")})
		servicetest.WantKind(t, err, errs.KindConflict)
		_, err = w.svc.Update(w.adminA, w.A1.ID, tenants.UpdateInput{Name: servicetest.Ptr("Zeta Labs")})
		if err != nil {
			t.Fatalf("keeping one's own name: %v", err)
		}
	})
	t.Run("unknown tenant is 404", func(t *testing.T) {
		_, err := w.svc.Update(w.platform, uuid.New(), tenants.UpdateInput{Name: servicetest.Ptr("x")})
		servicetest.WantKind(t, err, errs.KindNotFound)
	})
}

func TestDelete(t *testing.T) {
	w := newWorld(t)
	cases := []struct {
		name string
		do   func() error
		kind errs.Kind
	}{
		{"member is forbidden", func() error { return w.svc.Delete(w.memberA, w.A1.ID) }, errs.KindForbidden},
		{"own tenant is forbidden", func() error { return w.svc.Delete(w.adminA, w.A.ID) }, errs.KindForbidden},
		{"subsidiary deleting itself is forbidden", func() error { return w.svc.Delete(w.adminA1, w.A1.ID) }, errs.KindForbidden},
		{"another organisation's subsidiary is not found", func() error { return w.svc.Delete(w.adminB, w.A1.ID) }, errs.KindNotFound},
		{"parent with live subsidiaries conflicts", func() error { return w.svc.Delete(w.platform, w.A.ID) }, errs.KindConflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { servicetest.WantKind(t, tc.do(), tc.kind) })
	}
	if _, err := w.svc.Get(w.adminA, w.A1.ID); err != nil {
		t.Fatalf("A1 damaged by refused deletes: %v", err)
	}

	if err := w.svc.Delete(w.adminA, w.A1.ID); err != nil {
		t.Fatalf("parent admin deleting A1: %v", err)
	}
	if _, err := w.svc.Get(w.adminA, w.A1.ID); errs.KindOf(err) != errs.KindNotFound {
		t.Fatalf("deleted tenant still readable: %v", err)
	}
	servicetest.WantKind(t, w.svc.Delete(w.adminA, w.A1.ID), errs.KindNotFound)
	h, _, err := w.svc.Hierarchy(w.adminA, w.A.ID, all)
	if err != nil || len(h) != 2 {
		t.Fatalf("hierarchy after delete: %v %v", h, err)
	}
	res, err := w.svc.List(w.platform, tenants.ListParams{Page: database.Page{Limit: 100}})
	if err != nil || *res.Total != 3 || len(res.Items) != 3 {
		t.Fatalf("list after delete: %+v %v", res, err)
	}
	_, err = w.svc.Update(w.adminA, w.A1.ID, tenants.UpdateInput{Name: servicetest.Ptr("back")})
	servicetest.WantKind(t, err, errs.KindNotFound)

	if err := w.svc.Delete(w.superadmin, w.A2.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Delete(w.platform, w.A.ID); err != nil {
		t.Fatalf("platform deleting a parent without live subsidiaries: %v", err)
	}
}
