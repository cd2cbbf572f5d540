package migrate

import (
	"slices"

	entmigrate "github.com/mtdb/mtdb/ent/migrate"
)

const (
	// AppRole is the restricted database role every request enters. The
	// migrations create it and write it into the policies and grants.
	AppRole = "mtdb_app"

	// tenantColumn marks a table as tenant-scoped.
	tenantColumn = "tenant_id"
	// tenantsTable holds the tenants; it has policies of its own.
	tenantsTable = "tenants"
)

// TenantScopedTables returns the names, sorted, of the tables generated from
// the Ent schemas that have a tenant_id column (the schemas embedding the
// TenantScoped mixin). Each must have row-level security enabled and forced
// and one policy per command.
func TenantScopedTables() []string {
	var names []string
	for _, t := range entmigrate.Tables {
		if t.Name == tenantsTable {
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
