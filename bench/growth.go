package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/tenant"
)

// growthRow is one query in a tenant of one size.
type growthRow struct {
	Users   int      `json:"tenant_users"`
	Query   string   `json:"query"`
	APIP50  float64  `json:"api_p50_ms"`
	DBP50   float64  `json:"database_p50_ms"`
	Indexes []string `json:"indexes"`
	Plans   []string `json:"plans"` // EXPLAIN (ANALYZE, BUFFERS) of each statement, as mtdb_app with the settings
}

var indexRe = regexp.MustCompile(`(?:Index|Index Only) Scan(?: Backward)? using (\S+)|Bitmap Index Scan on (\S+)|Seq Scan on (\S+)`)

// runGrowth measures get-by-id, the first list page and a deep one (after
// row n/2 by cursor, and at offset n/2) at concurrency 1 in the tenants of
// growthSizes users, through the API and as database work alone (the API's
// statements; the reference's count and offset page for the offset row),
// and stores their plans.
func runGrowth(ctx context.Context, o options, pool *pgxpool.Pool, w *world, api *server) ([]growthRow, error) {
	f := &dbWork{pool: pool, statementTimeout: statementTimeout}
	client := httpClient(1)
	d, warm := max(o.duration/2, time.Second), 300*time.Millisecond
	var out []growthRow
	for i, n := range growthSizes {
		t := w.Growth[i]
		tok, err := token(t)
		if err != nil {
			return nil, err
		}
		tc := tenant.Context{TenantID: t, UserID: "bench", Role: tenant.RoleTenantAdmin, ReadOnly: true}
		ids := make([]uuid.UUID, 0, 1000)
		for k := 0; k < n; k += max(1, n/1000) {
			ids = append(ids, userID(t, k))
		}
		get := func(path string) op {
			return httpOp(client, http.StatusOK, func(int, int) (*http.Request, error) {
				r, err := http.NewRequest(http.MethodGet, api.base+path, nil)
				if err == nil {
					r.Header.Set("Authorization", "Bearer "+tok)
				}
				return r, err
			})
		}
		deep := n / 2
		// The position of row deep, and the API's cursor for it.
		var after database.Position
		if err := f.tx(ctx, tc, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT created_at, id FROM users ORDER BY created_at, id OFFSET $1 LIMIT 1`, deep-1).Scan(&after.CreatedAt, &after.ID)
		}); err != nil {
			return nil, err
		}
		cursor, err := apiCursor(ctx, client, api.base+fmt.Sprintf("/api/v1/users?limit=1&offset=%d&count=none", deep-1), tok)
		if err != nil {
			return nil, err
		}
		list := func(stmt string, args ...any) op {
			return func(ctx context.Context, _, _ int) error {
				return f.tx(ctx, tc, func(tx pgx.Tx) error {
					rows, err := tx.Query(ctx, stmt, args...)
					if err == nil {
						rows.Close()
						err = rows.Err()
					}
					return err
				})
			}
		}
		firstSQL, afterSQL := fmt.Sprintf(apiListSQL, 51), fmt.Sprintf(apiListAfterSQL, 51)
		queries := []struct {
			name   string
			api    op
			db     op
			stmts  []string
			params [][]any
		}{
			{"get by id", func(ctx context.Context, wk, seq int) error {
				return get("/api/v1/users/"+pick(ids, wk, seq).String())(ctx, wk, seq)
			}, func(ctx context.Context, wk, seq int) error {
				_, err := f.getUser(ctx, tc, pick(ids, wk, seq))
				return err
			}, []string{getUserSQL}, [][]any{{ids[len(ids)/2]}}},
			{"list, first page (limit 50)", get("/api/v1/users?limit=50"), list(firstSQL, "users"),
				[]string{firstSQL}, [][]any{{"users"}}},
			{fmt.Sprintf("list, deep page by cursor (limit 50 after row %d)", deep), get("/api/v1/users?limit=50&after=" + url.QueryEscape(cursor)),
				list(afterSQL, "users", after.CreatedAt, after.ID), []string{afterSQL}, [][]any{{"users", after.CreatedAt, after.ID}}},
			{fmt.Sprintf("list, deep page by offset (limit 50 offset %d)", deep), get(fmt.Sprintf("/api/v1/users?limit=50&offset=%d", deep)),
				func(ctx context.Context, _, _ int) error {
					_, err := f.listUsers(ctx, tc, 50, deep)
					return err
				}, []string{countUserSQL, fmt.Sprintf(listUserSQL, 50, deep)}, [][]any{nil, nil}},
		}
		for _, q := range queries {
			row := growthRow{Users: n, Query: q.name}
			ra := drive(ctx, q.api, 1, warm, d, api.pid())
			rd := drive(ctx, q.db, 1, warm, d, 0)
			if ra.Errors+rd.Errors > 0 {
				return nil, fmt.Errorf("%d users, %s: %s%s", n, q.name, ra.FirstError, rd.FirstError)
			}
			row.APIP50, row.DBP50 = ra.P50ms, rd.P50ms
			for i, s := range q.stmts {
				plan, err := explain(ctx, f, tc, s, q.params[i])
				if err != nil {
					return nil, err
				}
				row.Plans = append(row.Plans, plan)
				for _, m := range indexRe.FindAllStringSubmatch(plan, -1) {
					name := strings.Join(m[1:], "")
					if strings.HasPrefix(m[0], "Seq") {
						name = "SEQ SCAN " + name
					}
					if !slices.Contains(row.Indexes, name) {
						row.Indexes = append(row.Indexes, name)
					}
				}
			}
			logf("growth: %6d users, %-36s api p50 %6.2fms  db p50 %6.2fms  %v", n, q.name, row.APIP50, row.DBP50, row.Indexes)
			out = append(out, row)
		}
	}
	return out, nil
}

// explain runs EXPLAIN (ANALYZE, BUFFERS) of stmt in tc's transaction (as
// mtdb_app with the settings, like a request).
func explain(ctx context.Context, f *dbWork, tc tenant.Context, stmt string, args []any) (string, error) {
	var lines []string
	err := f.tx(ctx, tc, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+stmt, args...)
		if err != nil {
			return err
		}
		lines, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return stmt + "\n" + strings.Join(lines, "\n"), err
}

// apiCursor returns the next_cursor of the API's answer to GET path.
func apiCursor(ctx context.Context, client *http.Client, path, tok string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, path, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var page struct {
		NextCursor *string `json:"next_cursor"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || page.NextCursor == nil {
		return "", fmt.Errorf("GET %s: %d, no next_cursor (%v)", path, resp.StatusCode, err)
	}
	return *page.NextCursor, nil
}
