package migrate

import (
	"slices"

	entschema "entgo.io/ent/dialect/sql/schema"

	entmigrate "github.com/mtdb/mtdb/ent/migrate"
)

// The names the migrations give the tables every deployment has. The
// self-check (internal/health) and the generator (internal/schemagen) read
// them here.
const (
	// TenantColumn marks a table as tenant-scoped.
	TenantColumn = "tenant_id"
	// TenantsTable holds the tenants; it has policies of its own.
	TenantsTable = "tenants"
	// AuditTable is the append-only audit trail the audit triggers write:
	// it has a tenant_id but is not tenant-scoped (read-only for the app
	// role, no foreign key to tenants).
	AuditTable = "audit_events"
	// AuditFunction is the trigger function every audit trigger executes.
	AuditFunction = "mtdb_audit"
)

// TenantScopedTables returns the names, sorted, of the tables generated from
// the Ent schemas that have a tenant_id column (the schemas embedding the
// TenantScoped mixin). Each must have row-level security enabled and forced
// and one policy per command.
func TenantScopedTables() []string {
	return TenantScoped(entmigrate.Tables)
}

// AuditedTables returns the names, sorted, of the tables whose changes the
// audit triggers record: tenants and every tenant-scoped table but those
// whose schema is annotated schema.NotAudited().
func AuditedTables() []string {
	return Audited(entmigrate.Tables)
}

// TenantScoped returns the sorted names of the tenant-scoped tables among
// tables.
func TenantScoped(tables []*entschema.Table) []string {
	var names []string
	for _, t := range tables {
		if t.Name == TenantsTable || t.Name == AuditTable {
			continue
		}
		for _, c := range t.Columns {
			if c.Name == TenantColumn {
				names = append(names, t.Name)
				break
			}
		}
	}
	slices.Sort(names)
	return names
}

// Audited returns the sorted names of the audited tables among tables
// (AuditedAmong their tenant-scoped ones); tenants only when tables has it.
func Audited(tables []*entschema.Table) []string {
	names := AuditedAmong(TenantScoped(tables))
	if !slices.ContainsFunc(tables, func(t *entschema.Table) bool { return t.Name == TenantsTable }) {
		names = slices.DeleteFunc(names, func(n string) bool { return n == TenantsTable })
	}
	return names
}

// AuditedAmong returns the sorted names of the tables that need an audit
// trigger, given the tenant-scoped ones: those whose schema is not
// annotated schema.NotAudited(), and tenants. It is the one statement of
// that rule: the generator writes the triggers and the self-check
// (internal/health) asks for them by it.
func AuditedAmong(scoped []string) []string {
	names := slices.DeleteFunc(slices.Clone(scoped), func(n string) bool { return entmigrate.AuditExempt[n] })
	names = append(names, TenantsTable)
	slices.Sort(names)
	return slices.Compact(names)
}
