package schema

import (
	"encoding/json"
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// Audit is the annotation of the audit trail. On a field, Redact keeps the
// field's values out of audit_events: a change records only
// {"changed": true}. Use it for secrets and key hashes:
//
//	field.String("key_hash").Annotations(Redact())
//
// On a tenant-scoped schema, Skip exempts its table from the audit trail
// (NotAudited): only for bookkeeping that is not the tenants' data, such as
// stored Idempotency-Key answers, whose rows accompany an audited write.
// On a field, Skip makes an UPDATE that changes only such fields record no
// event (the field is still recorded with the other changes): for
// bookkeeping written often, such as an API key's last_used_at.
//
// The generator passes a table's redacted and skipped columns to its audit
// trigger (ent/template/audit.tmpl collects them into
// migrate.AuditRedacted and migrate.AuditIgnored, and the exempt tables
// into migrate.AuditExempt).
type Audit struct {
	Redact bool `json:"redact,omitempty"`
	Skip   bool `json:"skip,omitempty"`
}

// Name implements schema.Annotation.
func (Audit) Name() string { return "Audit" }

// Redact returns the annotation that keeps a field's values out of the
// audit trail.
func Redact() Audit { return Audit{Redact: true} }

// NotAudited returns the annotation that exempts a tenant-scoped table
// from the audit trail (no trigger; the self-check does not ask for one)
// or, on a field, an UPDATE that changes only such fields.
func NotAudited() Audit { return Audit{Skip: true} }

// AuditEvent is one change to an audited row (every tenant-scoped table and
// tenants), written by the generated trigger mtdb_audit() in the
// transaction that made the change. It is append-only: the app role may
// only read it, through row-level security (the current tenant and its
// subsidiaries, everything for a platform admin); only the migration owner
// deletes (mtdb audit prune).
//
// It has a tenant_id but is deliberately not TenantScoped: it has no
// foreign key to tenants (the events of a deleted tenant outlive it), no
// write policies and no stamp hook (the app never creates events).
type AuditEvent struct{ ent.Schema }

// Fields of AuditEvent. All immutable.
func (AuditEvent) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id").Immutable(),
		field.UUID("tenant_id", uuid.UUID{}).Immutable(),
		field.String("table_name").SchemaType(varchar(63)).Immutable(),
		field.UUID("row_id", uuid.UUID{}).Immutable(),
		field.Enum("operation").Values("insert", "update", "delete").Immutable(),
		field.JSON("changes", json.RawMessage{}).Immutable(),
		field.String("actor_sub").Default("").Immutable(),
		field.String("actor_role").Default("").Immutable(),
		field.String("request_id").Default("").Immutable(),
		field.Time("occurred_at").Default(func() time.Time { return time.Now().UTC() }).Immutable(),
	}
}

// Indexes of AuditEvent: a tenant's events newest first, and one row's
// history.
func (AuditEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("tenant_id", "id"),
		index.Fields("tenant_id", "table_name", "row_id", "id"),
	}
}

// Annotations of AuditEvent: none beyond the table name.
func (AuditEvent) Annotations() []schema.Annotation { return nil }
