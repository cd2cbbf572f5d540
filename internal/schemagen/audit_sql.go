package schemagen

import (
	"fmt"
	"strings"

	mtdbmigrate "github.com/mtdb/mtdb/internal/migrate"
)

// The audit trail: one generic trigger function, mtdb_audit(), and one
// AFTER INSERT OR UPDATE OR DELETE row trigger per audited table (tenants
// and every tenant-scoped table), written by the Formatter next to the
// table's row-level security so that a new entity cannot ship without it.

// AuditFunction is the trigger function every audit trigger executes
// (named by internal/migrate, which the self-check reads too).
const AuditFunction = mtdbmigrate.AuditFunction

// auditFunctionSQL creates mtdb_audit(). It runs as its owner, the
// migration owner (SECURITY DEFINER): the app role has no INSERT on
// audit_events, so this function is the only way an event is written, and
// it writes in the transaction that made the change. The owner is not
// subject to audit_events' row-level security (enabled, not forced).
// search_path is pinned with pg_temp last and every name is
// schema-qualified, so nothing of the caller's can stand in for
// audit_events or a function.
//
// The event: the row's tenant (tenants: the row itself), table, row id
// (the id column), operation (an UPDATE that sets deleted_at on a live row
// is a soft delete and recorded as "delete"), the changed columns as
// {"col": {"old": ..., "new": ...}} (insert: only new; delete: only old;
// update: only the columns whose value changed), a redacted column
// recorded as {"changed": true}; the actor's sub and role, and the request
// id, from the transaction-local settings. An UPDATE whose changed columns
// are all ignored ones records nothing.
//
// The trigger's arguments name the redacted columns, then, after an empty
// argument (no column has an empty name), the ignored ones (auditTriggerSQL).
//
// EXECUTE is revoked from PUBLIC: creating a trigger needs it, so the app
// role cannot attach the function to a table of its own (a temporary table
// named users would otherwise forge events); triggers on temporary tables
// are refused as well.
var auditFunctionSQL = []string{
	`CREATE OR REPLACE FUNCTION ` + AuditFunction + `() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
` + pinnedSearchPath + `
AS $$
DECLARE
  o jsonb;
  n jsonb;
  r jsonb;
  op text := pg_catalog.lower(TG_OP);
  changes jsonb;
  sep integer := pg_catalog.array_position(TG_ARGV, '');
  redacted text[] := CASE WHEN sep IS NULL THEN COALESCE(TG_ARGV, '{}') ELSE TG_ARGV[0:sep - 1] END;
  ignored text[] := CASE WHEN sep IS NULL THEN '{}' ELSE TG_ARGV[sep + 1:TG_NARGS - 1] END;
BEGIN
  IF TG_TABLE_SCHEMA LIKE 'pg\_temp%' THEN
    RAISE EXCEPTION 'mtdb_audit: temporary table %.% is not audited', TG_TABLE_SCHEMA, TG_TABLE_NAME
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF TG_OP <> 'INSERT' THEN o := pg_catalog.to_jsonb(OLD); END IF;
  IF TG_OP <> 'DELETE' THEN n := pg_catalog.to_jsonb(NEW); END IF;
  r := COALESCE(n, o);
  IF TG_OP = 'UPDATE' AND pg_catalog.jsonb_typeof(o -> 'deleted_at') = 'null'
     AND pg_catalog.jsonb_typeof(n -> 'deleted_at') IS DISTINCT FROM 'null' THEN
    op := 'delete';
  END IF;
  SELECT COALESCE(pg_catalog.jsonb_object_agg(k, CASE
           WHEN k = ANY (redacted) THEN '{"changed": true}'::jsonb
           WHEN TG_OP = 'INSERT' THEN pg_catalog.jsonb_build_object('new', n -> k)
           WHEN TG_OP = 'DELETE' THEN pg_catalog.jsonb_build_object('old', o -> k)
           ELSE pg_catalog.jsonb_build_object('old', o -> k, 'new', n -> k) END), '{}'::jsonb)
    INTO changes
    FROM pg_catalog.jsonb_object_keys(r) AS k
   WHERE TG_OP <> 'UPDATE' OR (o -> k) IS DISTINCT FROM (n -> k);
  IF TG_OP = 'UPDATE' AND changes <> '{}'::jsonb
     AND NOT EXISTS (SELECT FROM pg_catalog.jsonb_object_keys(changes) AS k WHERE k <> ALL (ignored)) THEN
    RETURN NULL;
  END IF;
  INSERT INTO public.audit_events
    (tenant_id, table_name, row_id, operation, changes, actor_sub, actor_role, request_id, occurred_at)
  VALUES (
    CASE WHEN TG_TABLE_NAME = 'tenants' THEN (r ->> 'id')::uuid ELSE (r ->> 'tenant_id')::uuid END,
    TG_TABLE_NAME, (r ->> 'id')::uuid, op, changes,
    COALESCE(pg_catalog.current_setting('app.user_id', true), ''),
    COALESCE(pg_catalog.current_setting('app.role', true), ''),
    COALESCE(pg_catalog.current_setting('app.request_id', true), ''),
    pg_catalog.now());
  RETURN NULL;
END
$$`,
	`REVOKE ALL ON FUNCTION ` + AuditFunction + `() FROM PUBLIC`,
}

