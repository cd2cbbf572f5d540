package main

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The flood scenario (issue 16): tenant A floods the API with closed-loop
// clients while tenant B sends from 4; both list 50 users of their own
// organisation (a parent with 9 subsidiaries, 200 users each). Phases per
// contender: B alone, A alone at 16 and 64 clients (the best throughput at
// moderate concurrency), A with 1,000 clients together with B, A alone with
// 2,000 clients. A client that gets 503 waits for its Retry-After (as a
// well-behaved client or load balancer does) and then tries again; every
// other answer than 200 is an error.
const (
	floodPath    = "/api/v1/users?limit=50"
	floodBOrg    = 3 // organisation of tenant B; A is the bench's Reader (organisation 0)
	floodClientB = 4
	rampUp       = 500 * time.Millisecond // the clients of a group start spread over this
)

// floodRow is one phase against one contender.
type floodRow struct {
	Target     string  `json:"target"`
	Phase      string  `json:"phase"`
	ClientsA   int     `json:"clients_a"`
	ClientsB   int     `json:"clients_b"`
	AOK        int     `json:"a_ok"`
	AShed      int     `json:"a_shed"`
	AErrors    int     `json:"a_errors"`
	AShedRate  float64 `json:"a_shed_rate"`   // shed ÷ (ok + shed + errors) of A
	AP50ms     float64 `json:"a_p50_ms"`      // admitted (200) requests of A
	AP99ms     float64 `json:"a_p99_ms"`      //
	AShedP99ms float64 `json:"a_shed_p99_ms"` // time to the 503 of shed requests
	BOK        int     `json:"b_ok"`          //
	BErrors    int     `json:"b_errors"`      // anything but 200, 503 included
	BP50ms     float64 `json:"b_p50_ms"`      //
	BP99ms     float64 `json:"b_p99_ms"`      //
	TotalRPS   float64 `json:"total_rps"`     // 200 answers of A and B per second
	PeakRSSMiB float64 `json:"peak_rss_mib"`  // largest VmRSS sampled during the phase
	FirstError string  `json:"first_error,omitempty"`
}

// floodTally collects one group's outcomes during the measured window.
type floodTally struct {
	mu       sync.Mutex
	ok, shed []time.Duration
	errors   int
	firstErr string
}

func (t *floodTally) add(code int, d time.Duration, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case err == nil && code == http.StatusOK:
		t.ok = append(t.ok, d)
	case err == nil && code == http.StatusServiceUnavailable:
		t.shed = append(t.shed, d)
	default:
		t.errors++
		if t.firstErr == "" {
			if err != nil {
				t.firstErr = err.Error()
			} else {
				t.firstErr = "status " + strconv.Itoa(code)
			}
		}
	}
}

func pct(d []time.Duration, p int) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return ms(d[min(len(d)-1, len(d)*p/100)])
}

// floodGroup runs n closed-loop clients of one tenant until stop; outcomes
// count while measure is set.
func floodGroup(ctx context.Context, wg *sync.WaitGroup, base, tok string, n int, measure, stop *atomic.Bool, stopped <-chan struct{}, tally *floodTally) *http.Client {
	client := httpClient(n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The clients arrive over rampUp, not in one instant.
			time.Sleep(time.Duration(i) * rampUp / time.Duration(n))
			for !stop.Load() && ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+floodPath, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				t0, counted := time.Now(), measure.Load() // requests started in the window count
				res, err := client.Do(req)
				code, retry := 0, time.Duration(0)
				if err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					_ = res.Body.Close()
					code = res.StatusCode
					if code == http.StatusServiceUnavailable {
						s, _ := strconv.Atoi(res.Header.Get("Retry-After"))
						// jittered, as well-behaved clients do (no synchronised herd)
						retry = time.Duration(float64(max(s, 1)) * (0.5 + rand.Float64()) * float64(time.Second))
					}
				}
				if counted && ctx.Err() == nil {
					tally.add(code, time.Since(t0), err)
				}
				if retry > 0 {
					select {
					case <-time.After(retry):
					case <-stopped:
					}
				}
			}
		}()
	}
	return client
}

