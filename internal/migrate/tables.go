package migrate

import (
	"slices"

	entschema "entgo.io/ent/dialect/sql/schema"

	entmigrate "github.com/mtdb/mtdb/ent/migrate"
	"github.com/mtdb/mtdb/internal/tenant"
)

const (
	// AppRole is the restricted database role every request enters
	// (tenant.AppRole). The migrations create it and write it into the
	// policies and grants.
	AppRole = tenant.AppRole

	// tenantColumn marks a table as tenant-scoped.
	tenantColumn = "tenant_id"
	// tenantsTable holds the tenants; it has policies of its own.
	tenantsTable = "tenants"
	// AuditTable is the append-only audit trail the audit triggers write:
	// it has a tenant_id but is not tenant-scoped (read-only for the app
	// role, no foreign key to tenants).
	AuditTable = "audit_events"
)

// TenantScopedTables returns the names, sorted, of the tables generated from
// the Ent schemas that have a tenant_id column (the schemas embedding the
// TenantScoped mixin). Each must have row-level security enabled and forced
// and one policy per command.
func TenantScopedTables() []string {
	return tenantScoped(entmigrate.Tables)
}

// AuditedTables returns the names, sorted, of the tables whose changes the
// audit triggers record: tenants and every tenant-scoped table but those
// whose schema is annotated schema.NotAudited().
func AuditedTables() []string {
	return audited(entmigrate.Tables)
}

// tenantScoped returns the sorted names of the tenant-scoped tables among
// tables.
func tenantScoped(tables []*entschema.Table) []string {
	var names []string
	for _, t := range tables {
		if t.Name == tenantsTable || t.Name == AuditTable {
			continue
		}
		for _, c := range t.Columns {
			if c.Name == tenantColumn {
				names = append(names, t.Name)
				break
			}
		}
	}
	slices.Sort(names)
	return names
}

// audited returns the sorted names of the audited tables among tables:
// the tenant-scoped ones not exempt (schema.NotAudited()) and tenants.
func audited(tables []*entschema.Table) []string {
	names := slices.DeleteFunc(tenantScoped(tables), func(n string) bool { return entmigrate.AuditExempt[n] })
	if slices.ContainsFunc(tables, func(t *entschema.Table) bool { return t.Name == tenantsTable }) {
		names = append(names, tenantsTable)
		slices.Sort(names)
	}
	return names
}
