package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mtdb/mtdb/internal/tenant"
)

// rlsRow compares one query through the policies with the same query on a
// copy of the table without row-level security, filtered by hand.
type rlsRow struct {
	Tenant string  `json:"tenant"`
	Query  string  `json:"query"`
	RLS    result  `json:"rls"`
	Plain  result  `json:"plain"`
	Overhd float64 `json:"overhead_pct"` // (plain rps / rls rps - 1) × 100
	// PlPgSQL is the same policy over a copy whose visible-tenants function
	// is written in PL/pgSQL (its plan is cached per session) instead of SQL
	// (planned again in every statement): the proposed fix.
	PlPgSQL       result  `json:"rls_plpgsql"`
	PlPgSQLOverhd float64 `json:"rls_plpgsql_overhead_pct"`
	// At concurrency 1 the latencies are less disturbed by the load
	// generator's own CPU: p50 through the policies and plain.
	RLSP50c1   float64 `json:"rls_p50_ms_c1"`
	PlainP50c1 float64 `json:"plain_p50_ms_c1"`
	Summary    string  `json:"summary"`
}

const (
	plainTable    = "bench_users_norls"
	plpgsqlTable  = "bench_users_rls_plpgsql"
	getPlainSQL   = `SELECT ` + userCols + ` FROM "` + plainTable + `" AS "users" WHERE "users"."id" = $1 AND "users"."tenant_id" = $2 LIMIT 2`
	countPlainSQL = `SELECT COUNT("users"."id") FROM "` + plainTable + `" AS "users" WHERE "users"."tenant_id" = $1`
	listPlainSQL  = `SELECT ` + userCols + ` FROM "` + plainTable + `" AS "users" WHERE "users"."tenant_id" = $1 ORDER BY "users"."created_at", "users"."id" LIMIT 50 OFFSET 0`
)

