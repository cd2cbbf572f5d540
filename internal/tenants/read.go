package tenants

import (
	"context"

	"entgo.io/ent/dialect/sql"
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
// created_at then id, with their total count unless p.Page.NoCount.
// Errors: Invalid (Type, paging).
func (s *Service) List(ctx context.Context, p ListParams) (database.Result[*ent.Tenant], error) {
	if _, err := caller(ctx); err != nil {
		return database.Result[*ent.Tenant]{}, err
	}
	preds := []predicate.Tenant{enttenant.DeletedAtIsNil()}
	switch p.Type {
	case "":
	case TypeParent, TypeSubsidiary:
		preds = append(preds, enttenant.TenantTypeEQ(enttenant.TenantType(p.Type)))
	default:
		return database.Result[*ent.Tenant]{}, errs.Invalid("tenant_type", badType)
	}
	res, err := database.ListPage(ctx, s.client, database.List[*ent.Tenant]{
		Table: enttenant.Table, Filtered: true, Where: database.Where(preds),
		Query: func(ctx context.Context, mod func(*sql.Selector)) ([]*ent.Tenant, error) {
			q := s.client.Tenant.Query().Where(preds...).Order(enttenant.ByCreatedAt(), enttenant.ByID())
			q.Modify(mod)
			return q.All(ctx)
		},
		Count: func(ctx context.Context) (int, error) { return s.client.Tenant.Query().Where(preds...).Count(ctx) },
		Key:   func(t *ent.Tenant) database.Position { return database.Position{CreatedAt: t.CreatedAt, ID: t.ID} },
		Value: (*ent.Tenant).Value,
	}, p.Page)
	return res, translate(err, "tenant")
}

// Hierarchy returns the live tenant id followed by one page of its live
// subsidiaries that the caller can see, ordered by name (then id), and
// whether more follow: a page holds at most Limit (1–1000) subsidiaries
// from Offset on, so no answer grows with the organisation. Errors:
// NotFound, Invalid (limit, offset).
func (s *Service) Hierarchy(ctx context.Context, id uuid.UUID, p database.Page) ([]*ent.Tenant, bool, error) {
	if _, err := caller(ctx); err != nil {
		return nil, false, err
	}
	if err := p.Check(); err != nil {
		return nil, false, err
	}
	var (
		out  []*ent.Tenant
		more bool
	)
	err := database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		t, err := tx.Tenant.Query().Where(enttenant.ID(id), enttenant.DeletedAtIsNil()).Only(ctx)
		if err != nil {
			return err
		}
		subs, err := tx.Tenant.Query().
			Where(enttenant.ParentTenantID(id), enttenant.DeletedAtIsNil()).
			Order(enttenant.ByName(), enttenant.ByID()).
			Limit(p.Limit + 1).Offset(p.Offset).All(ctx) // one more: is there a next page?
		if err != nil {
			return err
		}
		if more = len(subs) > p.Limit; more {
			subs = subs[:p.Limit]
		}
		out = append([]*ent.Tenant{t}, subs...)
		return nil
	})
	if err != nil {
		return nil, false, translate(err, "tenant")
	}
	return out, more, nil
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
