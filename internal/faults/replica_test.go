package faults_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/localpg"
	"github.com/mtdb/mtdb/internal/migrate"
	"github.com/mtdb/mtdb/internal/tenant"
)

// replicaSetup is a private primary cluster, its streaming replica
// (pg_basebackup -R on loopback), and the service reading from the
// replica (DATABASE_READ_URL).
type replicaSetup struct {
	t                *testing.T
	primary, replica *localpg.Cluster
	replicaDir       string
	superP, superR   *pgxpool.Pool // superuser on the application database: setup, WAL positions, replay control
	appReplicaURL    string
	svc              *service
}

const replicaDB = "mtdb_rr"

func newReplicaSetup(t *testing.T) *replicaSetup {
	t.Helper()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "mtdb-replica-")
	must(t, err)
	must(t, os.Chmod(dir, 0o755)) // the postgres user must reach it when the tests run as root
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	primary, err := localpg.Start(ctx, localpg.Options{Dir: dir + "/primary", MaxConnections: 40})
	if errors.Is(err, localpg.ErrNotInstalled) {
		t.Skip(err)
	}
	must(t, err)
	t.Cleanup(func() { _ = primary.StopMode(context.Background(), "immediate") })
	admin := chaosPool(t, primary.URL("postgres"))
	for _, stmt := range []string{`CREATE ROLE mtdb_rr LOGIN`, `CREATE DATABASE ` + replicaDB} {
		if _, err := admin.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if _, err := migrate.Apply(ctx, primary.URL(replicaDB)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `GRANT mtdb_app TO mtdb_rr`); err != nil {
		t.Fatal(err)
	}
	s := &replicaSetup{t: t, primary: primary, replicaDir: dir + "/replica"}
	s.replica, err = primary.StartReplica(ctx, s.replicaDir)
	must(t, err)
	t.Cleanup(func() { _ = s.replica.StopMode(context.Background(), "immediate") })
	s.superP = chaosPool(t, primary.URL(replicaDB))
	s.superR = chaosPool(t, s.replica.URL(replicaDB))
	appURL := func(port int) string {
		u := url.URL{Scheme: "postgres", User: url.User("mtdb_rr"), Host: "127.0.0.1:" + strconv.Itoa(port),
			Path: "/" + replicaDB, RawQuery: "sslmode=disable"}
		return u.String()
	}
	s.appReplicaURL = appURL(s.replica.Port())
	s.svc = startService(t, appURL(primary.Port()), map[string]string{
		"DATABASE_READ_URL":            s.appReplicaURL,
		"DATABASE_READ_MAX_LAG":        "2s",
		"DATABASE_READ_PROBE_INTERVAL": "200ms",
		"DATABASE_CONNECT_TIMEOUT":     "2s",
		"DATABASE_ACQUIRE_TIMEOUT":     "2s",
		"SERVER_REQUEST_TIMEOUT":       "10s",
		"HEALTH_CHECK_INTERVAL":        "1s",
	})
	return s
}

// waitFor polls cond until it holds; it fails the test after a generous
// bound (a condition, not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 90*time.Second {
			t.Fatalf("%s: not reached after %s", what, time.Since(start).Round(time.Millisecond))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// caughtUp waits until the replica has replayed everything the primary
// had written when it was called.
func (s *replicaSetup) caughtUp() {
	s.t.Helper()
	var target string
	if err := s.superP.QueryRow(context.Background(), `SELECT pg_current_wal_lsn()::text`).Scan(&target); err != nil {
		s.t.Fatal(err)
	}
	waitFor(s.t, "replica replays "+target, func() bool {
		var ok bool
		err := s.superR.QueryRow(context.Background(), `SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn`, target).Scan(&ok)
		return err == nil && ok
	})
}

func (s *replicaSetup) status() database.ReplicaStatus { return s.svc.db.Replica.Status() }

// inRecovery runs SELECT pg_is_in_recovery() through the service's
// driver in ctx: true when the statement ran on the replica.
func (s *replicaSetup) inRecovery(ctx context.Context) bool {
	s.t.Helper()
	var rows entsql.Rows
	if err := s.svc.db.Driver.Query(ctx, `SELECT pg_is_in_recovery()`, []any{}, &rows); err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	var v bool
	if !rows.Next() {
		s.t.Fatal("no row")
	}
	must(s.t, rows.Scan(&v))
	return v
}

