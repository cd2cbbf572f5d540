package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/httpapi"
	"github.com/mtdb/mtdb/internal/tenant"
)

// Idempotency-Key through the whole stack, as the restricted role: replay,
// mismatch, in-flight duplicate, per-tenant scoping, failed writes leaving
// the key unused, and key validation.
func TestIdempotencyKey(t *testing.T) {
	s, db := newServer(t, nil)
	a := &api{t: t, h: specChecked(t, failOn500(t, s.Handler()))}
	owner := db.OwnerPool(t)
	platform := a.token(tenant.RolePlatformAdmin, uuid.Nil)
	newTenant := func(name string) (string, string, uuid.UUID) {
		var ten tenantOut
		a.do(platform, "POST", "/api/v1/tenants", map[string]any{"name": name, "tenant_type": "parent"}).want(t, 201, &ten)
		admin := a.token(tenant.RoleTenantAdmin, ten.TenantID)
		var u struct {
			ID string `json:"id"`
		}
		a.do(admin, "POST", "/api/v1/users", map[string]any{"email": "o@" + name + ".example", "display_name": "O"}).want(t, 201, &u)
		return admin, u.ID, ten.TenantID
	}
	adminA, ownerA, tenantA := newTenant("idem-a")
	adminB, ownerB, tenantB := newTenant("idem-b")
	countProjects := func() int {
		var n int
		if err := owner.QueryRow(context.Background(), `SELECT count(*) FROM projects`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	keys := func() int {
		var n int
		if err := owner.QueryRow(context.Background(), `SELECT count(*) FROM idempotency_keys`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	body := map[string]any{"name": "p1", "owner_id": ownerA}

	first := a.do(adminA, "POST", "/api/v1/projects", body, "Idempotency-Key", "k-1").want(t, 201, nil)
	if first.Header.Get(httpapi.HeaderIdempotentReplayed) != "" {
		t.Fatal("a first answer is marked replayed")
	}
	again := a.do(adminA, "POST", "/api/v1/projects", body, "Idempotency-Key", "k-1").want(t, 201, nil)
	if again.Header.Get(httpapi.HeaderIdempotentReplayed) != "true" || string(again.Body) != string(first.Body) ||
		again.Header.Get("Location") != first.Header.Get("Location") {
		t.Fatalf("replay: %v %s, want the first answer %s", again.Header, again.Body, first.Body)
	}
	if n := countProjects(); n != 1 {
		t.Fatalf("%d projects after a replay, want 1", n)
	}

	t.Run("same key, other request: 422", func(t *testing.T) {
		a.do(adminA, "POST", "/api/v1/projects", map[string]any{"name": "p2", "owner_id": ownerA}, "Idempotency-Key", "k-1").
			wantError(t, 422, "UNPROCESSABLE", "")
		a.do(adminA, "PATCH", first.Header.Get("Location"), map[string]any{"name": "p1"}, "Idempotency-Key", "k-1").
			wantError(t, 422, "UNPROCESSABLE", "")
	})

	t.Run("another tenant's same key is independent", func(t *testing.T) {
		a.do(adminB, "POST", "/api/v1/projects", map[string]any{"name": "p1", "owner_id": ownerB}, "Idempotency-Key", "k-1").want(t, 201, nil)
		if n := countProjects(); n != 2 {
			t.Fatalf("%d projects, want 2", n)
		}
	})

	t.Run("another caller's same key is independent", func(t *testing.T) {
		other, err := auth.Sign([]byte(testSecret), auth.Claims{Subject: "someone-else", Role: tenant.RoleTenantAdmin, TenantID: tenantA}, time.Hour, "", "")
		if err != nil {
			t.Fatal(err)
		}
		r := a.do(other, "POST", "/api/v1/projects", body, "Idempotency-Key", "k-1").want(t, 201, nil)
		if r.Header.Get(httpapi.HeaderIdempotentReplayed) != "" {
			t.Fatal("another caller got the first caller's answer")
		}
	})

	t.Run("a failed write leaves the key unused", func(t *testing.T) {
		before := keys()
		a.do(adminA, "POST", "/api/v1/projects", map[string]any{"name": "p3", "owner_id": uuid.NewString()}, "Idempotency-Key", "k-3").
			wantError(t, 400, "VALIDATION_ERROR", "owner_id")
		a.do(adminA, "DELETE", "/api/v1/projects/"+uuid.NewString(), nil, "Idempotency-Key", "k-4").wantError(t, 404, "NOT_FOUND", "")
		if keys() != before {
			t.Fatal("a failed write stored its key")
		}
		// Corrected, the same key works.
		a.do(adminA, "POST", "/api/v1/projects", map[string]any{"name": "p3", "owner_id": ownerA}, "Idempotency-Key", "k-3").want(t, 201, nil)
	})

	t.Run("DELETE replays its 204", func(t *testing.T) {
		loc := first.Header.Get("Location")
		a.do(adminA, "DELETE", loc, nil, "Idempotency-Key", "del-1").want(t, 204, nil)
		r := a.do(adminA, "DELETE", loc, nil, "Idempotency-Key", "del-1").want(t, 204, nil)
		if r.Header.Get(httpapi.HeaderIdempotentReplayed) != "true" {
			t.Fatal("second DELETE was not replayed")
		}
		a.do(adminA, "DELETE", loc, nil).wantError(t, 404, "NOT_FOUND", "")
	})

	t.Run("a duplicate while the first is in flight: 409", func(t *testing.T) {
		// Hold the key's lock as a request in flight would.
		ctx := context.Background()
		tx, err := owner.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "mtdb.idempotency/"+tenantA.String()+"/tester/k-5"); err != nil {
			t.Fatal(err)
		}
		a.do(adminA, "POST", "/api/v1/projects", map[string]any{"name": "p5", "owner_id": ownerA}, "Idempotency-Key", "k-5").
			wantError(t, 409, "CONFLICT", "")
		_ = tx.Rollback(ctx)
		a.do(adminA, "POST", "/api/v1/projects", map[string]any{"name": "p5", "owner_id": ownerA}, "Idempotency-Key", "k-5").want(t, 201, nil)
	})

	t.Run("invalid keys: 400", func(t *testing.T) {
		for _, k := range []string{strings.Repeat("k", 256), "a b", "é", `a"b`} {
			a.do(adminA, "POST", "/api/v1/projects", body, "Idempotency-Key", k).wantError(t, 400, "VALIDATION_ERROR", "Idempotency-Key")
		}
		a.do(adminA, "POST", "/api/v1/projects", body, "Idempotency-Key", "").wantError(t, 400, "VALIDATION_ERROR", "Idempotency-Key")
		// A structured-field string is the same key.
		a.do(adminA, "POST", "/api/v1/projects", body, "Idempotency-Key", `"k-1"`).want(t, 201, nil)
		// Without an effective tenant a key cannot be scoped.
		a.do(platform, "POST", "/api/v1/tenants", map[string]any{"name": "x", "tenant_type": "parent"}, "Idempotency-Key", "t-1").
			wantError(t, 400, "VALIDATION_ERROR", "Idempotency-Key")
	})

	t.Run("keys are tenant-scoped rows under row-level security", func(t *testing.T) {
		app := db.AppPool(t)
		ctx := context.Background()
		tx, err := app.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		tid := tenantB.String()
		if _, err := tx.Exec(ctx, `SELECT set_config('role', 'mtdb_app', true), set_config('app.tenant_id', $1, true)`, tid); err != nil {
			t.Fatal(err)
		}
		var mine, others int
		if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE tenant_id = $1), count(*) FILTER (WHERE tenant_id <> $1) FROM idempotency_keys`, tid).Scan(&mine, &others); err != nil {
			t.Fatal(err)
		}
		if mine != 1 || others != 0 {
			t.Fatalf("tenant B sees %d of its keys and %d of others", mine, others)
		}
		// Another tenant's key cannot be planted.
		_, err = tx.Exec(ctx, `INSERT INTO idempotency_keys (id, tenant_id, caller, key, request_hash, method, path, status, body, created_at)
			VALUES (gen_random_uuid(), $1, 'tester', 'k-9', '', 'POST', '/api/v1/projects', 201, '', now())`, tenantA)
		if err == nil || !strings.Contains(err.Error(), "row-level security") {
			t.Fatalf("planting a key in another tenant: %v", err)
		}
	})
}

// The connection dies while COMMIT runs (a deferred trigger terminates the
// backend at commit time, as a crash or failover would): the client cannot
// know whether the write happened, and gets 503, not 500. The retry with
// the same Idempotency-Key gives the definitive answer: here the write had
// not been committed, so it is made now, exactly once.
func TestIdempotencyKeyAmbiguousCommit(t *testing.T) {
	s, db := newServer(t, nil)
	a := &api{t: t, h: specChecked(t, s.Handler())}
	owner := db.OwnerPool(t)
	ctx := context.Background()
	for _, stmt := range []string{
		`CREATE TABLE die_at_commit (on_ boolean NOT NULL)`,
		`INSERT INTO die_at_commit VALUES (true)`,
		`CREATE FUNCTION die_at_commit() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
		 BEGIN
		   IF NEW.name = 'ambiguous' AND (SELECT on_ FROM die_at_commit) THEN
		     PERFORM pg_terminate_backend(pg_backend_pid());
		   END IF;
		   RETURN NULL;
		 END $$`,
		`CREATE CONSTRAINT TRIGGER die_at_commit AFTER INSERT ON projects DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION die_at_commit()`,
	} {
		if _, err := owner.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	platform := a.token(tenant.RolePlatformAdmin, uuid.Nil)
	var ten tenantOut
	a.do(platform, "POST", "/api/v1/tenants", map[string]any{"name": "ambiguous", "tenant_type": "parent"}).want(t, 201, &ten)
	admin := a.token(tenant.RoleTenantAdmin, ten.TenantID)
	var u struct {
		ID string `json:"id"`
	}
	a.do(admin, "POST", "/api/v1/users", map[string]any{"email": "o@ambiguous.example", "display_name": "O"}).want(t, 201, &u)
	body := map[string]any{"name": "ambiguous", "owner_id": u.ID}

	r := a.do(admin, "POST", "/api/v1/projects", body, "Idempotency-Key", "amb-1")
	r.wantError(t, 503, "SERVICE_UNAVAILABLE", "")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	// Without a key the same failure is a 503 too.
	a.do(admin, "POST", "/api/v1/projects", body).wantError(t, 503, "SERVICE_UNAVAILABLE", "")

	if _, err := owner.Exec(ctx, `UPDATE die_at_commit SET on_ = false`); err != nil {
		t.Fatal(err)
	}
	r = a.do(admin, "POST", "/api/v1/projects", body, "Idempotency-Key", "amb-1").want(t, 201, nil)
	if r.Header.Get(httpapi.HeaderIdempotentReplayed) != "" {
		t.Fatal("the write was not committed, yet the retry was replayed")
	}
	again := a.do(admin, "POST", "/api/v1/projects", body, "Idempotency-Key", "amb-1").want(t, 201, nil)
	if again.Header.Get(httpapi.HeaderIdempotentReplayed) != "true" || string(again.Body) != string(r.Body) {
		t.Fatal("the second retry was not replayed")
	}
	var n int
	if err := owner.QueryRow(ctx, `SELECT count(*) FROM projects WHERE name = 'ambiguous'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d projects, want exactly 1", n)
	}
}

// A write that PostgreSQL aborts with a serialization failure (a trigger
// raises 40001 for the first runs) is run again as a whole, with and
// without an Idempotency-Key: a few failures are invisible to the client
// (201, one project, one key); failures that persist end after
// database.MaxTxAttempts runs as 503 with Retry-After, nothing written and
// the key unused, so the client's retry with the same key succeeds later.
func TestContendedWritesAreRetriedThenUnavailable(t *testing.T) {
	s, db := newServer(t, nil)
	a := &api{t: t, h: specChecked(t, failOn500(t, s.Handler()))}
	owner := db.OwnerPool(t)
	ctx := context.Background()
	for _, stmt := range []string{
		`CREATE TABLE contend_plan (failures bigint NOT NULL)`,
		`INSERT INTO contend_plan VALUES (0)`,
		`CREATE SEQUENCE contend_runs`,
		`CREATE FUNCTION contend() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
		 BEGIN
		   IF NEW.name LIKE 'contended%' AND nextval('contend_runs') <= (SELECT failures FROM contend_plan) THEN
		     RAISE EXCEPTION 'contended' USING ERRCODE = 'serialization_failure';
		   END IF;
		   RETURN NEW;
		 END $$`,
		`CREATE TRIGGER contend BEFORE INSERT ON projects FOR EACH ROW EXECUTE FUNCTION contend()`,
	} {
		if _, err := owner.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	// plan makes the next failures runs fail and returns a function that
	// tells how many runs there were since.
	plan := func(failures int) func() int {
		var start int64
		if err := owner.QueryRow(ctx, `SELECT nextval('contend_runs')`).Scan(&start); err != nil {
			t.Fatal(err)
		}
		if _, err := owner.Exec(ctx, `UPDATE contend_plan SET failures = $1`, start+int64(failures)); err != nil {
			t.Fatal(err)
		}
		return func() int {
			var now int64
			if err := owner.QueryRow(ctx, `SELECT nextval('contend_runs')`).Scan(&now); err != nil {
				t.Fatal(err)
			}
			return int(now - start - 1)
		}
	}
	count := func(q string, args ...any) int {
		var n int
		if err := owner.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	platform := a.token(tenant.RolePlatformAdmin, uuid.Nil)
	var ten tenantOut
	a.do(platform, "POST", "/api/v1/tenants", map[string]any{"name": "contended", "tenant_type": "parent"}).want(t, 201, &ten)
	admin := a.token(tenant.RoleTenantAdmin, ten.TenantID)
	var u struct {
		ID string `json:"id"`
	}
	a.do(admin, "POST", "/api/v1/users", map[string]any{"email": "o@contended.example", "display_name": "O"}).want(t, 201, &u)

	for _, c := range []struct{ name, key string }{{"contended-without-key", ""}, {"contended-with-key", "contended-key"}} {
		name, key := c.name, c.key
		var headers []string
		if key != "" {
			headers = []string{"Idempotency-Key", key}
		}
		t.Run(name, func(t *testing.T) {
			body := map[string]any{"name": name, "owner_id": u.ID}
			runs := plan(1000)
			r := a.do(admin, "POST", "/api/v1/projects", body, headers...)
			r.wantError(t, 503, "SERVICE_UNAVAILABLE", "")
			if r.Header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
			if n := runs(); n != database.MaxTxAttempts {
				t.Fatalf("the write ran %d times, want %d (bounded)", n, database.MaxTxAttempts)
			}
			if n := count(`SELECT count(*) FROM projects WHERE name = $1`, name); n != 0 {
				t.Fatalf("%d projects after the 503", n)
			}
			if n := count(`SELECT count(*) FROM idempotency_keys WHERE key = $1`, key); n != 0 {
				t.Fatal("the 503 stored the key")
			}

			runs = plan(database.MaxTxAttempts - 1)
			a.do(admin, "POST", "/api/v1/projects", body, headers...).want(t, 201, nil)
			if n := runs(); n != database.MaxTxAttempts {
				t.Fatalf("the write ran %d times, want %d", n, database.MaxTxAttempts)
			}
			if n := count(`SELECT count(*) FROM projects WHERE name = $1`, name); n != 1 {
				t.Fatalf("%d projects, want 1", n)
			}
			if key != "" {
				if n := count(`SELECT count(*) FROM idempotency_keys WHERE key = $1`, key); n != 1 {
					t.Fatalf("%d keys stored, want 1", n)
				}
				r := a.do(admin, "POST", "/api/v1/projects", body, headers...).want(t, 201, nil)
				if r.Header.Get(httpapi.HeaderIdempotentReplayed) != "true" {
					t.Fatal("the retry after success was not replayed")
				}
			}
		})
	}
}

// Keys expire after IDEMPOTENCY_KEY_RETENTION (default 24 h): a stored
// answer younger than that is replayed; an older one is not, and the
// request runs again as new.
func TestIdempotencyKeyRetention(t *testing.T) {
	for _, c := range []struct {
		name       string
		env        map[string]string
		kept, gone string // ages of the stored answer (PostgreSQL intervals)
	}{
		{"default 24h", nil, "23 hours", "25 hours"},
		{"IDEMPOTENCY_KEY_RETENTION=1h", map[string]string{"IDEMPOTENCY_KEY_RETENTION": "1h"}, "50 minutes", "70 minutes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, db := newServer(t, c.env)
			a := &api{t: t, h: specChecked(t, failOn500(t, s.Handler()))}
			owner := db.OwnerPool(t)
			ctx := context.Background()
			platform := a.token(tenant.RolePlatformAdmin, uuid.Nil)
			var ten tenantOut
			a.do(platform, "POST", "/api/v1/tenants", map[string]any{"name": "retention", "tenant_type": "parent"}).want(t, 201, &ten)
			admin := a.token(tenant.RoleTenantAdmin, ten.TenantID)
			var u struct {
				ID string `json:"id"`
			}
			a.do(admin, "POST", "/api/v1/users", map[string]any{"email": "o@retention.example", "display_name": "O"}).want(t, 201, &u)
			body := map[string]any{"name": "kept", "owner_id": u.ID}
			a.do(admin, "POST", "/api/v1/projects", body, "Idempotency-Key", "r-1").want(t, 201, nil)
			age := func(interval string) {
				if _, err := owner.Exec(ctx, `UPDATE idempotency_keys SET created_at = now() - $1::interval WHERE key = 'r-1'`, interval); err != nil {
					t.Fatal(err)
				}
			}
			age(c.kept)
			if r := a.do(admin, "POST", "/api/v1/projects", body, "Idempotency-Key", "r-1").want(t, 201, nil); r.Header.Get(httpapi.HeaderIdempotentReplayed) != "true" {
				t.Fatalf("a key %s old was not replayed", c.kept)
			}
			// Expired: the request runs again (the project is removed
			// first, so that running again can succeed).
			if _, err := owner.Exec(ctx, `DELETE FROM projects WHERE name = 'kept'`); err != nil {
				t.Fatal(err)
			}
			age(c.gone)
			if r := a.do(admin, "POST", "/api/v1/projects", body, "Idempotency-Key", "r-1").want(t, 201, nil); r.Header.Get(httpapi.HeaderIdempotentReplayed) != "" {
				t.Fatalf("a key %s old was replayed", c.gone)
			}
			var projects, keys int
			if err := owner.QueryRow(ctx, `SELECT (SELECT count(*) FROM projects WHERE name = 'kept'), (SELECT count(*) FROM idempotency_keys WHERE key = 'r-1')`).Scan(&projects, &keys); err != nil {
				t.Fatal(err)
			}
			if projects != 1 || keys != 1 {
				t.Fatalf("%d projects and %d keys after the expired key ran again, want 1 and 1", projects, keys)
			}
		})
	}
}
