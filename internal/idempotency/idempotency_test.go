package idempotency_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/idempotency"
	"github.com/mtdb/mtdb/internal/pgtest"
)

func TestParseKey(t *testing.T) {
	for in, want := range map[string]string{"abc": "abc", `"abc"`: "abc", "8e03978e-40d5-43e8-bc93-6894a57f9324": "8e03978e-40d5-43e8-bc93-6894a57f9324", "~!#$%&'()*+,-./:;<=>?@[]^_`{|}": "~!#$%&'()*+,-./:;<=>?@[]^_`{|}"} {
		if got, err := idempotency.ParseKey(in); err != nil || got != want {
			t.Errorf("ParseKey(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	long := make([]byte, 256)
	for i := range long {
		long[i] = 'k'
	}
	for _, in := range []string{"", `""`, "a b", "tab\there", "é", `a\b`, `a"b`, string(long), "\x00"} {
		if _, err := idempotency.ParseKey(in); errs.KindOf(err) != errs.KindInvalid {
			t.Errorf("ParseKey(%q): %v, want Invalid", in, err)
		}
	}
	if idempotency.Fingerprint("POST", "/a", []byte("x")) == idempotency.Fingerprint("POST", "/a", []byte("y")) ||
		idempotency.Fingerprint("POST", "/a", nil) == idempotency.Fingerprint("PUT", "/a", nil) ||
		idempotency.Fingerprint("POST", "/a", nil) == idempotency.Fingerprint("POST", "/b", nil) {
		t.Fatal("fingerprints collide")
	}
}

// The purge deletes only expired keys, of every tenant, through row-level
// security as the restricted role, and stops after its batch budget.
func TestPurge(t *testing.T) {
	pg := pgtest.New(t)
	owner := pg.OwnerPool(t)
	ctx := context.Background()
	db, err := database.Open(ctx, database.Options{URL: pg.AppURL})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tenants []uuid.UUID
	for i := range 3 {
		id := uuid.New()
		tenants = append(tenants, id)
		if _, err := owner.Exec(ctx, `INSERT INTO tenants (id, name, tenant_type, metadata, created_at, updated_at) VALUES ($1, $2, 'parent', '{}', now(), now())`, id, "t"+id.String()[:6]); err != nil {
			t.Fatal(err)
		}
		// i+1 expired keys per batch size, and one fresh key.
		if _, err := owner.Exec(ctx, `INSERT INTO idempotency_keys (id, tenant_id, caller, key, request_hash, method, path, status, body, created_at)
			SELECT gen_random_uuid(), $1::uuid, 'c', 'old-' || g, '', 'POST', '/', 201, ''::bytea, now() - interval '2 days' FROM generate_series(1, $2::int) g
			UNION ALL SELECT gen_random_uuid(), $1::uuid, 'c', 'fresh', '', 'POST', '/', 201, ''::bytea, now()`, id, (i+1)*idempotency.PurgeBatch/2); err != nil {
			t.Fatal(err)
		}
	}
	expired := func() (n int) {
		_ = owner.QueryRow(ctx, `SELECT count(*) FROM idempotency_keys WHERE created_at < now() - interval '1 day'`).Scan(&n)
		return n
	}
	total := expired()
	log := slog.New(slog.DiscardHandler)
	n, err := idempotency.Purge(ctx, db.Ent, 24*time.Hour, 1, log)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || n > idempotency.PurgeBatch || expired() != total-n {
		t.Fatalf("one batch deleted %d of %d (left %d)", n, total, expired())
	}
	if _, err := idempotency.Purge(ctx, db.Ent, 24*time.Hour, 100, log); err != nil {
		t.Fatal(err)
	}
	if left := expired(); left != 0 {
		t.Fatalf("%d expired keys left", left)
	}
	var fresh int
	_ = owner.QueryRow(ctx, `SELECT count(*) FROM idempotency_keys WHERE key = 'fresh'`).Scan(&fresh)
	if fresh != len(tenants) {
		t.Fatalf("%d fresh keys left, want %d", fresh, len(tenants))
	}
}