// auditPolicy is the row filter of audit_events for the app role: a
// platform admin reads every event, anyone else those of the tenants
// tenant-scoped rows are visible for (tenantPolicy).
const auditPolicy = "(SELECT mtdb_is_platform_admin()) OR " + tenantPolicy

// auditTableSQL makes table (audit_events) readable, and only readable, by
// the app role: row-level security enabled with a SELECT policy, and SELECT
// as its only privilege. Row-level security is not forced, so the owner
// (mtdb_audit(), mtdb audit prune) is not subject to it.
func auditTableSQL(table string) []string {
	t := quoteIdent(table)
	return []string{
		fmt.Sprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY", t),
		fmt.Sprintf("CREATE POLICY %s ON %s AS PERMISSIVE FOR SELECT TO %s USING (%s)", quoteIdent(table+"_select"), t, appRole, auditPolicy),
		fmt.Sprintf("REVOKE ALL ON TABLE %s FROM PUBLIC", t),
		fmt.Sprintf("GRANT SELECT ON TABLE %s TO %s", t, appRole),
	}
}

// AuditTriggerName returns the name of the audit trigger of table.
func AuditTriggerName(table string) string { return table + "_audit" }

// auditTriggerSQL (re)creates the audit trigger of table; the values of the
// redacted columns are not recorded, and an update of only ignored columns
// is not recorded at all. The arguments: the redacted columns, then, when
// there are ignored columns, an empty one and the ignored ones.
func auditTriggerSQL(table string, redacted, ignored []string) []string {
	args := make([]string, 0, len(redacted)+1+len(ignored))
	for _, c := range redacted {
		args = append(args, quoteLiteral(c))
	}
	if len(ignored) > 0 {
		args = append(args, quoteLiteral(""))
		for _, c := range ignored {
			args = append(args, quoteLiteral(c))
		}
	}
	name, t := quoteIdent(AuditTriggerName(table)), quoteIdent(table)
	return []string{
		fmt.Sprintf("DROP TRIGGER IF EXISTS %s ON %s", name, t),
		fmt.Sprintf("CREATE TRIGGER %s AFTER INSERT OR UPDATE OR DELETE ON %s\nFOR EACH ROW EXECUTE FUNCTION %s(%s)",
			name, t, AuditFunction, strings.Join(args, ", ")),
	}
}

// quoteLiteral quotes a PostgreSQL string literal.
func quoteLiteral(s string) string {
	return `'` + strings.ReplaceAll(s, `'`, `''`) + `'`
}
