package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// Tenant is an organisation (tenant_type "parent") or one of its
// subsidiaries. It is not tenant-scoped itself; its own policies make a tenant
// see itself and its direct subsidiaries.
//
// Constraints the database enforces beyond the fields below: the name is
// trimmed and 1-200 characters; a parent has no parent_tenant_id and a
// subsidiary has one; the parent of a subsidiary is itself a parent (trigger
// tenants_depth, from the migration generator). Names are indexed,
// case-insensitively, among live parents and among the live subsidiaries of
// one parent (expression indexes tenants_parent_name_idx and
// tenants_subsidiary_name_idx, added by the generator's diff hook), but not
// unique: a name conflicts only with a sibling the writer can see (see
// internal/tenants), so that a conflict never reveals a tenant.
type Tenant struct{ ent.Schema }

// Mixin of Tenant.
func (Tenant) Mixin() []ent.Mixin { return []ent.Mixin{Timestamps{}} }

// Fields of Tenant.
func (Tenant) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Default(uuid.New).Immutable(),
		field.String("name").NotEmpty().SchemaType(varchar(200)).Validate(maxChars(200)),
		field.Enum("tenant_type").Values("parent", "subsidiary").Immutable(),
		field.UUID("parent_tenant_id", uuid.UUID{}).Optional().Nillable().Immutable(),
		field.JSON("metadata", Metadata{}).Default(Metadata{}),
		field.Time("deleted_at").Optional().Nillable(),
	}
}

// Edges of Tenant. Deleting a tenant that still has subsidiaries (even
// soft-deleted ones) is refused by the foreign key.
func (Tenant) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("subsidiaries", Tenant.Type).
			Annotations(entsql.OnDelete(entsql.Restrict)).
			From("parent").Field("parent_tenant_id").Unique().Immutable(),
	}
}

// Indexes of Tenant: subsidiaries by parent, and the list order.
func (Tenant) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("parent_tenant_id"),
		index.Fields("created_at", "id"),
	}
}

// Annotations of Tenant: table checks.
func (Tenant) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Checks(map[string]string{
			"tenants_name_check": "name = btrim(name) AND char_length(name) BETWEEN 1 AND 200",
			"tenants_type_check": "(tenant_type = 'parent' AND parent_tenant_id IS NULL) OR " +
				"(tenant_type = 'subsidiary' AND parent_tenant_id IS NOT NULL)",
		}),
	}
}
