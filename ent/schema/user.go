package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/tenant"
)

// User is a person within one tenant. Tenant-scoped.
type User struct{ ent.Schema }

// Mixin of User.
func (User) Mixin() []ent.Mixin { return []ent.Mixin{TenantScoped{}, Timestamps{}} }

// Fields of User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Default(uuid.New).Immutable(),
		field.String("email").NotEmpty().SchemaType(varchar(320)).Validate(maxChars(320)),
		field.String("display_name").Default("").SchemaType(varchar(200)).Validate(maxChars(200)),
		field.Enum("role").Values(string(tenant.RoleTenantAdmin), string(tenant.RoleMember)).Default(string(tenant.RoleMember)),
	}
}

// Edges of User. A user who still owns projects cannot be deleted.
func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("projects", Project.Type).Annotations(entsql.OnDelete(entsql.Restrict)),
	}
}

// Indexes of User: one e-mail per tenant (stored lower-case), and the list
// order within a tenant.
func (User) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("tenant_id", "email").Unique(),
		index.Fields("tenant_id", "created_at", "id"),
	}
}

// Annotations of User: table checks.
func (User) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Checks(map[string]string{
			"users_email_check": "email = lower(email)",
			"users_role_check":  "role IN ('tenant_admin', 'member')",
		}),
	}
}
