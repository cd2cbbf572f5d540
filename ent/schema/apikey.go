package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
	"github.com/mtdb/mtdb/internal/tenant"
)

// APIKey is a machine credential of one tenant. Only the SHA-256 digest of
// the key is stored; prefix is its public, random identifier (shown in
// lists, unique). The lookup by key runs without a tenant context through
// the SECURITY DEFINER function mtdb_api_key_authenticate (migrations), so
// the app role needs no read access outside its tenant. Tenant-scoped.
type APIKey struct{ ent.Schema }

// Mixin of APIKey.
func (APIKey) Mixin() []ent.Mixin { return []ent.Mixin{TenantScoped{}} }

// Fields of APIKey.
func (APIKey) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Default(uuid.New).Immutable(),
		field.String("name").NotEmpty().SchemaType(varchar(200)).Validate(maxChars(200)),
		field.String("prefix").NotEmpty().Immutable().SchemaType(varchar(32)),
		field.Bytes("key_hash").Immutable().Sensitive().Annotations(Redact()),
		field.Enum("role").Values(string(tenant.RoleTenantAdmin), string(tenant.RoleMember)).Immutable(),
		field.String("created_by").Default("").Immutable().SchemaType(varchar(320)),
		field.Time("created_at").Default(now).Immutable(),
		field.Time("expires_at").Optional().Nillable().Immutable(),
		// Moved forward by every flush of the key's use (mtdb_api_keys_touch):
		// that alone is not an audit event.
		field.Time("last_used_at").Optional().Nillable().Annotations(NotAudited()),
	}
}

// Indexes of APIKey: the prefix identifies a key everywhere; the list
// order within a tenant.
func (APIKey) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("prefix").Unique(),
		index.Fields("tenant_id", "created_at", "id"),
	}
}

// Annotations of APIKey: table name and checks.
func (APIKey) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("api_keys"),
		entsql.Checks(map[string]string{
			"api_keys_role_check": "role IN ('tenant_admin', 'member')",
			"api_keys_hash_check": "octet_length(key_hash) = 32",
		}),
	}
}
