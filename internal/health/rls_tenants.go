package health

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// tenantsFixedColumns are the columns of tenants no request may change
// (CONTRACT, Tenants: a tenant's type and parent never change; its id and
// creation time are its identity). The migrations grant the app role
// UPDATE on the other columns only.
var tenantsFixedColumns = []string{"id", "tenant_type", "parent_tenant_id", "created_at"}

// tenantsWriteFindings checks the write rules of the tenants table (oid)
// for appRole, which reads every tenant of its context but writes fewer:
//   - no UPDATE on the whole table, nor on tenantsFixedColumns;
//   - every INSERT or UPDATE policy applying to appRole that lets a row
//     through by the current tenant also tests the caller's role
//     (mtdb_is_tenant_admin()): an UPDATE policy equal to visibility
//     lets a member rename, rewrite or soft-delete its tenant.
func tenantsWriteFindings(ctx context.Context, tx *sql.Tx, appRole string, oid uint32) ([]Finding, error) {
	var findings []Finding
	add := func(problem string) { findings = append(findings, Finding{TenantsTable, problem}) }
	var whole bool
	var cols string
	err := tx.QueryRowContext(ctx, `
SELECT pg_catalog.has_table_privilege($1, $2::oid, 'UPDATE'),
       COALESCE(string_agg(a.attname::text, ', ' ORDER BY a.attnum)
                FILTER (WHERE a.attname = ANY ($3) AND pg_catalog.has_column_privilege($1, a.attrelid, a.attnum, 'UPDATE')), '')
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = $2::oid AND a.attnum > 0 AND NOT a.attisdropped`, appRole, oid, tenantsFixedColumns).Scan(&whole, &cols)
	if err != nil {
		return nil, fmt.Errorf("rls check: reading column privileges of %s: %w", TenantsTable, err)
	}
	if whole {
		add(fmt.Sprintf("role %s may update every column (UPDATE must be granted on the writable columns only)", appRole))
	} else if cols != "" {
		add(fmt.Sprintf("role %s may update %s, which never change", appRole, cols))
	}
	rows, err := tx.QueryContext(ctx, `
SELECT p.polname::text, p.polcmd::text,
       COALESCE(pg_catalog.pg_get_expr(p.polqual, p.polrelid), ''),
       COALESCE(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), '')
FROM pg_catalog.pg_policy p
WHERE p.polrelid = $1 AND p.polpermissive AND p.polcmd IN ('a', 'w', '*')
  AND (0 = ANY (p.polroles)
       OR EXISTS (SELECT 1 FROM unnest(p.polroles) r(oid) WHERE r.oid <> 0 AND pg_has_role($2, r.oid, 'USAGE')))
ORDER BY 1`, oid, appRole)
	if err != nil {
		return nil, fmt.Errorf("rls check: reading policies of %s: %w", TenantsTable, err)
	}
	for rows.Next() {
		var name, cmd, using, check string
		if err := rows.Scan(&name, &cmd, &using, &check); err != nil {
			rows.Close()
			return nil, fmt.Errorf("rls check: %w", err)
		}
		if check == "" {
			check = using // an UPDATE policy without WITH CHECK checks new rows with USING
		}
		exprs := []string{check}
		if cmd != "a" {
			exprs = append(exprs, using)
		}
		for _, e := range exprs {
			if strings.Contains(e, "mtdb_current_tenant()") && !strings.Contains(e, "mtdb_is_tenant_admin()") {
				add(fmt.Sprintf("policy %s lets every role acting in a tenant write it (no mtdb_is_tenant_admin() test)", name))
				break
			}
		}
	}
	return findings, closeRows(rows)
}
