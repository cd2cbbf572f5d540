package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The audit trigger's cost: POST and PATCH through the API with the audit
// triggers enabled and disabled (ALTER TABLE ... DISABLE TRIGGER, as the
// owner, between runs), alternating twice so that drift hits both alike.

const (
	epAuditCreate = "POST /api/v1/users"
	epAuditPatch  = "PATCH /api/v1/users/{id}"
)

// auditRow is one endpoint with and without the trigger.
type auditRow struct {
	Endpoint    string  `json:"endpoint"`
	Concurrency int     `json:"concurrency"`
	With        result  `json:"with_trigger"`
	Without     result  `json:"without_trigger"`
	Overhead    float64 `json:"overhead_pct"` // (without rps / with rps - 1) × 100
	Summary     string  `json:"summary"`
}

// auditTables are the tables whose audit triggers the runs switch.
var auditTables = []string{"tenants", "users", "projects"}

// setAuditTriggers enables or disables the audit triggers.
func setAuditTriggers(ctx context.Context, owner *pgx.Conn, on bool) error {
	verb := "DISABLE"
	if on {
		verb = "ENABLE"
	}
	for _, t := range auditTables {
		if _, err := owner.Exec(ctx, fmt.Sprintf(`ALTER TABLE %q %s TRIGGER %q`, t, verb, t+"_audit")); err != nil {
			return err
		}
	}
	return nil
}

// runAudit measures the trigger's cost on the API's writes at concurrency
// 16, and leaves the triggers enabled.
func runAudit(ctx context.Context, o options, owner *pgx.Conn, api *server, w *world) ([]auditRow, error) {
	defer func() { _ = setAuditTriggers(context.WithoutCancel(ctx), owner, true) }()
	tok, err := token(w.Writer)
	if err != nil {
		return nil, err
	}
	const c = 16
	client := httpClient(c)
	ids := make([]string, usersPerTenant)
	for i := range ids {
		ids[i] = userID(w.Writer, i).String()
	}
	mk := func(run string) map[string]op {
		req := func(method, path, body string) (*http.Request, error) {
			r, err := http.NewRequest(method, api.base+path, strings.NewReader(body))
			if err == nil {
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("Authorization", "Bearer "+tok)
			}
			return r, err
		}
		return map[string]op{
			epAuditCreate: httpOp(client, http.StatusCreated, func(wk, seq int) (*http.Request, error) {
				return req(http.MethodPost, "/api/v1/users",
					fmt.Sprintf(`{"email":"audit-%s-%d-%d@bench.example","display_name":"Bench User","role":"member"}`, run, wk, seq))
			}),
			epAuditPatch: httpOp(client, http.StatusOK, func(wk, seq int) (*http.Request, error) {
				return req(http.MethodPatch, "/api/v1/users/"+ids[(wk*7+seq)%len(ids)],
					fmt.Sprintf(`{"display_name":"Bench %s %d %d"}`, run, wk, seq))
			}),
		}
	}
	var out []auditRow
	for _, ep := range []string{epAuditCreate, epAuditPatch} {
		row := auditRow{Endpoint: ep, Concurrency: c}
		for round := 0; round < 2; round++ {
			for _, on := range []bool{true, false} {
				if err := setAuditTriggers(ctx, owner, on); err != nil {
					return nil, err
				}
				run := fmt.Sprintf("%v-%d-%d", on, round, time.Now().UnixNano())
				r := drive(ctx, mk(run)[ep], c, o.warmup, o.duration, api.pid())
				if on {
					row.With = merge(row.With, r)
				} else {
					row.Without = merge(row.Without, r)
				}
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
		}
		if row.With.RPS > 0 {
			row.Overhead = (row.Without.RPS/row.With.RPS - 1) * 100
		}
		row.Summary = fmt.Sprintf("%s c=%d: with trigger %.0f req/s p50 %.2fms; without %.0f req/s p50 %.2fms; overhead %.1f%% (errors %d/%d %s%s)",
			ep, c, row.With.RPS, row.With.P50ms, row.Without.RPS, row.Without.P50ms, row.Overhead,
			row.With.Errors, row.Without.Errors, row.With.FirstError, row.Without.FirstError)
		logf("audit: %s", row.Summary)
		out = append(out, row)
	}
	return out, nil
}

// merge averages two runs of equal length (the first may be empty).
func merge(a, b result) result {
	if a.Requests == 0 && a.RPS == 0 {
		return b
	}
	a.Requests += b.Requests
	a.Errors += b.Errors
	a.RPS = (a.RPS + b.RPS) / 2
	a.P50ms = (a.P50ms + b.P50ms) / 2
	a.P99ms = max(a.P99ms, b.P99ms)
	if a.FirstError == "" {
		a.FirstError = b.FirstError
	}
	return a
}

// auditMarkdown is the report's section on the trigger's cost.
func auditMarkdown(rows []auditRow) string {
	var b strings.Builder
	b.WriteString("\n## Cost of the audit trigger (API writes, concurrency 16, two alternating runs each)\n\n")
	b.WriteString("| endpoint | with trigger req/s | p50 ms | without req/s | p50 ms | overhead |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %.0f | %.2f | %.0f | %.2f | %.1f %% |\n", r.Endpoint, r.With.RPS, r.With.P50ms, r.Without.RPS, r.Without.P50ms, r.Overhead)
	}
	return b.String()
}

// auditTargets are the target for the trigger: ≤ 15 % on POST at
// concurrency 16.
func auditTargets(rows []auditRow) []target {
	var out []target
	for _, r := range rows {
		if r.Endpoint == epAuditCreate {
			out = append(out, target{Name: "audit trigger overhead, " + r.Endpoint + ", c=16", Value: r.Overhead, Goal: "≤ 15 %", Met: r.Overhead <= 15})
		}
	}
	return out
}
