package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"github.com/google/uuid"
)

// Tenant is an organisation (tenant_type "parent") or one of its
// subsidiaries. It is not tenant-scoped itself; its own policies make a tenant
// see itself and its direct subsidiaries.
type Tenant struct{ ent.Schema }

// Mixin of Tenant.
func (Tenant) Mixin() []ent.Mixin { return []ent.Mixin{Timestamps{}} }

// Fields of Tenant.
func (Tenant) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Default(uuid.New).Immutable(),
		field.String("name").MaxLen(200).NotEmpty(),
		field.Enum("tenant_type").Values("parent", "subsidiary").Immutable(),
		field.UUID("parent_tenant_id", uuid.UUID{}).Optional().Nillable().Immutable(),
		field.JSON("metadata", map[string]any{}).Default(map[string]any{}),
		field.Time("deleted_at").Optional().Nillable(),
	}
}

// Edges of Tenant.
func (Tenant) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("subsidiaries", Tenant.Type).
			From("parent").Field("parent_tenant_id").Unique().Immutable(),
	}
}
