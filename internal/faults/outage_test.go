package faults_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtdb/mtdb/internal/faults"
	"github.com/mtdb/mtdb/internal/pgtest"
)

// The database disappears for 10 seconds while a mixed load runs (the TCP
// proxy between service and PostgreSQL resets every connection and refuses
// new ones). Liveness stays 200, readiness is 503, requests fail fast with
// 503 SERVICE_UNAVAILABLE and Retry-After, the service recovers by itself
// within 5 seconds, and every acknowledged write is there afterwards.
func TestDatabaseOutageUnderLoad(t *testing.T) {
	long(t)
	outageUnderLoad(t, (*faults.Proxy).Cut, map[int]string{503: "SERVICE_UNAVAILABLE"})
}

// A network partition instead: connections stay open but nothing gets
// through. Requests may now wait, but never past the request timeout: those
// on a connection already in use answer 504 TIMEOUT at the request
// deadline, the others 503 once the connect or acquire timeout passes.
// Everything else is as in TestDatabaseOutageUnderLoad.
func TestDatabasePartitionUnderLoad(t *testing.T) {
	long(t)
	outageUnderLoad(t, (*faults.Proxy).Blackhole, map[int]string{503: "SERVICE_UNAVAILABLE", 504: "TIMEOUT"})
}

// outageUnderLoad runs the load, applies fault to the proxy for 10 s,
// restores it and checks the service's behaviour. During the outage
// requests may only answer the statuses (with codes) in allowed.
func outageUnderLoad(t *testing.T, fault func(*faults.Proxy), allowed map[int]string) {
	const (
		before   = 3 * time.Second
		outage   = 10 * time.Second
		after    = 4 * time.Second
		workers  = 4
		reqLimit = 5 * time.Second // SERVER_REQUEST_TIMEOUT
	)
	pg := pgtest.New(t)
	proxy, err := faults.NewProxy(serverAddr(t, pg.AppURL))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	svc := startService(t, withHost(t, pg.AppURL, proxy.Addr()), map[string]string{
		"SERVER_REQUEST_TIMEOUT":   reqLimit.String(),
		"DATABASE_CONNECT_TIMEOUT": "2s",
		"DATABASE_ACQUIRE_TIMEOUT": "2s",
		"DATABASE_MAX_CONNS":       "4",
		"HEALTH_CHECK_INTERVAL":    "1s",
	})
	fx := newTenant(t, svc, "outage")

	var (
		load, probes recorder
		stop         = make(chan struct{})
		wg           sync.WaitGroup
	)
	probeHealth(svc, stop, &wg, &probes)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last string
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(10+rand.IntN(30)) * time.Millisecond):
				}
				var r result
				switch {
				case i%3 == 0:
					name := fmt.Sprintf("w%d-%d", w, i)
					r = svc.do(fx.Admin, "POST", "/api/v1/projects", map[string]any{"name": name, "description": "load " + name, "owner_id": fx.Owner})
					if r.Status == 201 {
						last = r.Location
					}
				case i%3 == 1 && last != "":
					r = svc.do(fx.Admin, "GET", last, nil)
				default:
					r = svc.do(fx.Admin, "GET", "/api/v1/projects?limit=5", nil)
				}
				load.add(r)
			}
		}()
	}

	time.Sleep(before)
	cutAt := time.Now()
	fault(proxy)
	time.Sleep(outage)
	if err := proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	restoredAt := time.Now()
	// Recovery: readiness 200 and a write acknowledged.
	var ready, writable time.Duration
	for time.Since(restoredAt) < 30*time.Second && (ready == 0 || writable == 0) {
		if ready == 0 && svc.do("", "GET", "/api/v1/health/readiness", nil).Status == 200 {
			ready = time.Since(restoredAt)
		}
		if writable == 0 {
			r := svc.do(fx.Admin, "POST", "/api/v1/projects", map[string]any{"name": "probe", "description": "load probe", "owner_id": fx.Owner})
			load.add(r)
			if r.Status == 201 {
				writable = time.Since(restoredAt)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(after)
	close(stop)
	wg.Wait()

	// Figures and checks.
	phase := func(at time.Time) string {
		switch {
		case at.Before(cutAt):
			return "before"
		case at.Before(restoredAt):
			return "during"
		}
		return "after"
	}
	counts := map[string]map[string]int{"before": {}, "during": {}, "after": {}}
	var acked []result
	var maxTook time.Duration
	for _, r := range load.results() {
		key := fmt.Sprint(r.Status)
		if r.Code != "" {
			key += " " + r.Code
		}
		counts[phase(r.Start)][key]++
		maxTook = max(maxTook, r.Took)
		if r.Status == 201 {
			acked = append(acked, r)
		}
		switch {
		case r.Err != nil:
			t.Errorf("%s %s: transport error %v after %s", r.Method, r.Path, r.Err, r.Took)
		case r.Status >= 500 && (allowed[r.Status] != r.Code || (r.Status == 503 && r.Retry == "")):
			t.Errorf("%s %s (%s): %d %s Retry-After %q: %s", r.Method, r.Path, phase(r.Start), r.Status, r.Code, r.Retry, r.Body)
		case r.Status != 200 && r.Status != 201 && allowed[r.Status] == "":
			t.Errorf("%s %s: unexpected %d: %s", r.Method, r.Path, r.Status, r.Body)
		}
		if r.Took > reqLimit+time.Second {
			t.Errorf("%s %s took %s, past the request timeout %s", r.Method, r.Path, r.Took, reqLimit)
		}
	}
	// During the outage (after a grace of 0.5 s for requests already past
	// the database) every request fails with an allowed status.
	during := 0
	for _, r := range load.results() {
		if r.Start.After(cutAt.Add(500*time.Millisecond)) && r.Start.Add(r.Took).Before(restoredAt) {
			during++
			if allowed[r.Status] == "" {
				t.Errorf("during the outage: %s %s answered %d", r.Method, r.Path, r.Status)
			}
		}
	}
	if during < workers { // a partition makes each request wait its timeout
		t.Errorf("only %d requests ran entirely during the outage", during)
	}
	probeCounts := map[string]int{}
	for _, r := range probes.results() {
		live := strings.HasSuffix(r.Path, "liveness")
		if live && r.Status != 200 {
			t.Errorf("liveness %d at %s (%s)", r.Status, r.Start.Sub(cutAt), phase(r.Start))
		}
		if !live {
			probeCounts[phase(r.Start)+" "+fmt.Sprint(r.Status)]++
			// Readiness shares one ping for up to health's PingTTL (1 s): a
			// probe may repeat an "up" that old. Requests that find the
			// database gone forget it at once (Checker.DatabaseFailed), but a
			// partition fails no request until its timeout.
			if r.Start.After(cutAt.Add(500*time.Millisecond+time.Second)) && r.Start.Add(r.Took).Before(restoredAt) && r.Status != 503 {
				t.Errorf("readiness %d during the outage", r.Status)
			}
		}
	}
	if ready == 0 || ready > 5*time.Second || writable == 0 || writable > 5*time.Second {
		t.Errorf("recovery: ready after %s, first write after %s; want both within 5s", ready, writable)
	}

	// Every acknowledged write is present and whole.
	ctx := context.Background()
	rows, err := pg.OwnerPool(t).Query(ctx, `SELECT id::text, name, description FROM projects WHERE tenant_id = $1`, fx.ID)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for rows.Next() {
		var id, name, desc string
		if err := rows.Scan(&id, &name, &desc); err != nil {
			t.Fatal(err)
		}
		if desc != "load "+name {
			t.Errorf("project %s half-applied: name %q, description %q", id, name, desc)
		}
		found[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	lost := 0
	for _, r := range acked {
		if !found[r.Location[strings.LastIndex(r.Location, "/")+1:]] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged writes are missing", lost, len(acked))
	}
	phases := []string{"before", "during", "after"}
	for _, p := range phases {
		keys := make([]string, 0, len(counts[p]))
		for k := range counts[p] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s ×%d", k, counts[p][k]))
		}
		t.Logf("requests started %-6s the outage: %s", p, strings.Join(parts, ", "))
	}
	t.Logf("readiness probes: %v", probeCounts)
	t.Logf("writes acknowledged (201): %d; found afterwards: %d of them; rows present: %d (%d committed but unacknowledged)",
		len(acked), len(acked)-lost, len(found), len(found)-(len(acked)-lost))
	t.Logf("outage %s; ready %.2fs and first write %.2fs after restore; slowest request %s",
		outage, ready.Seconds(), writable.Seconds(), maxTook.Round(time.Millisecond))
}
