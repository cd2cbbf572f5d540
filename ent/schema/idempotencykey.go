package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// IdempotencyKey is the stored answer to a write sent with an
// Idempotency-Key header, written in the same transaction as the write: a
// retry of the same request by the same caller in the same tenant gets it
// back instead of repeating the write. Tenant-scoped; rows older than the
// retention (IDEMPOTENCY_KEY_RETENTION) are purged in the background.
type IdempotencyKey struct{ ent.Schema }

// Mixin of IdempotencyKey.
func (IdempotencyKey) Mixin() []ent.Mixin { return []ent.Mixin{TenantScoped{}} }

// Fields of IdempotencyKey.
func (IdempotencyKey) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Default(uuid.New).Immutable(),
		field.String("caller").SchemaType(varchar(320)).Immutable().Comment("the token's subject"),
		field.String("key").NotEmpty().SchemaType(varchar(255)).Immutable(),
		field.String("request_hash").SchemaType(varchar(64)).Immutable().Comment("SHA-256 of method, path and body"),
		field.String("method").SchemaType(varchar(10)).Immutable(),
		field.String("path").SchemaType(varchar(2048)).Immutable(),
		field.Int("status").Immutable(),
		field.String("location").Default("").SchemaType(varchar(2048)).Immutable(),
		field.Bytes("body").Immutable(),
		field.Time("created_at").Default(now).Immutable(),
	}
}

// Indexes of IdempotencyKey: one key per caller and tenant, and the purge
// order within a tenant.
func (IdempotencyKey) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("tenant_id", "caller", "key").Unique(),
		index.Fields("tenant_id", "created_at"),
	}
}

// Annotations of IdempotencyKey: not audited (a stored answer accompanies
// a write that is audited itself; auditing it would record every response
// body twice).
func (IdempotencyKey) Annotations() []schema.Annotation {
	return []schema.Annotation{NotAudited()}
}