// runRLS copies users into a table without RLS (same indexes, readable by
// mtdb_app) and measures get-by-id and the first list page at concurrency
// 16 both ways, in the same transaction with the same settings statement:
// only the policy versus the hand-written WHERE tenant_id = $1 differs. The
// tenants are subsidiaries, so that both ways return the same rows.
func runRLS(ctx context.Context, o options, owner *pgx.Conn, pool *pgxpool.Pool, w *world) ([]rlsRow, error) {
	for _, q := range []string{
		`DROP TABLE IF EXISTS ` + plainTable,
		`CREATE TABLE ` + plainTable + ` (LIKE users INCLUDING ALL)`,
		`INSERT INTO ` + plainTable + ` SELECT * FROM users`,
		`GRANT SELECT ON ` + plainTable + ` TO mtdb_app`,
		`ANALYZE ` + plainTable,
		`CREATE OR REPLACE FUNCTION bench_visible_tenants() RETURNS uuid[] LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
  RETURN (SELECT COALESCE(array_agg(t.id), '{}'::uuid[]) FROM tenants t
          WHERE t.deleted_at IS NULL AND (t.id = mtdb_current_tenant() OR t.parent_tenant_id = mtdb_current_tenant()));
END $$`,
		`DROP TABLE IF EXISTS ` + plpgsqlTable,
		`CREATE TABLE ` + plpgsqlTable + ` (LIKE users INCLUDING ALL)`,
		`INSERT INTO ` + plpgsqlTable + ` SELECT * FROM users`,
		`ALTER TABLE ` + plpgsqlTable + ` ENABLE ROW LEVEL SECURITY`,
		`ALTER TABLE ` + plpgsqlTable + ` FORCE ROW LEVEL SECURITY`,
		`CREATE POLICY bench_select ON ` + plpgsqlTable + ` FOR SELECT TO mtdb_app USING (tenant_id = ANY ((SELECT bench_visible_tenants())::uuid[]))`,
		`GRANT SELECT ON ` + plpgsqlTable + ` TO mtdb_app`,
		`ANALYZE ` + plpgsqlTable,
	} {
		if _, err := owner.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	f := &dbWork{pool: pool, statementTimeout: statementTimeout}
	cases := []struct {
		name string
		id   uuid.UUID
		n    int
	}{{"subsidiary with 20 users", tenantID(0, 1), usersPerTenant}, {"subsidiary with 10,000 users", w.Growth[1], growthSizes[1]}}
	var out []rlsRow
	for _, cs := range cases {
		tc := tenant.Context{TenantID: cs.id, UserID: "bench", Role: tenant.RoleTenantAdmin, ReadOnly: true}
		ids := make([]uuid.UUID, 0, 1000)
		for i := 0; i < min(cs.n, 1000); i++ {
			ids = append(ids, userID(cs.id, i))
		}
		get := func(mode int) op {
			return func(ctx context.Context, wk, seq int) error {
				id := pick(ids, wk, seq)
				return f.tx(ctx, tc, func(tx pgx.Tx) error {
					var rows pgx.Rows
					var err error
					switch mode {
					case modePlain:
						rows, err = tx.Query(ctx, getPlainSQL, id, cs.id)
					case modePlPgSQL:
						rows, err = tx.Query(ctx, onPlPgSQL(getUserSQL), id)
					default:
						rows, err = tx.Query(ctx, getUserSQL, id)
					}
					if err != nil {
						return err
					}
					_, err = pgx.CollectExactlyOneRow(rows, scanUser)
					return err
				})
			}
		}
		list := func(mode int) op {
			return func(ctx context.Context, _, _ int) error {
				return f.tx(ctx, tc, func(tx pgx.Tx) error {
					var n int
					var err error
					var rows pgx.Rows
					switch mode {
					case modePlain:
						err = tx.QueryRow(ctx, countPlainSQL, cs.id).Scan(&n)
						if err == nil {
							rows, err = tx.Query(ctx, listPlainSQL, cs.id)
						}
					default:
						count, page := countUserSQL, fmt.Sprintf(listUserSQL, 50, 0)
						if mode == modePlPgSQL {
							count, page = onPlPgSQL(count), onPlPgSQL(page)
						}
						err = tx.QueryRow(ctx, count).Scan(&n)
						if err == nil {
							rows, err = tx.Query(ctx, page)
						}
					}
					if err != nil {
						return err
					}
					_, err = pgx.CollectRows(rows, scanUser)
					if err == nil && n != cs.n {
						err = fmt.Errorf("count %d, want %d", n, cs.n)
					}
					return err
				})
			}
		}
		for _, q := range []struct {
			name string
			mk   func(int) op
		}{{"get by id", get}, {"list (count + first page of 50)", list}} {
			r := rlsRow{Tenant: cs.name, Query: q.name}
			r.RLS = drive(ctx, q.mk(modeRLS), 16, o.warmup, o.duration, 0)
			r.Plain = drive(ctx, q.mk(modePlain), 16, o.warmup, o.duration, 0)
			r.PlPgSQL = drive(ctx, q.mk(modePlPgSQL), 16, o.warmup, o.duration, 0)
			r.RLSP50c1 = drive(ctx, q.mk(modeRLS), 1, o.warmup/2, o.duration/2, 0).P50ms
			r.PlainP50c1 = drive(ctx, q.mk(modePlain), 1, o.warmup/2, o.duration/2, 0).P50ms
			if r.RLS.RPS > 0 && r.PlPgSQL.RPS > 0 {
				r.Overhd = (r.Plain.RPS/r.RLS.RPS - 1) * 100
				r.PlPgSQLOverhd = (r.Plain.RPS/r.PlPgSQL.RPS - 1) * 100
			}
			r.Summary = fmt.Sprintf("%s, %s: RLS %.0f req/s p50 %.2fms; plain %.0f req/s p50 %.2fms; overhead %.1f%% (with a PL/pgSQL function: %.1f%%)",
				cs.name, q.name, r.RLS.RPS, r.RLS.P50ms, r.Plain.RPS, r.Plain.P50ms, r.Overhd, r.PlPgSQLOverhd)
			logf("rls: %s (errors %d/%d/%d %s%s%s)", r.Summary, r.RLS.Errors, r.Plain.Errors, r.PlPgSQL.Errors,
				r.RLS.FirstError, r.Plain.FirstError, r.PlPgSQL.FirstError)
			out = append(out, r)
		}
	}
	return out, nil
}

// The three ways runRLS reads the users.
const (
	modeRLS     = iota // users, through its policies
	modePlain          // a copy without RLS, WHERE tenant_id = $1
	modePlPgSQL        // a copy whose policy calls a PL/pgSQL visible-tenants function
)

// onPlPgSQL points stmt at the PL/pgSQL-policy copy of users.
func onPlPgSQL(stmt string) string {
	return strings.Replace(stmt, `FROM "users"`, `FROM "`+plpgsqlTable+`" AS "users"`, 1)
}
