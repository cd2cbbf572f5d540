package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mtdb/mtdb/internal/tenant"
)

// rlsRow compares one query through the policies with the same query on a
// copy of the tables without row-level security, filtered by hand.
type rlsRow struct {
	Tenant string  `json:"tenant"`
	Query  string  `json:"query"`
	RLS    result  `json:"rls"`
	Plain  result  `json:"plain"`
	Overhd float64 `json:"overhead_pct"` // (plain rps / rls rps - 1) × 100
	// At concurrency 1 the latencies are less disturbed by the load
	// generator's own CPU: p50 through the policies and plain.
	RLSP50c1   float64 `json:"rls_p50_ms_c1"`
	PlainP50c1 float64 `json:"plain_p50_ms_c1"`
	Summary    string  `json:"summary"`
}

const (
	plainUsers  = "bench_users_norls"
	plainCounts = "bench_row_counts_norls"
	getPlainSQL = `SELECT ` + userCols + ` FROM "` + plainUsers + `" AS "users" WHERE "users"."id" = $1 AND "users"."tenant_id" = ANY($2::uuid[]) LIMIT 2`
)

// plainList is apiListSQL on the copies without RLS, the visible tenants
// given by hand ($2) instead of by the policies.
func plainList(limit int) string {
	q := fmt.Sprintf(apiListSQL, limit)
	q = strings.Replace(q, `FROM "row_counts" WHERE "table_name" = $1`, `FROM "`+plainCounts+`" WHERE "table_name" = $1 AND "tenant_id" = ANY($2::uuid[])`, 1)
	q = strings.Replace(q, `unnest(mtdb_visible_tenants())`, `unnest($2::uuid[])`, 1)
	return strings.Replace(q, `FROM "users" WHERE`, `FROM "`+plainUsers+`" AS "users" WHERE`, 1)
}

