// Package schema holds the hand-written Ent schemas of mtdb. A schema that
// embeds TenantScoped is tenant-scoped: it gets a tenant_id column, its rows
// are isolated by PostgreSQL row-level security (the migration generator
// emits the policies), and creates are stamped with the request's tenant.
package schema

import (
	"context"
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"entgo.io/ent/schema/mixin"
	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/tenant"
)

// TenantScoped makes a schema tenant-scoped. Embed it in Mixin():
//
//	func (Invoice) Mixin() []ent.Mixin { return []ent.Mixin{TenantScoped{}, Timestamps{}} }
type TenantScoped struct{ mixin.Schema }

// Fields adds the immutable tenant_id column.
func (TenantScoped) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("tenant_id", uuid.UUID{}).Immutable(),
	}
}

// Indexes adds the unique key (tenant_id, id): the target of the composite
// foreign keys that keep references inside one tenant, and an index with
// tenant_id leading for lookups by tenant. The migration generator adds the
// foreign key tenant_id -> tenants(id) and turns every foreign key between
// two tenant-scoped tables into (tenant_id, x_id) -> (tenant_id, id).
func (TenantScoped) Indexes() []ent.Index {
	return []ent.Index{index.Fields("tenant_id", "id").Unique()}
}

// Hooks stamps tenant_id from the request's tenant context on create.
func (TenantScoped) Hooks() []ent.Hook {
	return []ent.Hook{tenant.StampHook()}
}

// Timestamps adds created_at and updated_at, kept in UTC.
type Timestamps struct{ mixin.Schema }

// Fields adds created_at (immutable) and updated_at.
func (Timestamps) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").Default(now).Immutable(),
		field.Time("updated_at").Default(now).UpdateDefault(now),
	}
}

// Hooks makes a new row's updated_at equal its created_at: both defaults
// are taken separately, a few microseconds apart, and a fresh resource that
// reads as updated after its creation surprises clients.
func (Timestamps) Hooks() []ent.Hook {
	return []ent.Hook{func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			if m.Op().Is(ent.OpCreate) {
				if v, ok := m.Field("created_at"); ok {
					if err := m.SetField("updated_at", v); err != nil {
						return nil, err
					}
				}
			}
			return next.Mutate(ctx, m)
		})
	}}
}

// now is the default of the timestamps: UTC, cut to PostgreSQL's microsecond
// precision so that the value returned on create equals every later read.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
