package health

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/mtdb/mtdb/internal/migrate"
)

// The audit trail's names; internal/migrate owns them.
const (
	// auditTable is the append-only table the audit triggers write.
	auditTable = migrate.AuditTable
	// auditFunction is the trigger function of every audit trigger.
	auditFunction = migrate.AuditFunction
)

// auditFindings checks the audit trail: every audited table (the
// tenant-scoped ones and tenants) has an enabled row-level AFTER INSERT OR
// UPDATE OR DELETE trigger executing mtdb_audit(), unconditional and for
// every column; mtdb_audit() runs as its owner, which is not appRole, and
// appRole cannot execute it (so it cannot attach it to a table of its
// own); audit_events has row-level security with a SELECT policy for
// appRole, and appRole may only read it (no INSERT, UPDATE, DELETE,
// TRUNCATE, REFERENCES or TRIGGER).
func auditFindings(ctx context.Context, tx *sql.Tx, appRole string, roleExists bool, audited []string) ([]Finding, error) {
	var findings []Finding
	for _, table := range audited {
		f, err := auditTriggerFindings(ctx, tx, table)
		if err != nil {
			return nil, err
		}
		findings = append(findings, f...)
	}

	var (
		fn                          sql.NullString
		secdef, ownedByApp, execute bool
	)
	err := tx.QueryRowContext(ctx, `
SELECT p.oid::regprocedure::text, p.prosecdef,
       CASE WHEN $2 = '' THEN false ELSE pg_has_role($2, p.proowner, 'MEMBER') END,
       CASE WHEN $2 = '' THEN false ELSE has_function_privilege($2, p.oid, 'EXECUTE') END
FROM pg_catalog.pg_proc p
WHERE p.pronamespace = current_schema()::regnamespace AND p.proname = $1`,
		auditFunction, roleIf(roleExists, appRole)).Scan(&fn, &secdef, &ownedByApp, &execute)
	switch {
	case err == sql.ErrNoRows:
		findings = append(findings, Finding{"function " + auditFunction, "does not exist"})
	case err != nil:
		return nil, fmt.Errorf("rls check: reading %s: %w", auditFunction, err)
	default:
		if !secdef {
			findings = append(findings, Finding{"function " + auditFunction, "is not SECURITY DEFINER"})
		}
		if ownedByApp {
			findings = append(findings, Finding{"function " + auditFunction, "is owned by a role " + appRole + " can become"})
		}
		if execute {
			findings = append(findings, Finding{"function " + auditFunction, "role " + appRole + " may execute it (and attach it to a table of its own)"})
		}
	}

	var oid uint32
	var enabled bool
	err = tx.QueryRowContext(ctx, `
SELECT c.oid, c.relrowsecurity FROM pg_catalog.pg_class c
WHERE c.oid = to_regclass(quote_ident($1)) AND c.relkind IN ('r', 'p')`, auditTable).Scan(&oid, &enabled)
	switch {
	case err == sql.ErrNoRows:
		return append(findings, Finding{auditTable, "table does not exist"}), nil
	case err != nil:
		return nil, fmt.Errorf("rls check: reading table %s: %w", auditTable, err)
	}
	if !enabled {
		findings = append(findings, Finding{auditTable, "row level security is not enabled"})
	}
	if !roleExists {
		return findings, nil
	}
	f, err := policyFindings(ctx, tx, appRole, auditTable, oid)
	if err != nil {
		return nil, err
	}
	for _, x := range f {
		if x.Problem == fmt.Sprintf("no SELECT policy applies to role %s", appRole) {
			findings = append(findings, x) // only SELECT is wanted: writes are refused by privilege
		}
	}
	for _, priv := range []string{"INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"} {
		var has bool
		if err := tx.QueryRowContext(ctx, `SELECT has_table_privilege($1, $2::oid, $3)`, appRole, oid, priv).Scan(&has); err != nil {
			return nil, fmt.Errorf("rls check: reading privileges on %s: %w", auditTable, err)
		}
		if has {
			findings = append(findings, Finding{auditTable, fmt.Sprintf("role %s has %s (the audit trail must be append-only through %s())", appRole, priv, auditFunction)})
		}
	}
	var sel bool
	if err := tx.QueryRowContext(ctx, `SELECT has_table_privilege($1, $2::oid, 'SELECT')`, appRole, oid).Scan(&sel); err != nil {
		return nil, fmt.Errorf("rls check: reading privileges on %s: %w", auditTable, err)
	}
	if !sel {
		findings = append(findings, Finding{auditTable, fmt.Sprintf("role %s cannot read it", appRole)})
	}
	return findings, nil
}

// auditTriggerFindings reports a missing, disabled or partial audit trigger
// on table. A table that does not exist is reported elsewhere.
func auditTriggerFindings(ctx context.Context, tx *sql.Tx, table string) ([]Finding, error) {
	// tgtype bits: 1 row, 2 before, 4 insert, 8 delete, 16 update, 64
	// instead of. tgenabled: O and A fire in normal sessions, R only under
	// session_replication_role = replica, D never.
	rows, err := tx.QueryContext(ctx, `
SELECT t.tgname::text, t.tgenabled::text IN ('O', 'A'),
       (t.tgtype & 1) = 1 AND (t.tgtype & 66) = 0 AND (t.tgtype & 28) = 28
         AND t.tgqual IS NULL AND COALESCE(pg_catalog.array_length(t.tgattr, 1), 0) = 0
FROM pg_catalog.pg_trigger t
JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
WHERE t.tgrelid = to_regclass(quote_ident($1)) AND NOT t.tgisinternal
  AND p.proname = $2 AND p.pronamespace = current_schema()::regnamespace
ORDER BY 1`, table, auditFunction)
	if err != nil {
		return nil, fmt.Errorf("rls check: reading triggers of %s: %w", table, err)
	}
	var (
		found, ok bool
		problems  []Finding
	)
	for rows.Next() {
		var name string
		var enabled, complete bool
		if err := rows.Scan(&name, &enabled, &complete); err != nil {
			rows.Close()
			return nil, fmt.Errorf("rls check: %w", err)
		}
		found = true
		switch {
		case !enabled:
			problems = append(problems, Finding{table, "audit trigger " + name + " is disabled"})
		case !complete:
			problems = append(problems, Finding{table, "audit trigger " + name + " is not an unconditional AFTER INSERT OR UPDATE OR DELETE row trigger"})
		default:
			ok = true
		}
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	if !found {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT to_regclass(quote_ident($1)) IS NOT NULL`, table).Scan(&exists); err != nil {
			return nil, fmt.Errorf("rls check: %w", err)
		}
		if !exists {
			return nil, nil
		}
		return []Finding{{table, "audit trigger is missing (no trigger executes " + auditFunction + "())"}}, nil
	}
	if ok {
		return nil, nil
	}
	return problems, nil
}

// roleIf returns role when exists, else "" (privilege functions fail on an
// unknown role).
func roleIf(exists bool, role string) string {
	if exists {
		return role
	}
	return ""
}
