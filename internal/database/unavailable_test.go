package database

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mtdb/mtdb/ent"
	enttenant "github.com/mtdb/mtdb/ent/tenant"
	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/pgtest"
	"github.com/mtdb/mtdb/internal/tenant"
)

var platform = tenant.Context{Role: tenant.RolePlatformAdmin, UserID: "database-test"}

func openDB(t *testing.T, u string) *DB {
	t.Helper()
	db, err := Open(context.Background(), Options{URL: u, ConnectTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// wantUnavailable fails t unless err classifies as unavailable with one of causes.
func wantUnavailable(t *testing.T, what string, err error, causes ...Cause) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	got := Classify(err)
	if errs.KindOf(got) != errs.KindUnavailable {
		t.Fatalf("%s: %v classifies as kind %v, want unavailable", what, err, errs.KindOf(got))
	}
	for _, c := range causes {
		if CauseOf(got) == c {
			return
		}
	}
	t.Fatalf("%s: cause %q, want one of %v (%v)", what, CauseOf(got), causes, err)
}

// A backend terminated by pg_terminate_backend in the middle of a
// transaction: the next statement and the commit are unavailable; the pool
// then recovers on its own.
func TestUnavailableTerminatedBackend(t *testing.T) {
	pg := pgtest.New(t)
	db := openDB(t, pg.AppURL)
	owner := pg.OwnerPool(t)
	ctx := tenant.With(context.Background(), platform)
	tx, err := db.Ent.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Tenant.Query().Count(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND usename = $2`, pg.Name, pgtest.TesterRole); err != nil {
		t.Fatal(err)
	}
	_, err = tx.Tenant.Query().Count(ctx)
	wantUnavailable(t, "statement after pg_terminate_backend", err, CauseShutdown, CauseConnLost)
	_ = tx.Rollback()
	// Mid-batch: terminate while an implicit transaction is pipelined.
	if _, err := db.Ent.Tenant.Query().Count(ctx); err != nil {
		t.Fatalf("the pool did not recover: %v", err)
	}
	err = WithTx(ctx, db.Ent, func(tx *ent.Tx) error {
		if _, err := tx.Tenant.Query().Count(ctx); err != nil {
			return err
		}
		_, err := owner.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND usename = $2`, pg.Name, pgtest.TesterRole)
		if err != nil {
			t.Fatal(err)
		}
		return tx.Tenant.Create().SetName("never").SetTenantType("parent").Exec(ctx)
	})
	wantUnavailable(t, "write after pg_terminate_backend", err, CauseShutdown, CauseConnLost)
}