// runRLS copies users and row_counts into tables without RLS (same
// indexes, readable by mtdb_app) and measures get-by-id and the first list
// page at concurrency 16 both ways, in the same transaction with the same
// settings statement: the API's statements through the policies, against
// the same statements on the copies with the tenants named by hand
// (tenant_id = ANY of the visible tenants, which the plain variant is
// given). Only the policies differ.
func runRLS(ctx context.Context, o options, owner *pgx.Conn, pool *pgxpool.Pool, w *world) ([]rlsRow, error) {
	for _, q := range []string{
		`DROP TABLE IF EXISTS ` + plainUsers,
		`CREATE TABLE ` + plainUsers + ` (LIKE users INCLUDING ALL)`,
		`INSERT INTO ` + plainUsers + ` SELECT * FROM users`,
		`GRANT SELECT ON ` + plainUsers + ` TO mtdb_app`,
		`ANALYZE ` + plainUsers,
		`DROP TABLE IF EXISTS ` + plainCounts,
		`CREATE TABLE ` + plainCounts + ` (LIKE row_counts INCLUDING ALL)`,
		`INSERT INTO ` + plainCounts + ` SELECT * FROM row_counts`,
		`GRANT SELECT ON ` + plainCounts + ` TO mtdb_app`,
		`ANALYZE ` + plainCounts,
	} {
		if _, err := owner.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	f := &dbWork{pool: pool, statementTimeout: statementTimeout}
	parent := func(org int) []uuid.UUID {
		ids := []uuid.UUID{tenantID(org, 0)}
		for sub := 1; sub <= subsPerOrg; sub++ {
			ids = append(ids, tenantID(org, sub))
		}
		return ids
	}
	cases := []struct {
		name    string
		visible []uuid.UUID // the tenant first
		n       int         // users visible
	}{
		{"subsidiary with 20 users", []uuid.UUID{tenantID(0, 1)}, usersPerTenant},
		{"subsidiary with 10,000 users", []uuid.UUID{w.Growth[1]}, growthSizes[1]},
		{"parent with 9 subsidiaries (200 users)", parent(3), (subsPerOrg + 1) * usersPerTenant},
	}
	var out []rlsRow
	for _, cs := range cases {
		tid := cs.visible[0]
		tc := tenant.Context{TenantID: tid, UserID: "bench", Role: tenant.RoleTenantAdmin, ReadOnly: true}
		ids := make([]uuid.UUID, 0, 1000)
		for _, t := range cs.visible {
			for i := 0; i < min(cs.n, 1000)/len(cs.visible); i++ {
				ids = append(ids, userID(t, i))
			}
		}
		get := func(plain bool) op {
			return func(ctx context.Context, wk, seq int) error {
				id := pick(ids, wk, seq)
				return f.tx(ctx, tc, func(tx pgx.Tx) error {
					var rows pgx.Rows
					var err error
					if plain {
						rows, err = tx.Query(ctx, getPlainSQL, id, cs.visible)
					} else {
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
		list := func(plain bool) op {
			return func(ctx context.Context, _, _ int) error {
				return f.tx(ctx, tc, func(tx pgx.Tx) error {
					var rows pgx.Rows
					var err error
					if plain {
						rows, err = tx.Query(ctx, plainList(51), "users", cs.visible)
					} else {
						rows, err = tx.Query(ctx, fmt.Sprintf(apiListSQL, 51), "users")
					}
					if err != nil {
						return err
					}
					var n, total int
					for rows.Next() {
						var u userJSON
						if err := rows.Scan(&u.ID, &u.TenantID, &u.CreatedAt, &u.UpdatedAt, &u.Email, &u.DisplayName, &u.Role, &total); err != nil {
							return err
						}
						n++
					}
					if err := rows.Err(); err != nil {
						return err
					}
					if total != cs.n || n != min(51, cs.n) {
						return fmt.Errorf("%d rows, total %d; want %d of %d", n, total, min(51, cs.n), cs.n)
					}
					return nil
				})
			}
		}
		for _, q := range []struct {
			name string
			mk   func(bool) op
		}{{"get by id", get}, {"list (first page of 50 with total)", list}} {
			r := rlsRow{Tenant: cs.name, Query: q.name}
			r.RLS, r.Plain = abba(ctx, q.mk(false), q.mk(true), 16, o.warmup, o.duration)
			r.RLSP50c1 = drive(ctx, q.mk(false), 1, o.warmup/2, o.duration/2, 0).P50ms
			r.PlainP50c1 = drive(ctx, q.mk(true), 1, o.warmup/2, o.duration/2, 0).P50ms
			if r.RLS.RPS > 0 {
				r.Overhd = (r.Plain.RPS/r.RLS.RPS - 1) * 100
			}
			r.Summary = fmt.Sprintf("%s, %s: RLS %.0f req/s p50 %.2fms; plain %.0f req/s p50 %.2fms; overhead %.1f%%",
				cs.name, q.name, r.RLS.RPS, r.RLS.P50ms, r.Plain.RPS, r.Plain.P50ms, r.Overhd)
			logf("rls: %s (errors %d/%d %s%s)", r.Summary, r.RLS.Errors, r.Plain.Errors, r.RLS.FirstError, r.Plain.FirstError)
			out = append(out, r)
		}
	}
	return out, nil
}

// abba measures a and b at concurrency c in four halves, a b b a, and
// returns each one's halves combined: drift of the machine over the eight
// seconds (other processes, the checkpointer, CPU frequency) then hits both
// alike instead of whichever ran second. The overheads compared here are a
// few per cent, less than that drift on a shared 2-core machine.
func abba(ctx context.Context, a, b op, c int, warmup, d time.Duration) (ra, rb result) {
	w, h := warmup/2, d/2
	a1 := drive(ctx, a, c, w, h, 0)
	b1 := drive(ctx, b, c, w, h, 0)
	b2 := drive(ctx, b, c, w, h, 0)
	a2 := drive(ctx, a, c, w, h, 0)
	return combine(a1, a2), combine(b1, b2)
}

// combine merges two equally long runs of one op: requests and errors add
// up, the rate is their mean, and so (approximately) are the percentiles.
func combine(x, y result) result {
	r := x
	r.Requests += y.Requests
	r.Errors += y.Errors
	r.RPS = (x.RPS + y.RPS) / 2
	r.P50ms = (x.P50ms + y.P50ms) / 2
	r.P99ms = (x.P99ms + y.P99ms) / 2
	if r.FirstError == "" {
		r.FirstError = y.FirstError
	}
	return r
}