// floodPhase measures one phase: a clients of A, b of B.
func floodPhase(ctx context.Context, o options, s *server, tokA, tokB string, phase string, a, b int) floodRow {
	var (
		wg            sync.WaitGroup
		measure, stop atomic.Bool
		ta, tb        floodTally
		clients       []*http.Client
		stopped       = make(chan struct{})
	)
	if a > 0 {
		clients = append(clients, floodGroup(ctx, &wg, s.base, tokA, a, &measure, &stop, stopped, &ta))
	}
	if b > 0 {
		clients = append(clients, floodGroup(ctx, &wg, s.base, tokB, b, &measure, &stop, stopped, &tb))
	}
	var peak atomic.Uint64
	sampling := make(chan struct{})
	go func() {
		defer close(sampling)
		for !stop.Load() {
			peak.Store(max(peak.Load(), rssKiB(s.pid())))
			time.Sleep(50 * time.Millisecond)
		}
	}()
	time.Sleep(rampUp + o.warmup)
	measure.Store(true)
	start := time.Now()
	time.Sleep(o.duration)
	measure.Store(false)
	stop.Store(true)
	close(stopped)
	wg.Wait() // the requests started in the window have finished
	elapsed := time.Since(start)
	<-sampling
	for _, c := range clients {
		c.CloseIdleConnections()
	}
	r := floodRow{Target: s.name, Phase: phase, ClientsA: a, ClientsB: b,
		AOK: len(ta.ok), AShed: len(ta.shed), AErrors: ta.errors,
		AP50ms: pct(ta.ok, 50), AP99ms: pct(ta.ok, 99), AShedP99ms: pct(ta.shed, 99),
		BOK: len(tb.ok), BErrors: tb.errors + len(tb.shed), BP50ms: pct(tb.ok, 50), BP99ms: pct(tb.ok, 99),
		TotalRPS: float64(len(ta.ok)+len(tb.ok)) / elapsed.Seconds(), PeakRSSMiB: float64(peak.Load()) / 1024,
	}
	if all := r.AOK + r.AShed + r.AErrors; all > 0 {
		r.AShedRate = float64(r.AShed) / float64(all)
	}
	r.FirstError = ta.firstErr
	if tb.firstErr != "" {
		r.FirstError = "B: " + tb.firstErr
	} else if len(tb.shed) > 0 {
		r.FirstError = "B: status 503"
	}
	logf("%-10s flood %-10s A=%-4d B=%d  A ok %6d shed %6d (%.0f %%) err %d p99 %7.2fms shed p99 %6.2fms | B ok %5d err %d p50 %6.2fms p99 %7.2fms | %6.0f req/s  RSS %5.1f MiB %s",
		r.Target, phase, a, b, r.AOK, r.AShed, 100*r.AShedRate, r.AErrors, r.AP99ms, r.AShedP99ms, r.BOK, r.BErrors, r.BP50ms, r.BP99ms, r.TotalRPS, r.PeakRSSMiB, r.FirstError)
	// Let the server settle (connections closed, queues drained) before the next phase.
	time.Sleep(time.Second)
	return r
}