// ALTER DATABASE … ALLOW_CONNECTIONS false: new connections fail with a
// FATAL 55000 at startup.
func TestUnavailableDatabaseNotAccepting(t *testing.T) {
	pg := pgtest.New(t)
	u, _ := url.Parse(pg.OwnerURL)
	u.Path = "/postgres" // not the database whose connections are disallowed
	owner, err := pgxpool.New(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(owner.Close)
	ctx := tenant.With(context.Background(), platform)
	ident := pgx.Identifier{pg.Name}.Sanitize()
	if _, err := owner.Exec(ctx, `ALTER DATABASE `+ident+` ALLOW_CONNECTIONS false`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = owner.Exec(context.Background(), `ALTER DATABASE `+ident+` ALLOW_CONNECTIONS true`) })
	db := openDB(t, pg.AppURL)
	_, err = db.Ent.Tenant.Query().Count(ctx)
	wantUnavailable(t, "database not accepting connections", err, CauseNotAccepting)
	if _, err := owner.Exec(ctx, `ALTER DATABASE `+ident+` ALLOW_CONNECTIONS true`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Ent.Tenant.Query().Count(ctx); err != nil {
		t.Fatalf("after ALLOW_CONNECTIONS true: %v", err)
	}
}

// A closed port, a host name that does not resolve, a TLS handshake that
// fails, a database that does not exist, a role that may no
// longer log in, and the server's connection limit for the role.
func TestUnavailableConnectFailures(t *testing.T) {
	pg := pgtest.New(t)
	owner := pg.OwnerPool(t)
	ctx := tenant.With(context.Background(), platform)

	_, err := openDB(t, "postgres://nobody@127.0.0.1:1/none?sslmode=disable").Ent.Tenant.Query().Count(ctx)
	wantUnavailable(t, "closed port", err, CauseConnect)

	u, _ := url.Parse(pg.AppURL)
	u.Host = "mtdb-no-such-host.invalid:5432" // RFC 6761: never resolves
	_, err = openDB(t, u.String()).Ent.Tenant.Query().Count(ctx)
	wantUnavailable(t, "host name does not resolve", err, CauseConnect)

	// TLS that cannot succeed: the server's certificate (if it offers TLS
	// at all) is not signed by this fresh CA.
	u, _ = url.Parse(pg.AppURL)
	q := u.Query()
	q.Set("sslmode", "verify-full")
	q.Set("sslrootcert", strangerCA(t))
	u.RawQuery = q.Encode()
	_, err = openDB(t, u.String()).Ent.Tenant.Query().Count(ctx)
	wantUnavailable(t, "TLS verification fails", err, CauseConnect)

	u, _ = url.Parse(pg.AppURL)
	u.Path = "/mtdb_gone_" + uuid.NewString()[:8]
	_, err = openDB(t, u.String()).Ent.Tenant.Query().Count(ctx)
	wantUnavailable(t, "missing database", err, CauseNotAccepting)

	role := "mtdb_login_" + uuid.NewString()[:8]
	if _, err := owner.Exec(ctx, `CREATE ROLE `+role+` LOGIN NOINHERIT IN ROLE mtdb_app`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c := context.Background()
		_, _ = owner.Exec(c, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, role)
		_, _ = owner.Exec(c, `DROP ROLE IF EXISTS `+role)
	})
	u, _ = url.Parse(pg.AppURL)
	u.User = url.User(role)
	db := openDB(t, u.String())
	if _, err := db.Ent.Tenant.Query().Count(ctx); err != nil {
		t.Fatalf("as %s: %v", role, err)
	}
	db.Pool.Reset() // no idle connection survives: the next statement connects
	if _, err := owner.Exec(ctx, `ALTER ROLE `+role+` CONNECTION LIMIT 0`); err != nil {
		t.Fatal(err)
	}
	_, err = db.Ent.Tenant.Query().Count(ctx)
	wantUnavailable(t, "role connection limit", err, CauseTooMany)
	if _, err := owner.Exec(ctx, `ALTER ROLE `+role+` CONNECTION LIMIT -1 NOLOGIN`); err != nil {
		t.Fatal(err)
	}
	_, err = db.Ent.Tenant.Query().Count(ctx)
	wantUnavailable(t, "role may not log in (28000)", err, CauseAuth)
}

// A server in read-only mode (default_transaction_read_only, as a standby
// after a failover would be) refuses writes with 25006: unavailable.
func TestUnavailableReadOnly(t *testing.T) {
	pg := pgtest.New(t)
	owner := pg.OwnerPool(t)
	ctx := tenant.With(context.Background(), platform)
	if _, err := owner.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{pg.Name}.Sanitize()+` SET default_transaction_read_only = on`); err != nil {
		t.Fatal(err)
	}
	db := openDB(t, pg.AppURL)
	if _, err := db.Ent.Tenant.Query().Count(ctx); err != nil {
		t.Fatalf("reads work on a read-only server: %v", err)
	}
	err := db.Ent.Tenant.Create().SetName("ro").SetTenantType("parent").Exec(ctx)
	wantUnavailable(t, "write on a read-only server", err, CauseReadOnly)
}

// Two transactions that deadlock: PostgreSQL aborts one (40P01), WithTx
// runs it again, and both succeed.
func TestWithTxRetriesDeadlock(t *testing.T) {
	pg := pgtest.New(t)
	db := openDB(t, pg.AppURL)
	ctx := tenant.With(context.Background(), platform)
	a := db.Ent.Tenant.Create().SetName("a").SetTenantType("parent").SaveX(ctx)
	b := db.Ent.Tenant.Create().SetName("b").SetTenantType("parent").SaveX(ctx)
	var (
		runs    atomic.Int32
		both    sync.WaitGroup
		wg      sync.WaitGroup
		errsOut [2]error
	)
	both.Add(2)
	for i, order := range [][2]uuid.UUID{{a.ID, b.ID}, {b.ID, a.ID}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			errsOut[i] = WithTx(ctx, db.Ent, func(tx *ent.Tx) error {
				runs.Add(1)
				if err := tx.Tenant.UpdateOneID(order[0]).SetName("x" + order[0].String()[:4]).Exec(ctx); err != nil {
					return err
				}
				if first { // both hold their first lock before taking the second
					first = false
					both.Done()
					both.Wait()
				}
				return tx.Tenant.UpdateOneID(order[1]).SetName("y" + order[1].String()[:4]).Exec(ctx)
			})
		}()
	}
	wg.Wait()
	for i, err := range errsOut {
		if err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
	}
	if n := runs.Load(); n < 3 {
		t.Fatalf("%d runs: the deadlock was not retried", n)
	}
}

