package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// report is everything one run measured; it is written as JSON and as
// Markdown.
type report struct {
	Started     time.Time   `json:"started"`
	Finished    time.Time   `json:"finished"`
	CPUs        int         `json:"cpus"`
	GoVersion   string      `json:"go_version"`
	Tenants     int         `json:"tenants"`
	Users       int         `json:"users"`
	Projects    int         `json:"projects"`
	SeedSeconds float64     `json:"seed_seconds"`
	Duration    string      `json:"duration_per_run"`
	MaxConns    int         `json:"max_conns"`
	Matrix      []result    `json:"matrix"`
	PeakRSS     []rssRow    `json:"peak_rss"`
	RLS         []rlsRow    `json:"rls"`
	Growth      []growthRow `json:"growth"`
	Trips       []tripRow   `json:"round_trips"`
	Flood       []floodRow  `json:"flood,omitempty"` // flood.go
	Audit       []auditRow  `json:"audit,omitempty"` // audit.go
	Targets     []target    `json:"targets"`
}

type rssRow struct {
	Server  string  `json:"server"`
	PeakMiB float64 `json:"peak_rss_mib"`
}

// target is one of the targets and whether this run met it.
type target struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Goal  string  `json:"goal"`
	Met   bool    `json:"met"`
}

func (r *report) find(t, ep string, c int) (result, bool) {
	for _, m := range r.Matrix {
		if m.Target == t && m.Endpoint == ep && m.Concurrency == c {
			return m, true
		}
	}
	return result{}, false
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// evaluate lists the targets of the parts that ran (-only runs one part:
// the others' targets are left out, not reported as missed).
func (r *report) evaluate() {
	if len(r.Matrix) > 0 {
		r.matrixTargets()
	}
	if len(r.Growth) > 0 {
		r.growthTargets()
	}
	for _, t := range r.Trips {
		if t.Server == "api" {
			r.Targets = append(r.Targets, target{Name: "round trips per request, " + t.Endpoint, Value: t.RoundTrips, Goal: "≤ 2", Met: t.RoundTrips <= 2})
		}
	}
	for _, s := range r.PeakRSS {
		if s.Server == "api" {
			r.Targets = append(r.Targets, target{Name: "peak RSS of mtdb serve (MiB), after concurrency 64", Value: s.PeakMiB, Goal: "< 64", Met: s.PeakMiB < 64})
		}
	}
	r.floodTargets()
	r.Targets = append(r.Targets, auditTargets(r.Audit)...)
}

func (r *report) matrixTargets() {
	for _, ep := range endpoints {
		a, _ := r.find("api", ep, 16)
		ref, _ := r.find("reference", ep, 16)
		v := ratio(a.RPS, ref.RPS)
		r.Targets = append(r.Targets, target{Name: "API/reference throughput, " + ep + ", c=16", Value: v, Goal: "≥ 0.9", Met: v >= 0.9})
	}
	for _, row := range r.RLS {
		r.Targets = append(r.Targets, target{Name: "RLS overhead, " + row.Tenant + ", " + row.Query, Value: row.Overhd, Goal: "≤ 10 %", Met: row.Overhd <= 10})
	}
}

func (r *report) growthTargets() {
	p50 := func(users int, prefix string) float64 {
		for _, g := range r.Growth {
			if g.Users == users && strings.HasPrefix(g.Query, prefix) {
				return g.APIP50
			}
		}
		return 0
	}
	small, big := growthSizes[0], growthSizes[len(growthSizes)-1]
	v := ratio(p50(big, "list, first"), p50(small, "list, first"))
	r.Targets = append(r.Targets, target{Name: "API list p50, first page, at 100,000 users / at 100 users", Value: v, Goal: "≤ 2", Met: v > 0 && v <= 2})
	v = ratio(p50(big, "list, deep page by cursor"), p50(big, "list, first"))
	r.Targets = append(r.Targets, target{Name: "API list p50 at 100,000 users, deep page by cursor / first page", Value: v, Goal: "≤ 2", Met: v > 0 && v <= 2})
}

// write writes <dir>/<date>.md and .json and returns their paths.
func (r *report) write(dir string) (string, string, error) {
	r.CPUs, r.GoVersion = runtime.NumCPU(), runtime.Version()
	r.evaluate()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	base := filepath.Join(dir, r.Started.Format("2006-01-02T15-04-05Z"))
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(base+".json", append(js, '\n'), 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(base+".md", []byte(r.markdown()), 0o644); err != nil {
		return "", "", err
	}
	return base + ".md", base + ".json", nil
}

func (r *report) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# mtdb benchmark, %s", r.Started.Format(time.RFC3339))
	p("")
	p("%d CPUs, %s; %d tenants, %d users, %d projects seeded in %.1fs; %s measured per run after a warm-up; pool size %d everywhere. How to read this: bench/README.md.",
		r.CPUs, r.GoVersion, r.Tenants, r.Users, r.Projects, r.SeedSeconds, r.Duration, r.MaxConns)
	p("\n## Targets\n\n| target | value | goal | met |\n|---|---|---|---|")
	for _, t := range r.Targets {
		p("| %s | %.2f | %s | %s |", t.Name, t.Value, t.Goal, yes(t.Met))
	}
	if _, ok := r.find("api_before", epGet, 16); ok {
		p("\n## Before and after (api_before: the older binary given with BEFORE=, same run)\n")
		p("| endpoint | c | before req/s | after req/s | after ÷ before | before ÷ reference | after ÷ reference | before p50 ms | after p50 ms |\n|---|---|---|---|---|---|---|---|---|")
		for _, m := range r.Matrix {
			if m.Target != "api" {
				continue
			}
			b, _ := r.find("api_before", m.Endpoint, m.Concurrency)
			ref, _ := r.find("reference", m.Endpoint, m.Concurrency)
			p("| %s | %d | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f |", m.Endpoint, m.Concurrency, b.RPS, m.RPS,
				ratio(m.RPS, b.RPS), ratio(b.RPS, ref.RPS), ratio(m.RPS, ref.RPS), b.P50ms, m.P50ms)
		}
	}
	p("\n## API vs reference server vs database work alone\n")
	p("| endpoint | c | contender | req/s | p50 ms | p99 ms | errors | ÷ reference | ÷ database | CPU: load gen / server / postgres / other %% |")
	p("|---|---|---|---|---|---|---|---|---|---|")
	for _, m := range r.Matrix {
		ref, _ := r.find("reference", m.Endpoint, m.Concurrency)
		db, _ := r.find("database", m.Endpoint, m.Concurrency)
		p("| %s | %d | %s | %.0f | %.2f | %.2f | %d | %.2f | %.2f | %.0f / %.0f / %.0f / %.0f |", m.Endpoint, m.Concurrency, m.Target,
			m.RPS, m.P50ms, m.P99ms, m.Errors, ratio(m.RPS, ref.RPS), ratio(m.RPS, db.RPS), m.CPU.LoadGen, m.CPU.Server, m.CPU.Postgres, m.CPU.Other)
	}
	p("\n## Peak resident memory of the servers (VmHWM, after the concurrency-64 runs)\n\n| server | peak RSS MiB |\n|---|---|")
	for _, s := range r.PeakRSS {
		p("| %s | %.1f |", s.Server, s.PeakMiB)
	}
	r.floodMarkdown(p)
	p("\n## Cost of row-level security (concurrency 16, database work alone)\n")
	p("| tenant | query | RLS req/s | RLS p50 ms | plain req/s | plain p50 ms | overhead | c=1 p50 ms RLS / plain |\n|---|---|---|---|---|---|---|---|")
	for _, x := range r.RLS {
		p("| %s | %s | %.0f | %.2f | %.0f | %.2f | %.1f %% | %.2f / %.2f |", x.Tenant, x.Query, x.RLS.RPS, x.RLS.P50ms,
			x.Plain.RPS, x.Plain.P50ms, x.Overhd, x.RLSP50c1, x.PlainP50c1)
	}
	b.WriteString(auditMarkdown(r.Audit))
	p("\n## Growth: one tenant with more and more users (concurrency 1)\n")
	p("| users in tenant | query | API p50 ms | database p50 ms | indexes used |\n|---|---|---|---|---|")
	for _, g := range r.Growth {
		p("| %d | %s | %.2f | %.2f | %s |", g.Users, g.Query, g.APIP50, g.DBP50, strings.Join(g.Indexes, ", "))
	}
	p("\n## Statements per request (pgx tracer, warm caches)\n")
	p("| server | endpoint | round trips | statements | sequence of one request |\n|---|---|---|---|---|")
	for _, t := range r.Trips {
		p("| %s | %s | %.1f | %.1f | %s |", t.Server, t.Endpoint, t.RoundTrips, t.Statements, strings.ReplaceAll(strings.Join(t.Sequence, " ⟶ "), "|", "\\|"))
	}
	p("\n## Plans (EXPLAIN (ANALYZE, BUFFERS) as mtdb_app with the request's settings)\n")
	for _, g := range r.Growth {
		p("### %d users: %s\n", g.Users, g.Query)
		for _, pl := range g.Plans {
			p("```\n%s\n```", pl)
		}
	}
	return b.String()
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}
