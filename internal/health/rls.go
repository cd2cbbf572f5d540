package health

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mtdb/mtdb/internal/migrate"
	"github.com/mtdb/mtdb/internal/tenant"
)

// TenantsTable is the table of tenants: not tenant-scoped, but guarded by
// row-level security of its own.
const TenantsTable = migrate.TenantsTable

// Finding is one violated isolation guarantee (CONTRACT §4).
type Finding struct {
	Subject string // the role or table concerned
	Problem string
}

// String returns "<subject>: <problem>", e.g.
// "users: row level security is not forced".
func (f Finding) String() string { return f.Subject + ": " + f.Problem }

// RLSCheck adapts CheckRLS to the Options.RLS shape: one line per finding.
func RLSCheck(db *sql.DB, appRole string, tables []string) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		findings, err := CheckRLS(ctx, db, appRole, tables)
		if err != nil {
			return nil, err
		}
		lines := make([]string, len(findings))
		for i, f := range findings {
			lines[i] = f.String()
		}
		return lines, nil
	}
}

// CheckRLS verifies, in the connected database, the guarantees of CONTRACT
// §4 that the schema must provide, for the restricted role appRole (default
// tenant.AppRole) and the tenant-scoped tables (usually
// migrate.TenantScopedTables()). It enters appRole with the same settings
// statement as every request and checks that:
//   - the role exists, can be entered, is no superuser, has no BYPASSRLS,
//     owns no relation and cannot become a role that owns one or that is a
//     superuser or has BYPASSRLS;
//   - each tenant-scoped table and the tenants table exists, has row-level
//     security enabled and forced, and a policy applying to appRole for each
//     of SELECT, INSERT, UPDATE and DELETE (a policy FOR ALL counts for all);
//     each tenant-scoped table has a uuid NOT NULL tenant_id;
//   - foreign keys between tenant-scoped tables include tenant_id;
//   - no other table of the current schema has a tenant_id column (it would
//     be a tenant-scoped table nobody checks);
//   - appRole cannot create objects in the current schema nor temporary
//     objects in the database, no relation outside the current schema (a
//     temporary one included) is named like an application table, and
//     every mtdb_* function there runs with a search_path listing pg_temp
//     last;
//   - each tenant-scoped table and tenants has its enabled audit trigger,
//     and audit_events is append-only for appRole (see auditFindings).
//
// It returns the findings (none when every guarantee holds) and an error
// only when the check itself could not run (database unreachable, ...).
// A role that does not exist or cannot be entered is a finding: the check
// fails closed.
func CheckRLS(ctx context.Context, db *sql.DB, appRole string, tables []string) ([]Finding, error) {
	if appRole == "" {
		appRole = tenant.AppRole
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("rls check: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // read-only: nothing to commit

	var findings []Finding
	entered, problem, err := enterRole(ctx, tx, appRole)
	if err != nil {
		return nil, err
	}
	if problem != "" {
		findings = append(findings, Finding{appRole, problem})
		// The session is aborted or was never entered: inspect the
		// catalogs as the login role instead.
		_ = tx.Rollback()
		// Not assigned to tx before it succeeded: the deferred Rollback
		// above would run on a nil *sql.Tx (a panic that ended the
		// process when the database went away in between).
		again, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return nil, fmt.Errorf("rls check: %w", err)
		}
		tx = again
	}
	if entered {
		f, err := roleFindings(ctx, tx, appRole)
		if err != nil {
			return nil, err
		}
		findings = append(findings, f...)
	}
	// Which policies apply can only be asked of an existing role.
	exists := entered || problem != problemNoRole
	f, err := tableFindings(ctx, tx, appRole, exists, tables)
	if err != nil {
		return nil, err
	}
	findings = append(findings, f...)
	f, err = auditFindings(ctx, tx, appRole, exists, migrate.AuditedAmong(tables))
	if err != nil {
		return nil, err
	}
	findings = append(findings, f...)
	f, err = schemaFindings(ctx, tx, appRole, exists, append([]string{TenantsTable}, tables...))
	if err != nil {
		return nil, err
	}
	return append(findings, f...), nil
}

// schemaFindings checks that appRole cannot create objects in the current
// schema (an object of its own there could shadow or replace ours) nor
// temporary objects (the temporary schema, unless listed, is searched first
// for tables and types); that no relation outside the current schema, a
// temporary one of any session included, is named like one of tables (it
// shadows the table for every search_path that lists its schema first);
// and that every helper function of the migrations (mtdb_*) runs with a
// search_path listing pg_temp last, so a temporary table named tenants
// cannot decide what the policies let through.
func schemaFindings(ctx context.Context, tx *sql.Tx, appRole string, roleExists bool, tables []string) ([]Finding, error) {
	var findings []Finding
	if roleExists {
		var schema, db string
		var create, temp bool
		if err := tx.QueryRowContext(ctx,
			`SELECT current_schema()::text, pg_catalog.has_schema_privilege($1, current_schema(), 'CREATE'),
			        current_database()::text, pg_catalog.has_database_privilege($1, current_database(), 'TEMPORARY')`,
			appRole).Scan(&schema, &create, &db, &temp); err != nil {
			return nil, fmt.Errorf("rls check: reading schema privileges: %w", err)
		}
		if create {
			findings = append(findings, Finding{appRole, "role may create objects in schema " + schema})
		}
		if temp {
			findings = append(findings, Finding{appRole, "role may create temporary objects in database " + db +
				" (TEMPORARY, usually through PUBLIC); they can shadow application tables"})
		}
	}
	rows, err := tx.QueryContext(ctx, `
SELECT n.nspname::text, c.relname::text
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = ANY ($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.oid <> current_schema()::regnamespace
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
ORDER BY 1, 2`, tables)
	if err != nil {
		return nil, fmt.Errorf("rls check: reading shadowing relations: %w", err)
	}
	for rows.Next() {
		var schema, name string
		if err := rows.Scan(&schema, &name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("rls check: %w", err)
		}
		findings = append(findings, Finding{"relation " + schema + "." + name,
			"is named like application table " + name + " and can shadow it"})
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	rows, err = tx.QueryContext(ctx, `
SELECT p.proname::text,
       COALESCE((SELECT c FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%' LIMIT 1), '')
FROM pg_catalog.pg_proc p
WHERE p.pronamespace = current_schema()::regnamespace AND p.proname LIKE 'mtdb\_%'
ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("rls check: reading functions: %w", err)
	}
	for rows.Next() {
		var name, setting string
		if err := rows.Scan(&name, &setting); err != nil {
			rows.Close()
			return nil, fmt.Errorf("rls check: %w", err)
		}
		if !pgTempLast(strings.TrimPrefix(setting, "search_path=")) {
			findings = append(findings, Finding{"function " + name,
				"search_path does not list pg_temp last (temporary objects can shadow its tables and types)"})
		}
	}
	return findings, closeRows(rows)
}

// pgTempLast reports whether the search_path value path ends with pg_temp.
func pgTempLast(path string) bool {
	if path == "" {
		return false
	}
	parts := strings.Split(path, ",")
	last := strings.Trim(strings.TrimSpace(parts[len(parts)-1]), `"`)
	return last == "pg_temp"
}

// problemNoRole is the finding for an app role that does not exist.
const problemNoRole = "role does not exist"

// enterRole runs the settings statement (no tenant) in tx. entered is true
// when tx now runs as appRole; problem is set when the role is missing or
// cannot be entered (tx is then unusable).
func enterRole(ctx context.Context, tx *sql.Tx, appRole string) (entered bool, problem string, err error) {
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)`, appRole).Scan(&exists); err != nil {
		return false, "", fmt.Errorf("rls check: looking up role: %w", err)
	}
	if !exists {
		return false, problemNoRole, nil
	}
	// Only the role: the full settings statement calls mtdb_enter, which a
	// database with pending migrations may not have yet (that is its own
	// finding).
	if _, err := tx.ExecContext(ctx, `SELECT set_config('role', $1, true)`, appRole); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			return false, "the login role cannot enter this role (" + pgErr.Message + ")", nil
		}
		return false, "", fmt.Errorf("rls check: entering role: %w", err)
	}
	var current string
	if err := tx.QueryRowContext(ctx, `SELECT current_user::text`).Scan(&current); err != nil {
		return false, "", fmt.Errorf("rls check: %w", err)
	}
	if current != appRole {
		return false, fmt.Sprintf("entering the role left current_user = %s", current), nil
	}
	return true, "", nil
}

// roleFindings checks the attributes of the current role (appRole).
func roleFindings(ctx context.Context, tx *sql.Tx, appRole string) ([]Finding, error) {
	var findings []Finding
	add := func(format string, a ...any) {
		findings = append(findings, Finding{appRole, fmt.Sprintf(format, a...)})
	}

	var super, bypass bool
	if err := tx.QueryRowContext(ctx,
		`SELECT rolsuper, rolbypassrls FROM pg_catalog.pg_roles WHERE rolname = current_user`).Scan(&super, &bypass); err != nil {
		return nil, fmt.Errorf("rls check: reading role attributes: %w", err)
	}
	if super {
		add("role is a superuser")
	}
	if bypass {
		add("role has BYPASSRLS")
	}
	if super {
		return findings, nil // a superuser may become any role and owns everything
	}

	// Roles appRole may become (itself included) that are superusers or
	// bypass row-level security.
	rows, err := tx.QueryContext(ctx, `
SELECT r.rolname::text, r.rolsuper, r.rolbypassrls
FROM pg_catalog.pg_roles r
WHERE r.rolname <> $1 AND (r.rolsuper OR r.rolbypassrls) AND pg_has_role($1, r.oid, 'MEMBER')
ORDER BY 1`, appRole)
	if err != nil {
		return nil, fmt.Errorf("rls check: reading role memberships: %w", err)
	}
	for rows.Next() {
		var name string
		var s, b bool
		if err := rows.Scan(&name, &s, &b); err != nil {
			rows.Close()
			return nil, fmt.Errorf("rls check: %w", err)
		}
		what := "is a superuser"
		if !s {
			what = "has BYPASSRLS"
		}
		add("role is a member of role %s, which %s", name, what)
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}

	// Relations owned by appRole or by a role it may become: an owner can
	// switch row-level security off.
	rows, err = tx.QueryContext(ctx, `
SELECT n.nspname::text, c.relname::text, pg_catalog.pg_get_userbyid(c.relowner)::text
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
  AND pg_has_role($1, c.relowner, 'MEMBER')
ORDER BY 1, 2`, appRole)
	if err != nil {
		return nil, fmt.Errorf("rls check: reading table owners: %w", err)
	}
	for rows.Next() {
		var schema, table, owner string
		if err := rows.Scan(&schema, &table, &owner); err != nil {
			rows.Close()
			return nil, fmt.Errorf("rls check: %w", err)
		}
		if owner == appRole {
			add("role owns table %s.%s", schema, table)
		} else {
			add("role can become role %s, owner of table %s.%s", owner, schema, table)
		}
	}
	return findings, closeRows(rows)
}

func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("rls check: %w", err)
	}
	return nil
}
