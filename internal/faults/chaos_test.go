package faults_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mtdb/mtdb/internal/faults"
	"github.com/mtdb/mtdb/internal/localpg"
	"github.com/mtdb/mtdb/internal/migrate"
)

// The chaos matrix: one private PostgreSQL cluster, the service in front
// of it (through the TCP proxy), and a mixed load of careful clients
// (writes with an Idempotency-Key, retried with the same key on 503, 504,
// 409 and transport errors until they get a definitive answer), while the
// database suffers one fault after another. For each fault: no 500, no
// acknowledged write lost, no duplicate created by the retries, liveness
// always 200, and readiness back to 200 within 5 s of the recovery (and 503
// within 3 s of the fault when the database refuses the service).
func TestChaosMatrix(t *testing.T) {
	long(t)
	c := newChaos(t)
	faultsList := []chaosFault{
		{name: "immediate stop + restart", down: true, hold: 3 * time.Second,
			apply: func() { must(t, c.cluster.StopMode(context.Background(), "immediate")) },
			undo:  c.restart},
		{name: "fast stop + restart", down: true, hold: 3 * time.Second,
			apply: func() { must(t, c.cluster.StopMode(context.Background(), "fast")) },
			undo:  c.restart},
		{name: "ALLOW_CONNECTIONS false", down: true, hold: 4 * time.Second,
			apply: func() { c.admin(`ALTER DATABASE mtdb_chaos ALLOW_CONNECTIONS false`); c.terminate() },
			undo:  func() { c.admin(`ALTER DATABASE mtdb_chaos ALLOW_CONNECTIONS true`) }},
		{name: "max_connections exhausted", down: true, hold: 4 * time.Second,
			apply: c.hog, undo: c.unhog},
		{name: "pg_terminate_backend (every 300 ms)", hold: 4 * time.Second,
			apply: c.startTerminating, undo: c.stopTerminating},
		{name: "password changed, then back", down: true, hold: 4 * time.Second,
			apply: func() { c.admin(`ALTER ROLE mtdb_chaos PASSWORD 'rotated-password'`); c.terminate() },
			undo:  func() { c.admin(`ALTER ROLE mtdb_chaos PASSWORD '` + chaosPassword + `'`) }},
		{name: "default_transaction_read_only on, off", hold: 4 * time.Second,
			apply: func() { c.admin(`ALTER DATABASE mtdb_chaos SET default_transaction_read_only = on`); c.terminate() },
			undo:  func() { c.admin(`ALTER DATABASE mtdb_chaos RESET default_transaction_read_only`); c.terminate() }},
		{name: "network partition 10 s", down: true, hold: 10 * time.Second, partition: true,
			apply: c.proxy.Blackhole, undo: func() { must(t, c.proxy.Restore()) }},
	}
	var rows []chaosRow
	for i, f := range faultsList {
		row := c.run(t, i, f)
		rows = append(rows, row)
	}
	c.printTable(t, rows)
	for _, r := range rows {
		for _, p := range r.problems {
			t.Errorf("%s: %s", r.fault, p)
		}
	}
}

const chaosPassword = "chaos-password"

type chaosFault struct {
	name      string
	down      bool // the database refuses the service: readiness must turn 503
	partition bool // requests may wait: 504 TIMEOUT allowed
	hold      time.Duration
	apply     func()
	undo      func()
}

// chaos is the private cluster, the proxy and the service under test.
type chaos struct {
	t       *testing.T
	cluster *localpg.Cluster
	dir     string
	super   *pgxpool.Pool // superuser on the maintenance database, direct
	owner   *pgxpool.Pool // superuser on mtdb_chaos, direct (checks)
	proxy   *faults.Proxy
	svc     *service
	fx      tenantFixture

	hogs        []*pgx.Conn
	terminating chan struct{}
	terminated  sync.WaitGroup
}

