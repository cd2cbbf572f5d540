package main

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Shape of the seeded data. Everything is derived from the index of the
// row (ids are name-based UUIDs, timestamps a fixed base plus an offset), so
// two runs seed byte-identical databases.
const (
	orgs            = 100 // parent organisations
	subsPerOrg      = 9   // subsidiaries of each: 100 + 900 = 1,000 tenants
	usersPerTenant  = 20
	projectsPerTent = 5
)

// growthSizes are the user counts of the three growth tenants (subsidiaries
// 1–3 of organisation 1, replacing their usersPerTenant users).
var growthSizes = []int{100, 10_000, 100_000}

var (
	seedNS   = uuid.MustParse("6f1c3a52-5f0e-4c55-9a52-2b0b8d1f0c11")
	seedBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

func tenantID(org, sub int) uuid.UUID { // sub 0 is the parent
	return uuid.NewSHA1(seedNS, fmt.Appendf(nil, "tenant/%d/%d", org, sub))
}

func userID(t uuid.UUID, i int) uuid.UUID {
	return uuid.NewSHA1(seedNS, fmt.Appendf(nil, "user/%s/%d", t, i))
}

// world names the tenants and rows the benchmark uses.
type world struct {
	Reader   uuid.UUID   // parent organisation 0: reads (sees itself and 9 subsidiaries)
	ReadIDs  []uuid.UUID // users visible to Reader
	Writer   uuid.UUID   // subsidiary 1 of organisation 2: POST /users goes here
	Growth   []uuid.UUID // tenants with growthSizes users
	Tenants  int
	Users    int
	Projects int
}

func usersOf(org, sub int) int {
	if org == 1 && sub >= 1 && sub <= len(growthSizes) {
		return growthSizes[sub-1]
	}
	return usersPerTenant
}

// seed fills an empty migrated database through conn (the owner, which
// bypasses row-level security) with COPY, then VACUUM ANALYZEs it.
func seed(ctx context.Context, conn *pgx.Conn) (*world, error) {
	w := &world{Reader: tenantID(0, 0), Writer: tenantID(2, 1)}
	for i := range growthSizes {
		w.Growth = append(w.Growth, tenantID(1, i+1))
	}
	var tenants, users, projects [][]any
	for org := 0; org < orgs; org++ {
		for sub := 0; sub <= subsPerOrg; sub++ {
			id := tenantID(org, sub)
			ts := seedBase.Add(time.Duration(org*100+sub) * time.Second)
			var parent any
			typ, name := "parent", fmt.Sprintf("Org %03d", org)
			if sub > 0 {
				parent, typ, name = tenantID(org, 0), "subsidiary", fmt.Sprintf("Org %03d sub %d", org, sub)
			}
			tenants = append(tenants, []any{id, ts, ts, name, typ, map[string]any{}, parent})
			n := usersOf(org, sub)
			for i := 0; i < n; i++ {
				uid := userID(id, i)
				uts := ts.Add(time.Duration(i) * time.Millisecond)
				role := "member"
				if i == 0 {
					role = "tenant_admin"
				}
				users = append(users, []any{uid, id, uts, uts, fmt.Sprintf("user%d@org%d-%d.example", i, org, sub),
					fmt.Sprintf("User %d", i), role})
				if org == 0 {
					w.ReadIDs = append(w.ReadIDs, uid)
				}
			}
			for p := 0; p < projectsPerTent; p++ {
				pid := uuid.NewSHA1(seedNS, fmt.Appendf(nil, "project/%s/%d", id, p))
				projects = append(projects, []any{pid, id, ts, ts, fmt.Sprintf("Project %d", p), "", userID(id, p%n)})
			}
		}
	}
	copies := []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"tenants", []string{"id", "created_at", "updated_at", "name", "tenant_type", "metadata", "parent_tenant_id"}, tenants},
		{"users", []string{"id", "tenant_id", "created_at", "updated_at", "email", "display_name", "role"}, users},
		{"projects", []string{"id", "tenant_id", "created_at", "updated_at", "name", "description", "owner_id"}, projects},
	}
	for _, c := range copies {
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
			return nil, fmt.Errorf("copy %s: %w", c.table, err)
		}
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return nil, fmt.Errorf("vacuum: %w", err)
	}
	w.Tenants, w.Users, w.Projects = len(tenants), len(users), len(projects)
	return w, nil
}
