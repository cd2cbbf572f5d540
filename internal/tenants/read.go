package tenants

import (
	"context"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/ent/predicate"
	enttenant "github.com/mtdb/mtdb/ent/tenant"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/tenant"
)

// Get returns the live tenant id if the caller can see it. Errors: NotFound.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*ent.Tenant, error) {
	if _, err := caller(ctx); err != nil {
		return nil, err
	}
	t, err := s.client.Tenant.Query().Where(enttenant.ID(id), enttenant.DeletedAtIsNil()).Only(ctx)
	if err != nil {
		return nil, translate(err, "tenant")
	}
	return t, nil
}

// List returns one page of the live tenants the caller can see, ordered by
// created_at then id, and the total count. Errors: Invalid (Type).
func (s *Service) List(ctx context.Context, p ListParams) ([]*ent.Tenant, int, error) {
	if _, err := caller(ctx); err != nil {
		return nil, 0, err
	}
	if err := database.CheckPage(p.Limit, p.Offset); err != nil {
		return nil, 0, err
	}
	preds := []predicate.Tenant{enttenant.DeletedAtIsNil()}
	switch p.Type {
	case "":
	case TypeParent, TypeSubsidiary:
		preds = append(preds, enttenant.TenantTypeEQ(enttenant.TenantType(p.Type)))
	default:
		return nil, 0, errs.Invalid("tenant_type", "must be parent or subsidiary")
	}
	var (
		items []*ent.Tenant
		total int
	)
	err := database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		q := tx.Tenant.Query().Where(preds...)
		var err error
		if total, err = q.Clone().Count(ctx); err != nil {
			return err
		}
		items, err = q.Order(enttenant.ByCreatedAt(), enttenant.ByID()).
			Limit(p.Limit).Offset(p.Offset).All(ctx)
		return err
	})
	if err != nil {
		return nil, 0, translate(err, "tenant")
	}
	return items, total, nil
}

// Hierarchy returns the live tenant id followed by its live subsidiaries
// that the caller can see, ordered by name. Errors: NotFound.
func (s *Service) Hierarchy(ctx context.Context, id uuid.UUID) ([]*ent.Tenant, error) {
	if _, err := caller(ctx); err != nil {
		return nil, err
	}
	var out []*ent.Tenant
	err := database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		t, err := tx.Tenant.Query().Where(enttenant.ID(id), enttenant.DeletedAtIsNil()).Only(ctx)
		if err != nil {
			return err
		}
		subs, err := tx.Tenant.Query().
			Where(enttenant.ParentTenantID(id), enttenant.DeletedAtIsNil()).
			Order(enttenant.ByName(), enttenant.ByID()).All(ctx)
		if err != nil {
			return err
		}
		out = append([]*ent.Tenant{t}, subs...)
		return nil
	})
	if err != nil {
		return nil, translate(err, "tenant")
	}
	return out, nil
}

// Enter checks that the caller may act in its effective tenant: the tenant
// is live and is the credential's home tenant or one of its live direct
// subsidiaries (any live tenant for a platform_admin). The database decides
// (mtdb_enter, run by the settings statement of every transaction), so a
// request whose work touched the database was checked already; Enter is for
// one that did not. Errors: Forbidden (the same answer for an unknown,
// deleted or out-of-reach tenant), Unavailable.
func (s *Service) Enter(ctx context.Context) error {
	tc, err := caller(ctx)
	if err != nil || !tc.HasTenant() || tc.Checked() {
		return err
	}
	tc.ReadOnly = true
	_, err = s.client.Tenant.Query().Where(enttenant.ID(tc.TenantID)).Exist(tenant.With(ctx, tc))
	return translate(err, "tenant")
}
