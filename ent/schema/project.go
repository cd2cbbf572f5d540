package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// Project belongs to one tenant and is owned by a user of that same tenant
// (the generator makes the owner foreign key (tenant_id, owner_id) ->
// users(tenant_id, id)). Tenant-scoped.
type Project struct{ ent.Schema }

// Mixin of Project.
func (Project) Mixin() []ent.Mixin { return []ent.Mixin{TenantScoped{}, Timestamps{}} }

// Fields of Project.
func (Project) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Default(uuid.New).Immutable(),
		field.String("name").NotEmpty().SchemaType(varchar(200)).Validate(maxChars(200)),
		field.String("description").Default("").SchemaType(varchar(10000)).Validate(maxChars(10000)),
		field.UUID("owner_id", uuid.UUID{}),
	}
}

// Edges of Project.
func (Project) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("owner", User.Type).Ref("projects").Field("owner_id").Unique().Required(),
	}
}

// Indexes of Project: the list order within a tenant, and projects by owner
// (the composite foreign key's lookup when a user is deleted).
func (Project) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("tenant_id", "created_at", "id"),
		index.Fields("tenant_id", "owner_id"),
	}
}
