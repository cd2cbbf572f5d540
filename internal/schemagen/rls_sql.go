package schemagen

import (
	"fmt"
	"slices"
	"strings"

	entmigrate "github.com/mtdb/mtdb/ent/migrate"
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

// revokeTempSQL returns the statement revoking TEMPORARY on the current
// database from PUBLIC and role: the role's temporary tables would shadow
// the application's on pooled connections. The privilege belongs to each
// database, so the statement names current_database(): one file serves
// every database of a cluster, with mtdb migrate apply or the Atlas CLI.
// The database owner keeps it; other roles that need it are granted it by
// name.
func revokeTempSQL(role string) string {
	return fmt.Sprintf(`DO $$
BEGIN
  EXECUTE format('REVOKE TEMPORARY ON DATABASE %%I FROM PUBLIC', current_database());
  EXECUTE format('REVOKE TEMPORARY ON DATABASE %%I FROM %[1]s', current_database());
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
	isTenantAdminSQL,
}

// isTenantAdminSQL creates mtdb_is_tenant_admin(), the other role the
// tenants write rules name (a member writes no tenant).
const isTenantAdminSQL = `CREATE OR REPLACE FUNCTION mtdb_is_tenant_admin() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
` + pinnedSearchPath + `
AS $$ SELECT COALESCE(current_setting('app.role', true) = 'tenant_admin', false) $$`

// tenantFunctionsSQL need the tenants table. mtdb_visible_tenants runs with
// the caller's rights, so the tenants policies apply to it too.
var tenantFunctionsSQL = []string{
	// mtdb_enter is the tenant reach check and the visible-tenant set of a
	// transaction, called by the settings statement right after it set the
	// settings (internal/tenant). It refuses (SQLSTATE MT403) a tenant that
	// is absent or deleted, and one that is neither the credential's home
	// tenant nor a live direct subsidiary of it (a platform_admin may act in
	// any live tenant); otherwise it stores the live tenant and its live
	// direct subsidiaries in app.visible_tenants, once per transaction, for
	// the policies. The rule is written out rather than left to the tenants
	// policies, so it holds whatever role runs it.
	`CREATE OR REPLACE FUNCTION mtdb_enter(tenant text, home text, role text) RETURNS boolean
LANGUAGE plpgsql VOLATILE
` + pinnedSearchPath + `
AS $$
DECLARE
  cur uuid := NULLIF(tenant, '')::uuid;
  own uuid := NULLIF(home, '')::uuid;
  parent uuid;
  reach boolean;
  vis uuid[];
BEGIN
  IF cur IS NULL THEN
    PERFORM set_config('app.visible_tenants', '{}', true);
    PERFORM set_config('app.visible_for', '', true);
    RETURN true;
  END IF;
  SELECT t.parent_tenant_id INTO parent FROM tenants t WHERE t.id = cur AND t.deleted_at IS NULL;
  reach := FOUND;
  IF reach AND own IS NOT NULL AND own <> cur AND COALESCE(role, '') <> 'platform_admin' THEN
    -- Acting in a subsidiary: its parent must be the home tenant, and live.
    -- The home tenant is read in its own context, where the tenants
    -- policies show it (a subsidiary does not see its parent).
    PERFORM set_config('app.tenant_id', own::text, true);
    reach := parent IS NOT DISTINCT FROM own
             AND EXISTS (SELECT 1 FROM tenants o WHERE o.id = own AND o.deleted_at IS NULL);
    PERFORM set_config('app.tenant_id', cur::text, true);
  END IF;
  IF NOT reach THEN
    RAISE EXCEPTION 'the tenant does not exist or is not accessible with these credentials'
      USING ERRCODE = 'MT403';
  END IF;
  vis := ARRAY(SELECT t.id FROM tenants t
               WHERE t.deleted_at IS NULL AND (t.id = cur OR t.parent_tenant_id = cur)
               ORDER BY t.id);
  PERFORM set_config('app.visible_tenants', vis::text, true);
  PERFORM set_config('app.visible_for', cur::text, true);
  RETURN true;
END
$$`,
	// mtdb_visible_tenants is what the policies of tenant-scoped tables
	// read: the set mtdb_enter stored for the current tenant. A transaction
	// that set app.tenant_id without mtdb_enter (an older mtdb during a
	// rolling upgrade; Citus workers, which do not see set_config) gets it
	// computed here instead. PL/pgSQL: its plan is cached per session, while
	// an SQL function that cannot be inlined is planned in every statement.
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
  IF current_setting('app.visible_for', true) = cur::text THEN
    RETURN current_setting('app.visible_tenants', true)::uuid[];
  END IF;
  RETURN ARRAY(
    SELECT t.id FROM tenants t
    WHERE t.deleted_at IS NULL AND (t.id = cur OR t.parent_tenant_id = cur)
  );
END
$$`,
	// mtdb_count_rows keeps row_counts: per statement (a bulk insert adds
	// one row per tenant, not one per inserted row), +n per tenant for
	// inserted rows, -n for deleted ones; a row moved to another tenant
	// (never done by the API: tenant_id is immutable there) counts as both.
	// The slot is the backend's, so concurrent transactions of one tenant
	// update different rows instead of queueing on one.
	`CREATE OR REPLACE FUNCTION mtdb_count_rows() RETURNS trigger
LANGUAGE plpgsql
` + pinnedSearchPath + `
AS $$
DECLARE
  bucket smallint := pg_backend_pid() % 16;
BEGIN
  IF TG_LEVEL = 'ROW' THEN
    INSERT INTO row_counts AS c (tenant_id, table_name, slot, rows)
    VALUES (NEW.tenant_id, TG_TABLE_NAME, bucket, 1), (OLD.tenant_id, TG_TABLE_NAME, bucket, -1)
    ON CONFLICT (tenant_id, table_name, slot) DO UPDATE SET rows = c.rows + EXCLUDED.rows;
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO row_counts AS c (tenant_id, table_name, slot, rows)
    SELECT n.tenant_id, TG_TABLE_NAME, bucket, count(*) FROM mtdb_new n GROUP BY n.tenant_id
    ON CONFLICT (tenant_id, table_name, slot) DO UPDATE SET rows = c.rows + EXCLUDED.rows;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO row_counts AS c (tenant_id, table_name, slot, rows)
    SELECT o.tenant_id, TG_TABLE_NAME, bucket, -count(*) FROM mtdb_old o GROUP BY o.tenant_id
    ON CONFLICT (tenant_id, table_name, slot) DO UPDATE SET rows = c.rows + EXCLUDED.rows;
  END IF;
  RETURN NULL;
END
$$`,
	// The tenants_type_check makes parent_tenant_id set exactly for
	// subsidiaries; this trigger makes the parent itself a parent, so the
	// hierarchy is at most two levels deep, and keeps a tenant's type and
	// parent as they were created, for every role (mtdb_app cannot update
	// these columns at all: tenantsUpdatable): re-parenting a subsidiary
	// under another organisation would hand its rows to that organisation.
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
// tenant and of its live direct subsidiaries, as mtdb_enter stored them for
// the transaction. The sub-select makes PostgreSQL evaluate the function
// once per statement (an InitPlan), not once per row; the cast keeps
// "ANY ((SELECT ...))" from parsing as ANY (subquery).
const tenantPolicy = "tenant_id = ANY ((SELECT mtdb_visible_tenants())::uuid[])"

// Row filters of the tenants table. Everyone acting in a tenant sees it and
// its subsidiaries, but the database writes what the API promises
// (CONTRACT, Tenants): a member writes no tenant; a tenant_admin creates
// subsidiaries of its tenant and updates its tenant and their
// subsidiaries, but soft-deletes (sets deleted_at on) only subsidiaries,
// never its own tenant; a platform_admin writes any tenant; only a
// platform_admin deletes a row. Which columns can change at all is the
// column grant (tenantsUpdatable), so a tenant's type, parent, id and
// creation time stay as created whatever the policy lets through.
const (
	tenantsVisible = "(SELECT mtdb_is_platform_admin()) OR id = (SELECT mtdb_current_tenant()) " +
		"OR parent_tenant_id = (SELECT mtdb_current_tenant())"
	tenantsInsert = "(SELECT mtdb_is_platform_admin()) OR ((SELECT mtdb_is_tenant_admin()) " +
		"AND parent_tenant_id = (SELECT mtdb_current_tenant()))"
	// tenantsUpdate filters the rows an UPDATE (and SELECT ... FOR UPDATE)
	// may touch: a tenant_admin's tenant and its subsidiaries.
	tenantsUpdate = "(SELECT mtdb_is_platform_admin()) OR ((SELECT mtdb_is_tenant_admin()) " +
		"AND (id = (SELECT mtdb_current_tenant()) OR parent_tenant_id = (SELECT mtdb_current_tenant())))"
	// tenantsUpdateCheck is what the updated row must satisfy: a
	// tenant_admin's own tenant stays live (deleting it is its parent's
	// admin's decision); its subsidiaries may be soft-deleted.
	tenantsUpdateCheck = "(SELECT mtdb_is_platform_admin()) OR ((SELECT mtdb_is_tenant_admin()) " +
		"AND (parent_tenant_id = (SELECT mtdb_current_tenant()) " +
		"OR (id = (SELECT mtdb_current_tenant()) AND deleted_at IS NULL)))"
	tenantsDelete = "(SELECT mtdb_is_platform_admin())"
)

// policies holds one row filter per command of a table; updCheck is the
// UPDATE policy's WITH CHECK ("" means upd), updColumns the columns the app
// role may update (nil means all).
type policies struct {
	sel, ins, upd, updCheck, del string
	updColumns                   []string
}

var (
	tenantScopedPolicies = policies{sel: tenantPolicy, ins: tenantPolicy, upd: tenantPolicy, del: tenantPolicy}
	tenantsPolicies      = policies{sel: tenantsVisible, ins: tenantsInsert, upd: tenantsUpdate,
		updCheck: tenantsUpdateCheck, del: tenantsDelete, updColumns: tenantsUpdatable()}
)

// tenantsUpdatable returns the columns of tenants the app role may update:
// those not immutable in its Ent schema (entmigrate.UpdatableColumns).
func tenantsUpdatable() []string {
	cols := slices.Clone(entmigrate.UpdatableColumns[tenantsTable])
	slices.Sort(cols)
	return cols
}

// rlsSQL returns the statements that enable and force row-level security on
// table, create its four policies for the app role and grant it the table
// (UPDATE only on p.updColumns when set).
func rlsSQL(table string, p policies) []string {
	t := quoteIdent(table)
	name := func(cmd string) string { return quoteIdent(table + "_" + cmd) }
	check := p.updCheck
	if check == "" {
		check = p.upd
	}
	out := []string{
		fmt.Sprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY", t),
		fmt.Sprintf("ALTER TABLE %s FORCE ROW LEVEL SECURITY", t),
		fmt.Sprintf("CREATE POLICY %s ON %s AS PERMISSIVE FOR SELECT TO %s USING (%s)", name("select"), t, appRole, p.sel),
		fmt.Sprintf("CREATE POLICY %s ON %s AS PERMISSIVE FOR INSERT TO %s WITH CHECK (%s)", name("insert"), t, appRole, p.ins),
		fmt.Sprintf("CREATE POLICY %s ON %s AS PERMISSIVE FOR UPDATE TO %s USING (%s) WITH CHECK (%s)", name("update"), t, appRole, p.upd, check),
		fmt.Sprintf("CREATE POLICY %s ON %s AS PERMISSIVE FOR DELETE TO %s USING (%s)", name("delete"), t, appRole, p.del),
	}
	if p.updColumns == nil {
		return append(out, fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE %s TO %s", t, appRole))
	}
	return append(out,
		fmt.Sprintf("GRANT SELECT, INSERT, DELETE ON TABLE %s TO %s", t, appRole),
		updateGrantSQL(table, p.updColumns))
}

// updateGrantSQL grants the app role UPDATE on cols of table.
func updateGrantSQL(table string, cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = quoteIdent(c)
	}
	return fmt.Sprintf("GRANT UPDATE (%s) ON TABLE %s TO %s", strings.Join(q, ", "), quoteIdent(table), appRole)
}

// rowCountsTable keeps the row counts of the other tenant-scoped tables
// (ent/schema/rowcount.go); it is not counted itself.
const rowCountsTable = "row_counts"

// countSQL returns the triggers that keep table's rows counted in
// row_counts (mtdb_count_rows).
func countSQL(table string) []string {
	if table == rowCountsTable {
		return nil
	}
	t := quoteIdent(table)
	var out []string
	for _, tr := range []struct{ name, when string }{
		{"_count_insert", "AFTER INSERT ON %s REFERENCING NEW TABLE AS mtdb_new FOR EACH STATEMENT"},
		{"_count_delete", "AFTER DELETE ON %s REFERENCING OLD TABLE AS mtdb_old FOR EACH STATEMENT"},
		// Transition tables cannot go with a column list: a row trigger.
		{"_count_move", "AFTER UPDATE OF tenant_id ON %s FOR EACH ROW WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)"},
	} {
		name := quoteIdent(table + tr.name)
		out = append(out,
			fmt.Sprintf("DROP TRIGGER IF EXISTS %s ON %s", name, t),
			fmt.Sprintf("CREATE TRIGGER %s "+tr.when+" EXECUTE FUNCTION mtdb_count_rows()", name, t))
	}
	return out
}

// quoteIdent quotes a PostgreSQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
