package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// RowCount is the maintained row count of one tenant-scoped table in one
// tenant, split into slots so that concurrent inserts of one tenant do not
// wait on one counter row. Triggers generated with every tenant-scoped table
// keep it (see internal/schemagen); a list's total_count is the sum of the
// slots of the visible tenants, which row-level security selects like any
// other tenant-scoped rows. Code never writes it.
type RowCount struct{ ent.Schema }

// Mixin of RowCount.
func (RowCount) Mixin() []ent.Mixin { return []ent.Mixin{TenantScoped{}} }

// Fields of RowCount.
func (RowCount) Fields() []ent.Field {
	return []ent.Field{
		field.String("table_name").NotEmpty().Immutable(),
		field.Int16("slot").Immutable(),
		field.Int64("rows").Default(0),
	}
}

// Indexes of RowCount: one row per tenant, table and slot (the upsert's
// conflict target).
func (RowCount) Indexes() []ent.Index {
	return []ent.Index{index.Fields("tenant_id", "table_name", "slot").Unique()}
}

// Annotations of RowCount: the table name; not audited (bookkeeping that
// the counting triggers keep beside every audited write).
func (RowCount) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Annotation{Table: "row_counts"}, NotAudited()}
}