// A request transaction: statements outside a transaction and WithTx join
// it; nothing is visible before Commit, nothing stays after Rollback, and
// a failed joined transaction dooms the request's.
func TestRequestTx(t *testing.T) {
	pg := pgtest.New(t)
	db := openDB(t, pg.AppURL)
	ctx := tenant.With(context.Background(), platform)
	count := func() int { return db.Ent.Tenant.Query().CountX(ctx) }

	rctx, r := InRequestTx(ctx)
	db.Ent.Tenant.Create().SetName("one").SetTenantType("parent").ExecX(rctx)
	if err := WithTx(rctx, db.Ent, func(tx *ent.Tx) error {
		return tx.Tenant.Create().SetName("two").SetTenantType("parent").Exec(rctx)
	}); err != nil {
		t.Fatal(err)
	}
	if n := db.Ent.Tenant.Query().CountX(rctx); n != 2 {
		t.Fatalf("inside the request transaction: %d tenants, want 2", n)
	}
	if n := count(); n != 0 {
		t.Fatalf("before commit, outside: %d tenants", n)
	}
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("after commit: %d tenants, want 2", n)
	}

	rctx, r = InRequestTx(ctx)
	db.Ent.Tenant.Create().SetName("three").SetTenantType("parent").ExecX(rctx)
	if err := r.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("after rollback: %d tenants, want 2", n)
	}

	rctx, r = InRequestTx(ctx)
	db.Ent.Tenant.Create().SetName("four").SetTenantType("parent").ExecX(rctx)
	boom := errors.New("boom")
	if err := WithTx(rctx, db.Ent, func(tx *ent.Tx) error { return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if err := r.Commit(); !errors.Is(err, ErrRequestRolledBack) {
		t.Fatalf("commit after a failed joined transaction: %v", err)
	}
	if n := count(); n != 2 {
		t.Fatalf("after a doomed request: %d tenants, want 2", n)
	}
}

// A statement outside a transaction (ent's lone DELETE) that PostgreSQL
// aborts with a serialization failure (40001: under REPEATABLE READ, the
// row was changed by a transaction that committed after the snapshot) is
// run again in a new implicit transaction, and succeeds.
func TestImplicitStatementRetriesSerializationFailure(t *testing.T) {
	pg := pgtest.New(t)
	owner := pg.OwnerPool(t)
	ctx := tenant.With(context.Background(), platform)
	if _, err := owner.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{pg.Name}.Sanitize()+` SET default_transaction_isolation = 'repeatable read'`); err != nil {
		t.Fatal(err)
	}
	deletes := &countDeletes{}
	db, err := Open(context.Background(), Options{URL: pg.AppURL, Tracer: deletes})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	victim := db.Ent.Tenant.Create().SetName("victim").SetTenantType("parent").SaveX(ctx)
	blocker, err := owner.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blocker.Exec(ctx, `UPDATE tenants SET name = 'renamed' WHERE id = $1`, victim.ID); err != nil {
		_ = blocker.Rollback(ctx)
		t.Fatal(err)
	}
	committed := make(chan error, 1)
	go func() {
		time.Sleep(500 * time.Millisecond) // the DELETE waits for the row lock meanwhile
		committed <- blocker.Commit(ctx)
	}()
	n, err := db.Ent.Tenant.Delete().Where(enttenant.ID(victim.ID)).Exec(ctx)
	if cerr := <-committed; cerr != nil {
		t.Fatal(cerr)
	}
	if err != nil {
		t.Fatalf("DELETE after a serialization failure: %v", err)
	}
	if n != 1 {
		t.Fatalf("deleted %d rows, want 1", n)
	}
	if k := deletes.n.Load(); k < 2 {
		t.Fatalf("the DELETE ran %d times: no serialization failure was retried", k)
	}
}

// countDeletes counts the DELETE statements sent (a pgx.QueryTracer).
type countDeletes struct{ n atomic.Int32 }

func (c *countDeletes) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(d.SQL)), "DELETE") {
		c.n.Add(1)
	}
	return ctx
}

