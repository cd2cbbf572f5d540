package migrate

import (
	"fmt"
	"strings"
)

// The SQL below is written into migration files by the Formatter. Atlas's
// community edition can neither plan nor inspect roles, functions, triggers
// or row-level security, so none of it shows up (or drifts) in a diff. The
// migration directory is replayed on a dev database that is later cleaned by
// dropping tables only, so functions are created with CREATE OR REPLACE and
// triggers are dropped before being created again.

// createRoleSQL returns the statement creating role once per cluster,
// NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT. Two databases migrated at the
// same time may both see it missing; the loser's CREATE ROLE then fails with
// duplicate_object (or unique_violation on pg_authid), which is ignored.
func createRoleSQL(role string) string {
	return fmt.Sprintf(`DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '%[1]s') THEN
    BEGIN
      CREATE ROLE %[1]s NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END IF;
END
$$`, role)
}

// pinnedSearchPath is the search_path every function below runs with. The
// restricted role cannot create objects in public, but it has TEMPORARY on
// the database (granted to PUBLIC by default), and the session's temporary
// schema is searched first for tables and types unless listed explicitly:
// a temporary table named tenants would otherwise replace the real one in
// mtdb_visible_tenants() (and so hand another organisation's rows to the
// current tenant, for the rest of the pooled connection's life) or empty it
// for the hierarchy-depth trigger; a temporary type named uuid would break
// every policy. Listing pg_temp last closes both.
const pinnedSearchPath = "SET search_path = pg_catalog, public, pg_temp"

// settingFunctionsSQL reads the transaction-local settings. NULLIF: once a
// setting has been used on a connection, current_setting(name, true) returns
// the empty string, not NULL, after the transaction ends.
var settingFunctionsSQL = []string{
	`CREATE OR REPLACE FUNCTION mtdb_current_tenant() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
` + pinnedSearchPath + `
AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$`,
	`CREATE OR REPLACE FUNCTION mtdb_is_platform_admin() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
` + pinnedSearchPath + `
AS $$ SELECT COALESCE(current_setting('app.role', true) = 'platform_admin', false) $$`,
}

// tenantFunctionsSQL need the tenants table. mtdb_visible_tenants runs with
// the caller's rights, so the tenants policies apply to it too.
var tenantFunctionsSQL = []string{
	// PL/pgSQL, not SQL: an SQL function that cannot be inlined is planned
	// again in every statement that calls it, while PL/pgSQL keeps its plan
	// for the session (bench/README.md measured the difference on every
	// tenant-scoped statement). With no tenant set it reads nothing.
	`CREATE OR REPLACE FUNCTION mtdb_visible_tenants() RETURNS uuid[]
LANGUAGE plpgsql STABLE PARALLEL SAFE
` + pinnedSearchPath + `
AS $$
DECLARE
  cur uuid := NULLIF(current_setting('app.tenant_id', true), '')::uuid;
BEGIN
  IF cur IS NULL THEN
    RETURN '{}'::uuid[];
  END IF;
  RETURN ARRAY(
    SELECT t.id FROM tenants t
    WHERE t.deleted_at IS NULL AND (t.id = cur OR t.parent_tenant_id = cur)
  );
END
$$`,
	// The tenants_type_check makes parent_tenant_id set exactly for
	// subsidiaries; this trigger makes the parent itself a parent, so the
	// hierarchy is at most two levels deep, and keeps a tenant's type and
	// parent as they were created: the update policy lets a tenant change
	// its own row, and re-parenting a subsidiary under another organisation
	// would hand its rows to that organisation.
	`CREATE OR REPLACE FUNCTION mtdb_tenants_depth() RETURNS trigger
LANGUAGE plpgsql
` + pinnedSearchPath + `
AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND (NEW.parent_tenant_id IS DISTINCT FROM OLD.parent_tenant_id
                           OR NEW.tenant_type IS DISTINCT FROM OLD.tenant_type) THEN
    RAISE EXCEPTION 'the type and parent of tenant % cannot change', OLD.id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'tenants_immutable_check', TABLE = 'tenants';
  END IF;
  IF NEW.parent_tenant_id IS NULL THEN
    RETURN NEW;
  END IF;
  IF NEW.parent_tenant_id = NEW.id OR EXISTS (
    SELECT 1 FROM tenants p WHERE p.id = NEW.parent_tenant_id AND p.parent_tenant_id IS NOT NULL
  ) THEN
    RAISE EXCEPTION 'tenant % is a subsidiary and cannot have subsidiaries', NEW.parent_tenant_id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'tenants_depth_check', TABLE = 'tenants';
  END IF;
  IF EXISTS (SELECT 1 FROM tenants c WHERE c.parent_tenant_id = NEW.id) THEN
    RAISE EXCEPTION 'tenant % has subsidiaries and cannot become a subsidiary', NEW.id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'tenants_depth_check', TABLE = 'tenants';
  END IF;
  RETURN NEW;
END
$$`,
	`DROP TRIGGER IF EXISTS tenants_depth ON tenants`,
	`CREATE TRIGGER tenants_depth BEFORE INSERT OR UPDATE OF parent_tenant_id, tenant_type ON tenants
FOR EACH ROW EXECUTE FUNCTION mtdb_tenants_depth()`,
}

