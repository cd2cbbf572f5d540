package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"github.com/google/uuid"
)

// Project belongs to one tenant and is owned by a user of that same tenant.
// Tenant-scoped.
type Project struct{ ent.Schema }

// Mixin of Project.
func (Project) Mixin() []ent.Mixin { return []ent.Mixin{TenantScoped{}, Timestamps{}} }

// Fields of Project.
func (Project) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Default(uuid.New).Immutable(),
		field.String("name").MaxLen(200).NotEmpty(),
		field.String("description").MaxLen(10000).Default(""),
		field.UUID("owner_id", uuid.UUID{}),
	}
}

// Edges of Project.
func (Project) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("owner", User.Type).Ref("projects").Field("owner_id").Unique().Required(),
	}
}