func (c *countDeletes) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// waitGone waits until the backend pid has exited (pg_terminate_backend
// and the idle timeouts only signal it).
func waitGone(t *testing.T, owner *pgxpool.Pool, pid uint32) {
	t.Helper()
	for range 500 {
		var n int
		if err := owner.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("backend %d still there", pid)
}

// The server ends the session with a FATAL that names neither a shutdown
// nor a connection exception: idle_in_transaction_session_timeout (25P03)
// fires while the transaction waits. The next statement is unavailable,
// not a 500 (any FATAL ends the session).
func TestUnavailableIdleInTransactionTimeout(t *testing.T) {
	pg := pgtest.New(t)
	db := openDB(t, pg.AppURL)
	owner := pg.OwnerPool(t)
	ctx := tenant.With(context.Background(), platform)
	err := WithTx(ctx, db.Ent, func(tx *ent.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT pg_backend_pid(), set_config('idle_in_transaction_session_timeout', '50ms', true)`)
		if err != nil {
			t.Fatal(err)
		}
		var pid uint32
		var setting string
		for rows.Next() {
			if err := rows.Scan(&pid, &setting); err != nil {
				t.Fatal(err)
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil || pid == 0 {
			t.Fatalf("backend pid %d: %v", pid, err)
		}
		waitGone(t, owner, pid) // the server ended the idle transaction's session
		_, err = tx.Tenant.Query().Count(ctx)
		return err
	})
	wantUnavailable(t, "statement after the idle-in-transaction timeout", err, CauseShutdown, CauseConnLost)
	if _, err := db.Ent.Tenant.Query().Count(ctx); err != nil {
		t.Fatalf("the pool did not recover: %v", err)
	}
}

// killAtBatch is a pgx tracer that, once armed, terminates the backend a
// batch is about to be sent to (BEGIN and the settings statement, with
// the first statement or a lone statement and its COMMIT) and waits until
// it is gone: a pooled connection that died while idle, found dead by the
// settings batch.
type killAtBatch struct {
	t     *testing.T
	owner *pgxpool.Pool
	armed atomic.Bool
}

func (k *killAtBatch) TraceBatchStart(ctx context.Context, c *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	if k.armed.CompareAndSwap(true, false) {
		pid := c.PgConn().PID()
		if _, err := k.owner.Exec(context.Background(), `SELECT pg_terminate_backend($1)`, pid); err != nil {
			k.t.Error(err)
		}
		waitGone(k.t, k.owner, pid)
	}
	return ctx
}

func (k *killAtBatch) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (k *killAtBatch) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}
func (k *killAtBatch) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}
func (k *killAtBatch) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// The connection is gone when the settings batch is sent (a lone read, a
// lone write with its COMMIT, a transaction's first statement): each is
// unavailable, and the pool then recovers.
func TestUnavailableAtTheSettingsBatch(t *testing.T) {
	pg := pgtest.New(t)
	kill := &killAtBatch{t: t, owner: pg.OwnerPool(t)}
	db, err := Open(context.Background(), Options{URL: pg.AppURL, Tracer: kill})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := tenant.With(context.Background(), platform)
	if _, err := db.Ent.Tenant.Query().Count(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		run  func() error
	}{
		{"lone read", func() error { _, err := db.Ent.Tenant.Query().Count(ctx); return err }},
		{"lone write", func() error { return db.Ent.Tenant.Create().SetName("lone").SetTenantType("parent").Exec(ctx) }},
		{"transaction", func() error {
			return WithTx(ctx, db.Ent, func(tx *ent.Tx) error {
				return tx.Tenant.Create().SetName("tx").SetTenantType("parent").Exec(ctx)
			})
		}},
	} {
		kill.armed.Store(true)
		wantUnavailable(t, c.name, c.run(), CauseShutdown, CauseConnLost)
		if kill.armed.Load() {
			t.Fatalf("%s: no batch was sent", c.name)
		}
		if _, err := db.Ent.Tenant.Query().Count(ctx); err != nil {
			t.Fatalf("after %s: the pool did not recover: %v", c.name, err)
		}
	}
}

// A transaction that keeps failing with a serialization failure is run
// MaxTxAttempts times in all, then its error is unavailable (contention).
func TestWithTxRetriesAreBounded(t *testing.T) {
	pg := pgtest.New(t)
	db := openDB(t, pg.AppURL)
	ctx := tenant.With(context.Background(), platform)
	for _, code := range []string{"serialization_failure", "deadlock_detected"} {
		runs := 0
		err := WithTx(ctx, db.Ent, func(tx *ent.Tx) error {
			runs++
			_, err := tx.ExecContext(ctx, `DO $$ BEGIN RAISE EXCEPTION 'contended' USING ERRCODE = '`+code+`'; END $$`)
			return err
		})
		if runs != MaxTxAttempts {
			t.Fatalf("%s: %d runs, want %d", code, runs, MaxTxAttempts)
		}
		wantUnavailable(t, code+" after the retries", err, CauseContention)
	}
}

// strangerCA writes the certificate of a new self-signed CA to a file and
// returns its path.
func strangerCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mtdb stranger CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