// tenantPolicy is the row filter of tenant-scoped tables: rows of the current
// tenant and of its live direct subsidiaries. The sub-select makes PostgreSQL
// evaluate the function once per statement (an InitPlan), not once per row;
// the cast keeps "ANY ((SELECT ...))" from parsing as ANY (subquery).
const tenantPolicy = "tenant_id = ANY ((SELECT mtdb_visible_tenants())::uuid[])"

// Row filters of the tenants table.
const (
	tenantsVisible = "(SELECT mtdb_is_platform_admin()) OR id = (SELECT mtdb_current_tenant()) " +
		"OR parent_tenant_id = (SELECT mtdb_current_tenant())"
	tenantsInsert = "(SELECT mtdb_is_platform_admin()) OR parent_tenant_id = (SELECT mtdb_current_tenant())"
	tenantsDelete = "(SELECT mtdb_is_platform_admin())"
)

// policies holds one row filter per command of a table.
type policies struct{ sel, ins, upd, del string }

var (
	tenantScopedPolicies = policies{sel: tenantPolicy, ins: tenantPolicy, upd: tenantPolicy, del: tenantPolicy}
	tenantsPolicies      = policies{sel: tenantsVisible, ins: tenantsInsert, upd: tenantsVisible, del: tenantsDelete}
)

// rlsSQL returns the statements that enable and force row-level security on
// table, create its four policies for the app role and grant it the table.
func rlsSQL(table string, p policies) []string {
	t := quoteIdent(table)
	name := func(cmd string) string { return quoteIdent(table + "_" + cmd) }
	return []string{
		fmt.Sprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY", t),
		fmt.Sprintf("ALTER TABLE %s FORCE ROW LEVEL SECURITY", t),
		fmt.Sprintf("CREATE POLICY %s ON %s AS PERMISSIVE FOR SELECT TO %s USING (%s)", name("select"), t, AppRole, p.sel),
		fmt.Sprintf("CREATE POLICY %s ON %s AS PERMISSIVE FOR INSERT TO %s WITH CHECK (%s)", name("insert"), t, AppRole, p.ins),
		fmt.Sprintf("CREATE POLICY %s ON %s AS PERMISSIVE FOR UPDATE TO %s USING (%s) WITH CHECK (%s)", name("update"), t, AppRole, p.upd, p.upd),
		fmt.Sprintf("CREATE POLICY %s ON %s AS PERMISSIVE FOR DELETE TO %s USING (%s)", name("delete"), t, AppRole, p.del),
		fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE %s TO %s", t, AppRole),
	}
}

// quoteIdent quotes a PostgreSQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