// TestReadReplica runs the service against a real streaming replica:
// GET requests read from it (and only those), a request that began a
// write stays on the primary, isolation holds on the replica through the
// restricted role, and when the replica stops or falls behind by more
// than DATABASE_READ_MAX_LAG reads go to the primary with no error;
// readiness reports it all and stays 200.
func TestReadReplica(t *testing.T) {
	s := newReplicaSetup(t)
	svc := s.svc
	waitFor(t, "replica up", func() bool { return s.status().Status == database.ReplicaUp })

	a := newTenant(t, svc, "rr-a")
	b := newTenant(t, svc, "rr-b")
	s.caughtUp()

	t.Run("GET reads come from the replica", func(t *testing.T) {
		before := svc.db.Replica.Reads()
		for range 20 {
			svc.do(a.Admin, "GET", "/api/v1/users", nil).must(t, 200, nil)
			svc.do(a.Admin, "GET", "/api/v1/users/"+a.Owner, nil).must(t, 200, nil)
		}
		after := svc.db.Replica.Reads()
		t.Logf("40 GET requests: %d reads on the replica, %d on the primary, %d fallbacks",
			after.Replica-before.Replica, after.Primary-before.Primary, after.Fallbacks-before.Fallbacks)
		waitFor(t, "a GET read from the replica", func() bool { // at once, unless a probe found it lagging meanwhile
			svc.do(a.Admin, "GET", "/api/v1/users", nil).must(t, 200, nil)
			return svc.db.Replica.Reads().Replica > before.Replica
		})
		// The same route the GETs took, asked where it is: a standby.
		get := tenant.With(context.Background(), tenant.Context{TenantID: a.ID, Role: tenant.RoleTenantAdmin, ReadOnly: true, ReplicaOK: true})
		waitFor(t, "a read served by a server in recovery", func() bool { return s.inRecovery(get) })
		// Read-only work that does not allow a replica stays on the primary.
		plain := tenant.With(context.Background(), tenant.Context{TenantID: a.ID, Role: tenant.RoleTenantAdmin, ReadOnly: true})
		if s.inRecovery(plain) {
			t.Fatal("a read-only context without ReplicaOK ran on the replica")
		}
		metrics := string(svc.do("", "GET", "/metrics", nil).must(t, 200, nil).Body)
		if !strings.Contains(metrics, `mtdb_db_reads_total{target="replica"}`) || !strings.Contains(metrics, "mtdb_db_replica_serving 1") {
			t.Fatalf("metrics lack the replica reads: %s", grepLines(metrics, "replica"))
		}
	})

	t.Run("writes and the reads after them stay on the primary", func(t *testing.T) {
		before := svc.db.Replica.Reads()
		for i := range 5 {
			svc.do(a.Admin, "POST", "/api/v1/users", map[string]any{"email": "w" + strconv.Itoa(i) + "@rr-a.example", "display_name": "W"}).must(t, 201, nil)
		}
		svc.do(a.Admin, "PATCH", "/api/v1/users/"+a.Owner, map[string]any{"display_name": "Renamed"}).must(t, 200, nil)
		if after := svc.db.Replica.Reads(); after.Replica != before.Replica {
			t.Fatalf("writes read from the replica: %+v → %+v", before, after)
		}
		// One request: a read (replica), a transaction that may write
		// (primary), then a read: it must see the write, so the primary.
		req := tenant.With(context.Background(), tenant.Context{TenantID: a.ID, Role: tenant.RoleTenantAdmin, ReadOnly: true, ReplicaOK: true})
		waitFor(t, "first read on the replica", func() bool { return s.inRecovery(req) })
		tc, _ := tenant.From(req)
		tc.ReadOnly = false
		if err := s.svc.db.Driver.Exec(tenant.With(req, tc), `SELECT 1`, []any{}, nil); err != nil {
			t.Fatal(err)
		}
		if s.inRecovery(req) {
			t.Fatal("a read after a write in the same request ran on the replica")
		}
	})

	t.Run("isolation on the replica", func(t *testing.T) {
		s.caughtUp()
		// Through the API: B's admin names A's rows and A's tenant.
		svc.do(b.Admin, "GET", "/api/v1/users/"+a.Owner, nil).must(t, 404, nil)
		svc.do(b.Admin, "GET", "/api/v1/users", nil, "X-Tenant-ID", a.ID.String()).must(t, 403, nil)
		var list struct {
			Users []struct {
				TenantID uuid.UUID `json:"tenant_id"`
			} `json:"users"`
		}
		svc.do(b.Admin, "GET", "/api/v1/users", nil).must(t, 200, &list)
		for _, u := range list.Users {
			if u.TenantID != b.ID {
				t.Fatalf("B sees a user of tenant %s", u.TenantID)
			}
		}
		// Raw SQL on the replica as the login role through mtdb_app, in
		// both settings modes: only B's rows, no writes, nothing without
		// a tenant, A refused to B's credentials.
		conn, err := pgx.Connect(context.Background(), s.appReplicaURL)
		must(t, err)
		defer conn.Close(context.Background())
		for _, mode := range []tenant.SettingsMode{tenant.SetConfig, tenant.SetLocal} {
			as := func(tc tenant.Context, fn func(pgx.Tx) error) error {
				ctx := context.Background()
				tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
				must(t, err)
				defer func() { _ = tx.Rollback(ctx) }()
				q, args := tenant.SettingsStatement(tc, time.Second)
				if mode == tenant.SetLocal {
					set, enter, eargs, err := tenant.LocalSettings(tc, time.Second)
					must(t, err)
					if _, err := tx.Exec(ctx, set); err != nil {
						return err
					}
					q, args = enter, eargs
				}
				if _, err := tx.Exec(ctx, q, args...); err != nil {
					return err
				}
				return fn(tx)
			}
			count := func(tc tenant.Context, where string, args ...any) int {
				var n int
				must(t, as(tc, func(tx pgx.Tx) error {
					return tx.QueryRow(context.Background(), `SELECT count(*) FROM users WHERE `+where, args...).Scan(&n)
				}))
				return n
			}
			inB := tenant.Context{TenantID: b.ID, HomeTenantID: b.ID, Role: tenant.RoleTenantAdmin, UserID: "attacker"}
			if n := count(inB, `tenant_id = $1`, a.ID); n != 0 {
				t.Fatalf("%s: B sees %d of A's users on the replica", mode, n)
			}
			if n := count(inB, `true`); n == 0 {
				t.Fatalf("%s: B sees none of its own users on the replica", mode)
			}
			if n := count(tenant.Context{Role: tenant.RoleMember}, `true`); n != 0 {
				t.Fatalf("%s: no tenant sees %d users on the replica", mode, n)
			}
			err := as(inB, func(tx pgx.Tx) error {
				_, err := tx.Exec(context.Background(), `UPDATE users SET display_name = 'pwned' WHERE tenant_id = $1`, a.ID)
				return err
			})
			if code := pgCode(err); code != "25006" {
				t.Fatalf("%s: a write on the replica: %v, want 25006 read_only_sql_transaction", mode, err)
			}
			err = as(tenant.Context{TenantID: a.ID, HomeTenantID: b.ID, Role: tenant.RoleTenantAdmin}, func(pgx.Tx) error { return nil })
			if code := pgCode(err); code != tenant.UnreachableCode {
				t.Fatalf("%s: B's credentials entering A on the replica: %v, want %s", mode, err, tenant.UnreachableCode)
			}
		}
	})

	t.Run("replica stops: reads fall back to the primary, no 5xx", func(t *testing.T) {
		before := svc.db.Replica.Reads()
		stop := loadGETs(svc, a)
		waitFor(t, "some reads on the replica under load", func() bool { return svc.db.Replica.Reads().Replica > before.Replica })
		stopAt := time.Now()
		must(t, s.replica.StopMode(context.Background(), "immediate"))
		waitFor(t, "replica reported down", func() bool { return s.status().Status == database.ReplicaDown })
		took := time.Since(stopAt)
		downAt := svc.db.Replica.Reads()
		waitFor(t, "reads on the primary while the replica is down", func() bool {
			return svc.db.Replica.Reads().Primary > downAt.Primary+20
		})
		rd := readiness(t, svc)
		rs := stop()
		after := svc.db.Replica.Reads()
		t.Logf("replica stopped: reported down %s after pg_ctl stop began (status %q); %d GETs during the phase, reads replica %d / primary %d, fallbacks %d",
			took.Round(time.Millisecond), s.status().Status, len(rs), after.Replica-before.Replica, after.Primary-before.Primary, after.Fallbacks-before.Fallbacks)
		assertAllOK(t, rs)
		if rd.Replica.Status != database.ReplicaDown || rd.Replica.Serving != "primary" {
			t.Fatalf("readiness while the replica is down: %+v", rd)
		}

		// Back: the same directory and port; reads return to it.
		_, err := localpg.Start(context.Background(), localpg.Options{Dir: s.replicaDir, Port: s.replica.Port()})
		must(t, err)
		back := waitFor(t, "replica up again", func() bool { return s.status().Status == database.ReplicaUp })
		n := svc.db.Replica.Reads().Replica
		waitFor(t, "reads on the replica again", func() bool {
			svc.do(a.Admin, "GET", "/api/v1/users", nil).must(t, 200, nil)
			return svc.db.Replica.Reads().Replica > n
		})
		t.Logf("replica restarted: up again after %s", back.Round(time.Millisecond))
	})

	t.Run("replica lags beyond the maximum: reads on the primary", func(t *testing.T) {
		s.caughtUp()
		if _, err := s.superR.Exec(context.Background(), `SELECT pg_wal_replay_pause()`); err != nil {
			t.Fatal(err)
		}
		defer func() { _, _ = s.superR.Exec(context.Background(), `SELECT pg_wal_replay_resume()`) }()
		var created struct {
			ID string `json:"id"`
		}
		svc.do(a.Admin, "POST", "/api/v1/users", map[string]any{"email": "after-pause@rr-a.example", "display_name": "After pause"}).must(t, 201, &created)
		stop := loadGETs(svc, a)
		took := waitFor(t, "replica reported lagging", func() bool { return s.status().Status == database.ReplicaLagging })
		// The new user is visible: the read came from the primary (the
		// paused replica does not have it).
		svc.do(a.Admin, "GET", "/api/v1/users/"+created.ID, nil).must(t, 200, nil)
		get := tenant.With(context.Background(), tenant.Context{TenantID: a.ID, Role: tenant.RoleTenantAdmin, ReadOnly: true, ReplicaOK: true})
		if s.inRecovery(get) {
			t.Fatal("a read ran on the lagging replica")
		}
		rd := readiness(t, svc)
		rs := stop()
		st := s.status()
		lag := -1.0
		if st.LagSeconds != nil {
			lag = *st.LagSeconds
		}
		t.Logf("replay paused: reported lagging after %s (lag %.2fs, max %.0fs); %d GETs during the phase", took.Round(time.Millisecond), lag, st.MaxLagSeconds, len(rs))
		assertAllOK(t, rs)
		if rd.Replica.Status != database.ReplicaLagging || rd.Replica.Serving != "primary" || rd.Replica.LagSeconds == nil || *rd.Replica.LagSeconds <= rd.Replica.MaxLagSeconds {
			t.Fatalf("readiness while the replica lags: %+v", rd.Replica)
		}

		if _, err := s.superR.Exec(context.Background(), `SELECT pg_wal_replay_resume()`); err != nil {
			t.Fatal(err)
		}
		back := waitFor(t, "replica caught up and up", func() bool { return s.status().Status == database.ReplicaUp })
		t.Logf("replay resumed: up again after %s; totals %+v", back.Round(time.Millisecond), svc.db.Replica.Reads())
	})
}

// readinessBody is GET /api/v1/health/readiness with the replica.
type readinessBody struct {
	Status  string                 `json:"status"`
	Replica database.ReplicaStatus `json:"replica"`
}

func readiness(t *testing.T, svc *service) readinessBody {
	t.Helper()
	var r readinessBody
	svc.do("", "GET", "/api/v1/health/readiness", nil).must(t, 200, &r)
	return r
}

// loadGETs keeps two workers reading a's users until the returned stop is
// called, which returns every result.
func loadGETs(svc *service, a tenantFixture) (stop func() []result) {
	rec := &recorder{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				path := "/api/v1/users"
				if (i+w)%2 == 1 {
					path += "/" + a.Owner
				}
				rec.add(svc.do(a.Admin, "GET", path, nil))
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	return func() []result { close(done); wg.Wait(); return rec.results() }
}

func assertAllOK(t *testing.T, rs []result) {
	t.Helper()
	for _, r := range rs {
		if r.Status != 200 {
			t.Fatalf("%s %s: %d %s (%v)", r.Method, r.Path, r.Status, r.Body, r.Err)
		}
	}
}

func pgCode(err error) string {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code
	}
	return ""
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
