package health

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// commands are the policy commands every guarded table needs, with their
// pg_policy.polcmd codes ('*' is FOR ALL and counts for each).
var commands = []struct{ code, name string }{
	{"r", "SELECT"}, {"a", "INSERT"}, {"w", "UPDATE"}, {"d", "DELETE"},
}

// tableInfo is what the check learns about one guarded table.
type tableInfo struct {
	oid    uint32
	scoped bool
}

// tableFindings checks the tenant-scoped tables, the tenants table, the
// foreign keys between tenant-scoped tables and unlisted tenant_id columns.
// Policies are only checked when roleExists.
func tableFindings(ctx context.Context, tx *sql.Tx, appRole string, roleExists bool, scoped []string) ([]Finding, error) {
	var findings []Finding
	guarded := map[string]tableInfo{}
	names := append(slices.Clone(scoped), TenantsTable)
	for i, name := range names {
		isScoped := i < len(scoped)
		f, oid, err := checkTable(ctx, tx, appRole, roleExists, name, isScoped)
		if err != nil {
			return nil, err
		}
		findings = append(findings, f...)
		if oid != 0 {
			guarded[name] = tableInfo{oid: oid, scoped: isScoped}
		}
	}
	f, err := foreignKeyFindings(ctx, tx, guarded)
	if err != nil {
		return nil, err
	}
	findings = append(findings, f...)

	rows, err := tx.QueryContext(ctx, `
SELECT c.relname::text
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND a.attname = 'tenant_id' AND NOT a.attisdropped
ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("rls check: listing tenant_id columns: %w", err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("rls check: %w", err)
		}
		if !slices.Contains(scoped, name) && name != auditTable {
			findings = append(findings, Finding{name, "has a tenant_id column but is not a known tenant-scoped table"})
		}
	}
	return findings, closeRows(rows)
}

// checkTable checks one guarded table; oid is 0 when it does not exist.
func checkTable(ctx context.Context, tx *sql.Tx, appRole string, roleExists bool, name string, scoped bool) ([]Finding, uint32, error) {
	var findings []Finding
	add := func(problem string) { findings = append(findings, Finding{name, problem}) }

	var (
		oid             uint32
		enabled, forced bool
	)
	err := tx.QueryRowContext(ctx, `
SELECT c.oid, c.relrowsecurity, c.relforcerowsecurity
FROM pg_catalog.pg_class c
WHERE c.oid = to_regclass(quote_ident($1)) AND c.relkind IN ('r', 'p')`, name).Scan(&oid, &enabled, &forced)
	if err == sql.ErrNoRows {
		add("table does not exist")
		return findings, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("rls check: reading table %s: %w", name, err)
	}
	if !enabled {
		add("row level security is not enabled")
	}
	if !forced {
		add("row level security is not forced")
	}

	if roleExists {
		f, err := policyFindings(ctx, tx, appRole, name, oid)
		if err != nil {
			return nil, 0, err
		}
		findings = append(findings, f...)
		if name == TenantsTable {
			f, err := tenantsWriteFindings(ctx, tx, appRole, oid)
			if err != nil {
				return nil, 0, err
			}
			findings = append(findings, f...)
		}
	}
	if scoped {
		var typ string
		var notNull bool
		err := tx.QueryRowContext(ctx, `
SELECT format_type(a.atttypid, a.atttypmod), a.attnotnull
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = $1 AND a.attname = 'tenant_id' AND NOT a.attisdropped`, oid).Scan(&typ, &notNull)
		switch {
		case err == sql.ErrNoRows:
			add("tenant_id column is missing")
		case err != nil:
			return nil, 0, fmt.Errorf("rls check: reading tenant_id of %s: %w", name, err)
		case typ != "uuid" || !notNull:
			add("tenant_id is not uuid NOT NULL")
		}
	}
	return findings, oid, nil
}

// policyFindings reports the commands of table (oid) for which no policy
// applies to appRole.
func policyFindings(ctx context.Context, tx *sql.Tx, appRole, name string, oid uint32) ([]Finding, error) {
	var findings []Finding
	// Policies that apply to appRole: to PUBLIC (0) or to a role whose
	// privileges appRole has.
	rows, err := tx.QueryContext(ctx, `
SELECT p.polcmd::text
FROM pg_catalog.pg_policy p
WHERE p.polrelid = $1
  AND (0 = ANY (p.polroles)
       OR EXISTS (SELECT 1 FROM unnest(p.polroles) r(oid) WHERE r.oid <> 0 AND pg_has_role($2, r.oid, 'USAGE')))`,
		oid, appRole)
	if err != nil {
		return nil, fmt.Errorf("rls check: reading policies of %s: %w", name, err)
	}
	have := map[string]bool{}
	for rows.Next() {
		var cmd string
		if err := rows.Scan(&cmd); err != nil {
			rows.Close()
			return nil, fmt.Errorf("rls check: %w", err)
		}
		have[cmd] = true
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	for _, c := range commands {
		if !have[c.code] && !have["*"] {
			findings = append(findings, Finding{name, fmt.Sprintf("no %s policy applies to role %s", c.name, appRole)})
		}
	}
	return findings, nil
}

// foreignKeyFindings reports foreign keys between tenant-scoped tables that
// do not include tenant_id, unless another foreign key between the same
// tables covers the same columns plus tenant_id (then the reference cannot
// cross tenants either).
func foreignKeyFindings(ctx context.Context, tx *sql.Tx, guarded map[string]tableInfo) ([]Finding, error) {
	byOID := map[uint32]string{}
	for name, t := range guarded {
		if t.scoped {
			byOID[t.oid] = name
		}
	}
	type fk struct {
		name, from, to string
		cols           []string
		withTenant     bool
	}
	var fks []fk
	for oid, from := range byOID {
		rows, err := tx.QueryContext(ctx, `
SELECT con.conname::text, con.confrelid,
       array_to_string(ARRAY(SELECT a.attname::text FROM unnest(con.conkey) k(n)
                             JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n
                             WHERE a.attname <> 'tenant_id' ORDER BY 1), ','),
       EXISTS (SELECT 1 FROM unnest(con.conkey) k(n)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n
               WHERE a.attname = 'tenant_id')
FROM pg_catalog.pg_constraint con
WHERE con.contype = 'f' AND con.conrelid = $1`, oid)
		if err != nil {
			return nil, fmt.Errorf("rls check: reading foreign keys of %s: %w", from, err)
		}
		for rows.Next() {
			var (
				f      fk
				target uint32
				cols   string
			)
			if err := rows.Scan(&f.name, &target, &cols, &f.withTenant); err != nil {
				rows.Close()
				return nil, fmt.Errorf("rls check: %w", err)
			}
			to, ok := byOID[target]
			if !ok {
				continue
			}
			f.from, f.to, f.cols = from, to, strings.Split(cols, ",")
			fks = append(fks, f)
		}
		if err := closeRows(rows); err != nil {
			return nil, err
		}
	}
	var findings []Finding
	for _, f := range fks {
		if f.withTenant {
			continue
		}
		covered := slices.ContainsFunc(fks, func(g fk) bool {
			return g.withTenant && g.from == f.from && g.to == f.to && slices.Equal(g.cols, f.cols)
		})
		if !covered {
			findings = append(findings, Finding{f.from, fmt.Sprintf("foreign key %s to %s does not include tenant_id", f.name, f.to)})
		}
	}
	slices.SortFunc(findings, func(a, b Finding) int { return strings.Compare(a.String(), b.String()) })
	return findings, nil
}
