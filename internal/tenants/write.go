package tenants

import (
	"context"
	"strings"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/ent"
	enttenant "github.com/mtdb/mtdb/ent/tenant"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/tenant"
)

// Update changes the name and/or metadata of the live tenant id and returns
// its new state. An input that changes nothing returns the tenant as it is.
// Errors: Forbidden (member), NotFound (not visible or deleted), Invalid
// (name; metadata beyond CheckMetadata's bounds; tenant_type or
// parent_tenant_id differing from the current value),
// Conflict (duplicate name among the siblings).
func (s *Service) Update(ctx context.Context, id uuid.UUID, in UpdateInput) (*ent.Tenant, error) {
	tc, err := tenant.Writer(ctx, "tenants")
	if err != nil {
		return nil, err
	}
	var name string
	if in.Name != nil {
		var bad map[string]string
		if name, bad = checkName(*in.Name, true, map[string]string{}); len(bad) > 0 {
			return nil, errs.Fields(bad)
		}
	}
	if err := CheckMetadata(in.Metadata); err != nil {
		return nil, err
	}
	var out *ent.Tenant
	err = database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		t, err := tx.Tenant.Query().
			Where(enttenant.ID(id), enttenant.DeletedAtIsNil()).
			ForUpdate().Only(ctx)
		if err != nil {
			return translate(err, "tenant")
		}
		if in.TenantType != nil && *in.TenantType != string(t.TenantType) {
			return errs.Invalid("tenant_type", "cannot be changed")
		}
		if in.ParentTenantIDSet && !sameID(in.ParentTenantID, t.ParentTenantID) {
			return errs.Invalid("parent_tenant_id", "cannot be changed")
		}
		if tc.Role == tenant.RoleTenantAdmin && t.ID != tc.TenantID && !sameID(t.ParentTenantID, &tc.TenantID) {
			// Row-level security shows a tenant_admin no other tenant;
			// this is a second line of defence.
			return errs.NotFound("tenant")
		}
		if in.Name == nil && in.Metadata == nil {
			out = t
			return nil
		}
		u := tx.Tenant.UpdateOne(t)
		if in.Name != nil {
			if !strings.EqualFold(name, t.Name) { // keeping one's name (in any case) conflicts with nothing
				if err := checkUniqueName(ctx, tx, name, t.ParentTenantID, t.ID); err != nil {
					return err
				}
			}
			u.SetName(name)
		}
		if in.Metadata != nil {
			u.SetMetadata(in.Metadata)
		}
		out, err = u.Save(ctx)
		return err
	})
	if err != nil {
		return nil, translate(err, "tenant")
	}
	return out, nil
}

// Delete soft-deletes the live tenant id: it is hidden from every read from
// then on. Errors: Forbidden (member; deleting one's own tenant; a
// tenant_admin not of its parent), NotFound (not visible or already
// deleted), Conflict (it still has live subsidiaries).
func (s *Service) Delete(ctx context.Context, id uuid.UUID) error {
	tc, err := tenant.Writer(ctx, "tenants")
	if err != nil {
		return err
	}
	err = database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		t, err := tx.Tenant.Query().
			Where(enttenant.ID(id), enttenant.DeletedAtIsNil()).
			ForUpdate().Only(ctx)
		if err != nil {
			return translate(err, "tenant")
		}
		if tc.Role != tenant.RolePlatformAdmin {
			if t.ID == tc.TenantID {
				return errs.Forbidden("a tenant cannot delete itself")
			}
			if !sameID(t.ParentTenantID, &tc.TenantID) {
				return errs.Forbidden("only the tenant_admin of its parent can delete a tenant")
			}
		}
		busy, err := tx.Tenant.Query().
			Where(enttenant.ParentTenantID(t.ID), enttenant.DeletedAtIsNil()).
			Exist(ctx)
		if err != nil {
			return err
		}
		if busy {
			return errs.Conflict("the tenant still has subsidiaries; delete them first")
		}
		return tx.Tenant.UpdateOne(t).SetDeletedAt(now()).Exec(ctx)
	})
	return translate(err, "tenant")
}

func sameID(a, b *uuid.UUID) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}