// runFlood runs the flood scenario against fresh server processes (the
// API, and api_before with -before, on its own database beforeURL) started
// with env and the default admission settings, so that neither the
// matrix's settings nor its memory high-water mark carry over.
func runFlood(ctx context.Context, o options, env []string, beforeURL string) ([]floodRow, error) {
	servers := map[string]*server{}
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	for name, bin := range map[string]string{"api": o.mtdb, "api_before": o.before} {
		if bin == "" {
			continue
		}
		e := env
		if name == "api_before" {
			e = append(env[:len(env):len(env)], "DATABASE_URL="+beforeURL)
		}
		s, err := startServer(ctx, name, bin, []string{"serve"}, e)
		if err != nil {
			return nil, err
		}
		servers[name] = s
	}
	tokA, err := token(tenantID(0, 0))
	if err != nil {
		return nil, err
	}
	tokB, err := token(tenantID(floodBOrg, 0))
	if err != nil {
		return nil, err
	}
	var out []floodRow
	// Phase by phase, the contenders take turns, so drift hits both alike.
	for _, p := range []struct {
		name string
		a, b int
	}{{"B alone", 0, floodClientB}, {"A c=16", 16, 0}, {"A c=64", 64, 0}, {"flood", 1000, floodClientB}, {"A c=2000", 2000, 0}} {
		for _, t := range []string{"api", "api_before"} {
			if s := servers[t]; s != nil {
				out = append(out, floodPhase(ctx, o, s, tokA, tokB, p.name, p.a, p.b))
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// rssKiB returns the current resident set (VmRSS) of pid in KiB.
func rssKiB(pid int) uint64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

func (r *report) floodPhase(target, phase string) floodRow {
	for _, f := range r.Flood {
		if f.Target == target && f.Phase == phase {
			return f
		}
	}
	return floodRow{}
}

// floodTargets adds the targets, from the api contender.
func (r *report) floodTargets() {
	if len(r.Flood) == 0 {
		return
	}
	alone, flood := r.floodPhase("api", "B alone"), r.floodPhase("api", "flood")
	c16, c64, c2000 := r.floodPhase("api", "A c=16"), r.floodPhase("api", "A c=64"), r.floodPhase("api", "A c=2000")
	add := func(name string, v float64, goal string, met bool) {
		r.Targets = append(r.Targets, target{Name: name, Value: v, Goal: goal, Met: met})
	}
	v := ratio(flood.BP99ms, alone.BP99ms)
	add("flood: B p99 under A's flood ÷ B p99 alone", v, "≤ 2", v > 0 && v <= 2)
	add("flood: B errors under A's flood", float64(flood.BErrors), "0", flood.BErrors == 0 && flood.BOK > 0)
	v = ratio(flood.TotalRPS, max(c16.TotalRPS, c64.TotalRPS))
	add("flood: throughput under the flood ÷ best of c=16, c=64", v, "≥ 0.9", v >= 0.9)
	v = ratio(c2000.AP99ms, c64.AP99ms)
	add("flood: admitted p99 at 2,000 clients ÷ at 64", v, "≤ 5", v > 0 && v <= 5)
	add("flood: shed answered within (p99 ms, 2,000 clients)", c2000.AShedP99ms, "≤ 50", c2000.AShedP99ms <= 50)
	add("flood: peak RSS at 2,000 clients (MiB)", c2000.PeakRSSMiB, "< 128", c2000.PeakRSSMiB > 0 && c2000.PeakRSSMiB < 128)
}

// floodMarkdown is the flood section of the report.
func (r *report) floodMarkdown(p func(string, ...any)) {
	if len(r.Flood) == 0 {
		return
	}
	p("\n## Flood: tenant A floods, tenant B sends from %d clients (GET %s, closed loop; a 503 waits for Retry-After)\n", floodClientB, floodPath)
	p("| contender | phase | A clients | B clients | A ok | A shed | A shed rate | A errors | A p50 / p99 ms | A shed p99 ms | B ok | B errors | B p50 / p99 ms | total req/s | peak RSS MiB |")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, f := range r.Flood {
		p("| %s | %s | %d | %d | %d | %d | %.1f %% | %d | %.2f / %.2f | %.2f | %d | %d | %.2f / %.2f | %.0f | %.1f |", f.Target, f.Phase, f.ClientsA, f.ClientsB,
			f.AOK, f.AShed, 100*f.AShedRate, f.AErrors, f.AP50ms, f.AP99ms, f.AShedP99ms, f.BOK, f.BErrors, f.BP50ms, f.BP99ms, f.TotalRPS, f.PeakRSSMiB)
	}
	if _, ok := r.find("api_before", epGet, 16); ok || r.floodPhase("api_before", "flood").Phase != "" {
		b, a := r.floodPhase("api_before", "flood"), r.floodPhase("api", "flood")
		ba, aa := r.floodPhase("api_before", "B alone"), r.floodPhase("api", "B alone")
		p("\nB's p99 under the flood ÷ alone: before %.2f, after %.2f; B errors before %d, after %d; A shed rate before %.1f %%, after %.1f %%.",
			ratio(b.BP99ms, ba.BP99ms), ratio(a.BP99ms, aa.BP99ms), b.BErrors, a.BErrors, 100*b.AShedRate, 100*a.AShedRate)
	}
}
