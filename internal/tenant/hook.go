package tenant

import (
	"context"

	"entgo.io/ent"
	"github.com/google/uuid"
)

// StampHook returns the ent hook, installed by the TenantScoped mixin, that
// sets tenant_id on every create from the tenant context, and refuses a
// create whose explicit tenant_id differs from it or that has no tenant.
// The database policies would refuse such rows anyway; the hook turns that
// into a clear error before the round trip.
func StampHook() ent.Hook {
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			if !m.Op().Is(ent.OpCreate) {
				return next.Mutate(ctx, m)
			}
			tc, ok := From(ctx)
			if !ok {
				return nil, ErrNoContext
			}
			if !tc.HasTenant() {
				return nil, ErrNoTenant
			}
			if v, ok := m.Field("tenant_id"); ok {
				if id, _ := v.(uuid.UUID); id != tc.TenantID {
					return nil, ErrTenantMismatch
				}
				return next.Mutate(ctx, m)
			}
			if err := m.SetField("tenant_id", tc.TenantID); err != nil {
				return nil, err
			}
			return next.Mutate(ctx, m)
		})
	}
}
