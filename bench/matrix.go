package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/tenant"
)

// The benchmarked endpoints.
const (
	epGet    = "GET /api/v1/users/{id}"
	epList   = "GET /api/v1/users?limit=50"
	epCreate = "POST /api/v1/users"
)

var endpoints = []string{epGet, epList, epCreate}

func token(t uuid.UUID) (string, error) {
	return auth.Sign([]byte(jwtSecret), auth.Claims{Subject: "bench", Role: tenant.RoleTenantAdmin, TenantID: t}, 2*time.Hour, "", "")
}

// pick spreads the workers over ids deterministically.
func pick(ids []uuid.UUID, worker, seq int) uuid.UUID {
	return ids[(worker*7919+seq*31)%len(ids)]
}

// httpOps returns the op of each endpoint against base.
func httpOps(base, run string, client *http.Client, w *world) (map[string]op, error) {
	readTok, err := token(w.Reader)
	if err != nil {
		return nil, err
	}
	writeTok, err := token(w.Writer)
	if err != nil {
		return nil, err
	}
	req := func(method, path, tok, body string) (*http.Request, error) {
		var r *http.Request
		var err error
		if body == "" {
			r, err = http.NewRequest(method, base+path, nil)
		} else {
			r, err = http.NewRequest(method, base+path, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
		}
		if err == nil {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		return r, err
	}
	return map[string]op{
		epGet: httpOp(client, http.StatusOK, func(wk, seq int) (*http.Request, error) {
			return req(http.MethodGet, "/api/v1/users/"+pick(w.ReadIDs, wk, seq).String(), readTok, "")
		}),
		epList: httpOp(client, http.StatusOK, func(int, int) (*http.Request, error) {
			return req(http.MethodGet, "/api/v1/users?limit=50", readTok, "")
		}),
		epCreate: httpOp(client, http.StatusCreated, func(wk, seq int) (*http.Request, error) {
			body := fmt.Sprintf(`{"email":"b-%s-%d-%d@bench.example","display_name":"Bench User","role":"member"}`, run, wk, seq)
			return req(http.MethodPost, "/api/v1/users", writeTok, body)
		}),
	}, nil
}

// floorOps returns the database work of each endpoint, without HTTP.
func floorOps(f *dbWork, run string, w *world) map[string]op {
	read := tenant.Context{TenantID: w.Reader, UserID: "bench", Role: tenant.RoleTenantAdmin, ReadOnly: true}
	write := tenant.Context{TenantID: w.Writer, UserID: "bench", Role: tenant.RoleTenantAdmin}
	return map[string]op{
		epGet: func(ctx context.Context, wk, seq int) error {
			_, err := f.getUser(ctx, read, pick(w.ReadIDs, wk, seq))
			return err
		},
		epList: func(ctx context.Context, _, _ int) error {
			l, err := f.listUsers(ctx, read, 50, 0)
			if err == nil && len(l.Users) != 50 {
				err = fmt.Errorf("list returned %d users", len(l.Users))
			}
			return err
		},
		epCreate: func(ctx context.Context, wk, seq int) error {
			_, err := f.createUser(ctx, write, fmt.Sprintf("b-%s-%d-%d@bench.example", run, wk, seq), "Bench User", "member")
			return err
		},
	}
}

// runMatrix measures every endpoint at every concurrency against every
// contender, interleaving the contenders so that drift hits all alike.
func runMatrix(ctx context.Context, o options, w *world, servers map[string]*server, floor *dbWork) ([]result, error) {
	targets := []string{"api"}
	if servers["api_before"] != nil {
		targets = append(targets, "api_before")
	}
	targets = append(targets, "reference", "database")
	var out []result
	for _, ep := range endpoints {
		for _, c := range o.conc {
			for _, t := range targets {
				run := fmt.Sprintf("%s-c%d-%d", t, c, time.Now().UnixNano())
				var ops map[string]op
				pid := 0
				if t == "database" {
					ops = floorOps(floor, run, w)
				} else {
					client := httpClient(c)
					var err error
					if ops, err = httpOps(servers[t].base, run, client, w); err != nil {
						return nil, err
					}
					pid = servers[t].pid()
				}
				r := drive(ctx, ops[ep], c, o.warmup, o.duration, pid)
				r.Target, r.Endpoint = t, ep
				logf("%-10s %-28s c=%-3d %8.0f req/s  p50 %6.2fms  p99 %6.2fms  errors %d %s",
					t, ep, c, r.RPS, r.P50ms, r.P99ms, r.Errors, r.FirstError)
				out = append(out, r)
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}
