package schemagen

import (
	"fmt"
	"slices"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/schema"

	entmigrate "github.com/mtdb/mtdb/ent/migrate"
	mtdbmigrate "github.com/mtdb/mtdb/internal/migrate"
)

// Formatter is the migrate.Formatter of the generator. It writes the plan
// with migrate.DefaultFormatter (Atlas's file layout: <version>_<name>.sql)
// after adding what Atlas cannot plan:
//
//   - after the creation of every tenant-scoped table (one with a tenant_id
//     column): ENABLE and FORCE ROW LEVEL SECURITY, one policy per command
//     for the app role, the grants, the triggers counting its rows, and
//     its audit trigger;
//   - when the plan creates the tenants table (the first migration): the app
//     role, the setting functions before the first table, then after tenants
//     its policies, mtdb_visible_tenants(), the hierarchy-depth trigger and
//     the audit trigger;
//   - when the plan creates audit_events: the audit trigger function
//     mtdb_audit() first, then after the table its read-only row-level
//     security and grant, and the audit triggers of the audited tables that
//     already exist.
type Formatter struct {
	// Audited names the audited tables of the desired schema (tenants and
	// the tenant-scoped tables); nil means migrate.AuditedTables() (internal/migrate).
	Audited []string
	// Redacted maps a table to the columns its audit trigger records only
	// as changed; nil means entmigrate.AuditRedacted (schema.Redact()).
	Redacted map[string][]string
	// Ignored maps a table to the columns whose update alone its audit
	// trigger does not record; nil means entmigrate.AuditIgnored (fields
	// annotated schema.NotAudited()).
	Ignored map[string][]string
}

var _ migrate.Formatter = Formatter{}

// Format implements migrate.Formatter.
func (f Formatter) Format(plan *migrate.Plan) ([]migrate.File, error) {
	p := *plan
	var err error
	if p.Changes, err = f.withRLS(plan.Changes); err != nil {
		return nil, err
	}
	return migrate.DefaultFormatter.Format(&p)
}

// withRLS returns changes with the row-level security and audit statements
// inserted. The statements of a table follow the last change planned for
// its creation (Atlas plans CREATE TABLE and each CREATE INDEX separately,
// all with the same *schema.AddTable as Source).
func (f Formatter) withRLS(changes []*migrate.Change) ([]*migrate.Change, error) {
	bootstrap := createsTable(changes, tenantsTable)
	// Until the tenants table and mtdb_visible_tenants() exist, the policies
	// of tenant-scoped tables and of audit_events wait.
	helpersReady := !bootstrap
	var out, pending []*migrate.Change
	if bootstrap {
		out = append(out, sqlChanges("create the restricted role "+appRole, createRoleSQL(appRole))...)
		out = append(out, sqlChanges("let "+appRole+" use the schema", "GRANT USAGE ON SCHEMA public TO "+appRole)...)
		out = append(out, sqlChanges("no temporary objects for "+appRole+" (TEMPORARY comes through PUBLIC)", revokeTempSQL(appRole))...)
		out = append(out, sqlChanges("functions reading the transaction-local settings", settingFunctionsSQL...)...)
	}
	if createsTable(changes, auditTable) {
		out = append(out, sqlChanges("the audit trigger function (writes audit_events as its owner)", auditFunctionSQL...)...)
	}
	for i, c := range changes {
		out = append(out, c)
		add, ok := c.Source.(*schema.AddTable)
		if !ok || (i+1 < len(changes) && changes[i+1].Source == c.Source) {
			continue
		}
		var stmts []*migrate.Change
		if (add.T.Name == tenantsTable || hasTenantColumn(add.T)) && !entmigrate.AuditExempt[add.T.Name] && !hasUUIDID(add.T) {
			return nil, fmt.Errorf("schemagen: table %s: the audit trail records rows by a uuid id column, and it has none", add.T.Name)
		}
		switch t := add.T; {
		case t.Name == tenantsTable:
			out = append(out, sqlChanges("row-level security of tenants", rlsSQL(t.Name, tenantsPolicies)...)...)
			out = append(out, sqlChanges("tenant visibility and hierarchy depth", tenantFunctionsSQL...)...)
			out = append(out, f.trigger(t.Name)...)
			out = append(out, pending...)
			pending, helpersReady = nil, true
			continue
		case t.Name == auditTable:
			stmts = sqlChanges("row-level security of "+t.Name+": read-only for "+appRole, auditTableSQL(t.Name)...)
			for _, name := range f.audited() {
				if !createsTable(changes, name) {
					stmts = append(stmts, f.trigger(name)...)
				}
			}
		case hasTenantColumn(t):
			stmts = tenantScopedSQL(t.Name)
			if !entmigrate.AuditExempt[t.Name] {
				stmts = append(stmts, f.trigger(t.Name)...)
			}
		default:
			continue
		}
		if helpersReady {
			out = append(out, stmts...)
		} else {
			pending = append(pending, stmts...)
		}
	}
	return out, nil
}

// hasUUIDID reports whether t has a uuid column named id (the row id of
// its audit events).
func hasUUIDID(t *schema.Table) bool {
	c, ok := t.Column("id")
	if !ok || c.Type == nil {
		return false
	}
	_, isUUID := c.Type.Type.(*schema.UUIDType)
	return isUUID
}

// trigger returns the statements (re)creating the audit trigger of table.
func (f Formatter) trigger(table string) []*migrate.Change {
	redacted, ignored := f.Redacted, f.Ignored
	if redacted == nil {
		redacted = entmigrate.AuditRedacted
	}
	if ignored == nil {
		ignored = entmigrate.AuditIgnored
	}
	return sqlChanges("audit trail of "+table, auditTriggerSQL(table, redacted[table], ignored[table])...)
}

// audited returns f.Audited, or the audited tables of the Ent schemas when nil.
func (f Formatter) audited() []string {
	if f.Audited != nil {
		return f.Audited
	}
	return mtdbmigrate.AuditedTables()
}

// tenantScopedSQL is what a new tenant-scoped table gets: row-level
// security, then the triggers that count its rows.
func tenantScopedSQL(table string) []*migrate.Change {
	out := sqlChanges("row-level security of "+table, rlsSQL(table, tenantScopedPolicies)...)
	return append(out, sqlChanges("row counts of "+table, countSQL(table)...)...)
}

// createsTable reports whether changes create the named table.
func createsTable(changes []*migrate.Change, name string) bool {
	return slices.ContainsFunc(changes, func(c *migrate.Change) bool {
		add, ok := c.Source.(*schema.AddTable)
		return ok && add.T.Name == name
	})
}

// hasTenantColumn reports whether t is tenant-scoped.
func hasTenantColumn(t *schema.Table) bool {
	if t.Name == tenantsTable || t.Name == auditTable {
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