func newChaos(t *testing.T) *chaos {
	t.Helper()
	ctx := context.Background()
	// A directory the postgres user can reach when the tests run as root.
	dir, err := os.MkdirTemp("", "mtdb-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.Chmod(dir, 0o755))
	cl, err := localpg.Start(ctx, localpg.Options{Dir: dir, MaxConnections: 30, Durable: true})
	if err != nil {
		t.Fatal(err)
	}
	c := &chaos{t: t, cluster: cl, dir: dir}
	t.Cleanup(func() {
		c.unhog()
		_ = cl.StopMode(context.Background(), "immediate")
		_ = os.RemoveAll(dir)
	})
	// Passwords for everyone but the superuser, so that a changed password
	// locks the service out.
	must(t, os.WriteFile(cl.HBAFile(), []byte("local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"), 0o600))
	c.super = chaosPool(t, cl.URL("postgres"))
	c.admin(`SELECT pg_reload_conf()`)
	c.admin(`CREATE ROLE mtdb_chaos LOGIN PASSWORD '` + chaosPassword + `'`)
	c.admin(`CREATE ROLE mtdb_hog LOGIN PASSWORD 'hog'`)
	c.admin(`CREATE DATABASE mtdb_chaos`)
	if _, err := migrate.Apply(ctx, cl.URL("mtdb_chaos")); err != nil {
		t.Fatal(err)
	}
	c.admin(`GRANT mtdb_app TO mtdb_chaos`)
	c.owner = chaosPool(t, cl.URL("mtdb_chaos"))
	c.proxy, err = faults.NewProxy("127.0.0.1:" + strconv.Itoa(cl.Port()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.proxy.Close() })
	app := url.URL{Scheme: "postgres", User: url.UserPassword("mtdb_chaos", chaosPassword), Host: c.proxy.Addr(),
		Path: "/mtdb_chaos", RawQuery: "sslmode=disable"}
	c.svc = startService(t, app.String(), map[string]string{
		"SERVER_REQUEST_TIMEOUT":   "5s",
		"DATABASE_CONNECT_TIMEOUT": "2s",
		"DATABASE_ACQUIRE_TIMEOUT": "2s",
		"DATABASE_MAX_CONNS":       "4",
		"HEALTH_CHECK_INTERVAL":    "1s",
	})
	c.fx = newTenant(t, c.svc, "chaos")
	return c
}

func chaosPool(t *testing.T, u string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(u)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 2
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// admin runs a statement as the superuser, retrying while the cluster
// comes back.
func (c *chaos) admin(stmt string) {
	c.t.Helper()
	var err error
	for range 50 {
		if _, err = c.super.Exec(context.Background(), stmt); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("%s: %v", stmt, err)
}

// terminate ends every backend of the service's login role.
func (c *chaos) terminate() {
	c.admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'mtdb_chaos'`)
}

func (c *chaos) restart() {
	_, err := localpg.Start(context.Background(), localpg.Options{Dir: c.dir, Port: c.cluster.Port(), MaxConnections: 30, Durable: true})
	must(c.t, err)
}

func (c *chaos) startTerminating() {
	c.terminating = make(chan struct{})
	c.terminated.Add(1)
	go func() {
		defer c.terminated.Done()
		for {
			_, _ = c.super.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'mtdb_chaos'`)
			select {
			case <-c.terminating:
				return
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
}

func (c *chaos) stopTerminating() {
	close(c.terminating)
	c.terminated.Wait()
	c.terminating = nil
}

// hog takes every connection slot left for ordinary roles and, until
// unhog, keeps pushing the service's connections out and taking their
// slots too (a runaway client hogging max_connections).
func (c *chaos) hog() {
	u, _ := url.Parse(c.cluster.URL("postgres"))
	u.User = url.UserPassword("mtdb_hog", "hog")
	fill := func() {
		for len(c.hogs) < 40 {
			conn, err := pgx.Connect(context.Background(), u.String())
			if err != nil {
				return // 53300: full
			}
			c.hogs = append(c.hogs, conn)
		}
	}
	fill()
	c.terminating = make(chan struct{})
	c.terminated.Add(1)
	go func() {
		defer c.terminated.Done()
		for {
			_, _ = c.super.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'mtdb_chaos'`)
			fill()
			select {
			case <-c.terminating:
				return
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
}

func (c *chaos) unhog() {
	if c.terminating != nil {
		c.stopTerminating()
	}
	for _, h := range c.hogs {
		_ = h.Close(context.Background())
	}
	c.hogs = nil
}

// chaosRow is one line of the matrix.
type chaosRow struct {
	fault                       string
	requests, ok, s503, s504    int
	s409, s500, other, retries  int
	acked, replayed, lost, dups int
	livenessBad                 int
	toNotReady, toReady         time.Duration // -1: never
	causes                      string
	problems                    []string
}

// run applies one fault under load and measures it.
func (c *chaos) run(t *testing.T, n int, f chaosFault) chaosRow {
	const (
		before  = 1500 * time.Millisecond
		after   = 1500 * time.Millisecond
		workers = 4
	)
	svc := c.svc
	prefix := fmt.Sprintf("f%d-", n)
	row := chaosRow{fault: f.name, toNotReady: -1, toReady: -1}
	metricsBefore := unavailableCounts(svc)

	var (
		load, probes recorder
		stop         = make(chan struct{})
		wg           sync.WaitGroup
		mu           sync.Mutex
		acked        = map[string]string{} // name -> id
		retries      atomic.Int64
		replayed     atomic.Int64
	)
	probeHealth(svc, stop, &wg, &probes)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []string
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(10+rand.IntN(30)) * time.Millisecond):
				}
				switch {
				case i%3 == 0:
					name := fmt.Sprintf("%sw%d-%d", prefix, w, i)
					body := map[string]any{"name": name, "description": "chaos " + name, "owner_id": c.fx.Owner}
					key := uuid.NewString()
					// A careful client: the same key and body until a definitive answer.
					for attempt := 0; attempt < 200; attempt++ {
						r := svc.do(c.fx.Admin, "POST", "/api/v1/projects", body, "Idempotency-Key", key)
						load.add(r)
						if r.Status == 201 {
							var p struct {
								ID string `json:"id"`
							}
							_ = json.Unmarshal(r.Body, &p)
							mu.Lock()
							acked[name] = p.ID
							mu.Unlock()
							mine = append(mine, r.Location)
							if r.Replayed {
								replayed.Add(1)
							}
							break
						}
						if r.Err == nil && r.Status != 503 && r.Status != 504 && r.Status != 409 {
							break // definitive refusal (checked below)
						}
						retries.Add(1)
						time.Sleep(time.Duration(100+rand.IntN(150)) * time.Millisecond) // Retry-After, capped for the test
					}
				case i%3 == 1 && len(mine) > 0:
					load.add(svc.do(c.fx.Admin, "GET", mine[rand.IntN(len(mine))], nil))
				default:
					load.add(svc.do(c.fx.Admin, "GET", "/api/v1/projects?limit=5", nil))
				}
			}
		}()
	}

	time.Sleep(before)
	f.apply()
	faultAt := time.Now() // in effect
	time.Sleep(f.hold)
	f.undo()
	recoveredAt := time.Now()
	// Recovered: readiness 200 and a write acknowledged (or 15 s).
	for time.Since(recoveredAt) < 15*time.Second {
		if svc.do("", "GET", "/api/v1/health/readiness", nil).Status == 200 &&
			svc.do(c.fx.Admin, "GET", "/api/v1/projects?limit=1", nil).Status == 200 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(after)
	close(stop)
	wg.Wait()

	// Figures.
	for _, r := range load.results() {
		row.requests++
		switch {
		case r.Err != nil:
			row.other++
			row.problems = append(row.problems, fmt.Sprintf("%s %s: transport error %v", r.Method, r.Path, r.Err))
		case r.Status == 200 || r.Status == 201:
			row.ok++
		case r.Status == 503:
			row.s503++
			if r.Retry == "" || r.Code != "SERVICE_UNAVAILABLE" {
				row.problems = append(row.problems, fmt.Sprintf("503 without Retry-After or with code %q", r.Code))
			}
		case r.Status == 504:
			row.s504++
			if !f.partition {
				row.problems = append(row.problems, fmt.Sprintf("%s %s: 504 %s", r.Method, r.Path, r.Body))
			}
		case r.Status == 409:
			row.s409++
		case r.Status == 500:
			row.s500++
			row.problems = append(row.problems, fmt.Sprintf("%s %s: 500 %s", r.Method, r.Path, r.Body))
		default:
			row.other++
			row.problems = append(row.problems, fmt.Sprintf("%s %s: unexpected %d %s", r.Method, r.Path, r.Status, r.Body))
		}
	}
	row.retries = int(retries.Load())
	row.replayed = int(replayed.Load())
	row.acked = len(acked)
	for _, r := range probes.results() {
		if r.Status == 500 {
			row.s500++
			row.problems = append(row.problems, fmt.Sprintf("%s: 500", r.Path))
		}
		if strings.HasSuffix(r.Path, "liveness") {
			if r.Status != 200 {
				row.livenessBad++
			}
			continue
		}
		// The first not-ready answer given while the fault was in effect
		// (a probe may have started just before it).
		if end := r.Start.Add(r.Took); r.Status != 200 && end.After(faultAt) && r.Start.Before(recoveredAt) {
			if d := end.Sub(faultAt); row.toNotReady < 0 || d < row.toNotReady {
				row.toNotReady = d
			}
		}
	}
	// Back to ready: the first probe after the recovery from which every
	// later probe is 200.
	var last time.Time
	for _, r := range probes.results() {
		if strings.HasSuffix(r.Path, "readiness") && !r.Start.Before(recoveredAt) && r.Status != 200 {
			if end := r.Start.Add(r.Took); end.After(last) {
				last = end
			}
		}
	}
	if last.IsZero() {
		row.toReady = 0
	} else {
		row.toReady = last.Sub(recoveredAt)
	}
	if row.livenessBad > 0 {
		row.problems = append(row.problems, fmt.Sprintf("liveness not 200 %d times", row.livenessBad))
	}
	if f.down && (row.toNotReady < 0 || row.toNotReady > 3*time.Second) {
		row.problems = append(row.problems, fmt.Sprintf("readiness 503 after %s, want within 3s", row.toNotReady))
	}
	if row.toReady > 5*time.Second {
		row.problems = append(row.problems, fmt.Sprintf("readiness 200 again after %s, want within 5s", row.toReady))
	}

	// Every acknowledged write is there, once; no name twice.
	ctx := context.Background()
	rows, err := c.owner.Query(ctx, `SELECT id::text, name, description FROM projects WHERE name LIKE $1`, prefix+"%")
	if err != nil {
		t.Fatal(err)
	}
	found, names := map[string]bool{}, map[string]int{}
	for rows.Next() {
		var id, name, desc string
		must(t, rows.Scan(&id, &name, &desc))
		found[id] = true
		names[name]++
		if desc != "chaos "+name {
			row.problems = append(row.problems, fmt.Sprintf("project %s half-applied", id))
		}
	}
	must(t, rows.Err())
	for name, id := range acked {
		if !found[id] {
			row.lost++
			row.problems = append(row.problems, fmt.Sprintf("acknowledged write %s (%s) lost", name, id))
		}
	}
	for name, k := range names {
		if k > 1 {
			row.dups += k - 1
			row.problems = append(row.problems, fmt.Sprintf("%s created %d times", name, k))
		}
	}
	after2 := unavailableCounts(svc)
	var causes []string
	for cause, v := range after2 {
		if d := v - metricsBefore[cause]; d > 0 {
			causes = append(causes, fmt.Sprintf("%s %d", cause, int(d)))
		}
	}
	sort.Strings(causes)
	row.causes = strings.Join(causes, ", ")
	if len(row.problems) > 10 {
		row.problems = append(row.problems[:10], fmt.Sprintf("… and %d more", len(row.problems)-10))
	}
	return row
}

// unavailableCounts reads mtdb_database_unavailable_total by cause.
func unavailableCounts(s *service) map[string]float64 {
	r := s.do("", "GET", "/metrics", nil)
	out := map[string]float64{}
	for _, line := range strings.Split(string(r.Body), "\n") {
		const p = `mtdb_database_unavailable_total{cause="`
		if !strings.HasPrefix(line, p) {
			continue
		}
		rest := line[len(p):]
		i := strings.Index(rest, `"}`)
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest[i+2:]), 64)
		if err == nil {
			out[rest[:i]] = v
		}
	}
	return out
}

func (c *chaos) printTable(t *testing.T, rows []chaosRow) {
	dur := func(d time.Duration) string {
		if d < 0 {
			return "—"
		}
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n| fault | requests | 2xx | 503 | 504 | 409 | 500 | other | client retries | writes acked | of them replayed | lost | duplicates | liveness ≠200 | readiness 503 after | ready again after recovery | 503 causes |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %s | %s | %s |\n",
			r.fault, r.requests, r.ok, r.s503, r.s504, r.s409, r.s500, r.other, r.retries, r.acked, r.replayed,
			r.lost, r.dups, r.livenessBad, dur(r.toNotReady), dur(r.toReady), r.causes)
	}
	t.Log(b.String())
	if p := os.Getenv("MTDB_CHAOS_TABLE"); p != "" {
		_ = os.WriteFile(filepath.Clean(p), []byte(b.String()), 0o644)
	}
}
