package migrate

import (
	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/schema"
)

// Formatter is the migrate.Formatter of the generator. It writes the plan
// with migrate.DefaultFormatter (Atlas's file layout: <version>_<name>.sql)
// after adding what Atlas cannot plan:
//
//   - after the creation of every tenant-scoped table (one with a tenant_id
//     column): ENABLE and FORCE ROW LEVEL SECURITY, one policy per command
//     for the app role, the grants, and the triggers counting its rows;
//   - when the plan creates the tenants table (the first migration): the app
//     role, the setting functions before the first table, then after tenants
//     its policies, mtdb_visible_tenants() and the hierarchy-depth trigger.
type Formatter struct{}

var _ migrate.Formatter = Formatter{}

// Format implements migrate.Formatter.
func (Formatter) Format(plan *migrate.Plan) ([]migrate.File, error) {
	p := *plan
	p.Changes = withRLS(plan.Changes)
	return migrate.DefaultFormatter.Format(&p)
}

// withRLS returns changes with the row-level security statements inserted.
// The statements of a table follow the last change planned for its
// creation (Atlas plans CREATE TABLE and each CREATE INDEX separately, all
// with the same *schema.AddTable as Source).
func withRLS(changes []*migrate.Change) []*migrate.Change {
	bootstrap := createsTable(changes, tenantsTable)
	// Until the tenants table and mtdb_visible_tenants() exist, the policies
	// of tenant-scoped tables wait.
	helpersReady := !bootstrap
	var (
		out     []*migrate.Change
		pending []string
	)
	if bootstrap {
		out = append(out, sqlChanges("create the restricted role "+AppRole, createRoleSQL(AppRole))...)
		out = append(out, sqlChanges("let "+AppRole+" use the schema", "GRANT USAGE ON SCHEMA public TO "+AppRole)...)
		out = append(out, sqlChanges("functions reading the transaction-local settings", settingFunctionsSQL...)...)
	}
	for i, c := range changes {
		out = append(out, c)
		add, ok := c.Source.(*schema.AddTable)
		if !ok || (i+1 < len(changes) && changes[i+1].Source == c.Source) {
			continue
		}
		switch t := add.T; {
		case t.Name == tenantsTable:
			out = append(out, sqlChanges("row-level security of tenants", rlsSQL(t.Name, tenantsPolicies)...)...)
			out = append(out, sqlChanges("tenant visibility and hierarchy depth", tenantFunctionsSQL...)...)
			for _, name := range pending {
				out = append(out, tenantScopedSQL(name)...)
			}
			pending, helpersReady = nil, true
		case !hasTenantColumn(t):
		case helpersReady:
			out = append(out, tenantScopedSQL(t.Name)...)
		default:
			pending = append(pending, t.Name)
		}
	}
	return out
}

// tenantScopedSQL is what a new tenant-scoped table gets: row-level
// security, then the triggers that count its rows.
func tenantScopedSQL(table string) []*migrate.Change {
	out := sqlChanges("row-level security of "+table, rlsSQL(table, tenantScopedPolicies)...)
	return append(out, sqlChanges("row counts of "+table, countSQL(table)...)...)
}

// createsTable reports whether changes create the named table.
func createsTable(changes []*migrate.Change, name string) bool {
	for _, c := range changes {
		if add, ok := c.Source.(*schema.AddTable); ok && add.T.Name == name {
			return true
		}
	}
	return false
}

// hasTenantColumn reports whether t is tenant-scoped.
func hasTenantColumn(t *schema.Table) bool {
	if t.Name == tenantsTable {
		return false
	}
	_, ok := t.Column(tenantColumn)
	return ok
}

// sqlChanges wraps statements as plan changes; the first carries comment.
func sqlChanges(comment string, stmts ...string) []*migrate.Change {
	out := make([]*migrate.Change, len(stmts))
	for i, s := range stmts {
		out[i] = &migrate.Change{Cmd: s}
	}
	if len(out) > 0 {
		out[0].Comment = comment
	}
	return out
}
