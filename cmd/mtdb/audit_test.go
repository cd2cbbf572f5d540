package main

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mtdb/mtdb/internal/audit"
	"github.com/mtdb/mtdb/internal/config"
	"github.com/mtdb/mtdb/internal/pgtest"
)

// TestCheckFailsOnDisabledAuditTrigger: with one audit trigger disabled,
// mtdb check fails naming the table, and serve refuses to start naming it.
func TestCheckFailsOnDisabledAuditTrigger(t *testing.T) {
	t.Chdir(t.TempDir())
	db := pgtest.New(t)
	if _, err := db.OwnerPool(t).Exec(context.Background(), "ALTER TABLE projects DISABLE TRIGGER projects_audit"); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCmd(t, map[string]string{"DATABASE_URL": db.AppURL}, "check")
	if code != 1 || !strings.Contains(out, "FAIL projects: audit trigger projects_audit is disabled") {
		t.Fatalf("check: exit %d, stdout %q: want 1 naming projects", code, out)
	}
	env := map[string]string{"DATABASE_URL": db.AppURL, "SERVER_HOST": "127.0.0.1", "SERVER_PORT": strconv.Itoa(freePort(t)), "LOG_LEVEL": "error"}
	code, _, stderr := runCmd(t, env, "serve")
	if code != 1 || !strings.Contains(stderr, "projects: audit trigger projects_audit is disabled") {
		t.Fatalf("serve: exit %d, stderr %q: want 1 naming projects", code, stderr)
	}
}

func TestAuditPrune(t *testing.T) {
	t.Chdir(t.TempDir())
	db := pgtest.New(t)
	ctx := context.Background()
	owner := db.OwnerPool(t)
	// Three tenants created now, then two of their events aged 100 days.
	for _, name := range []string{"One", "Two", "Three"} {
		if _, err := owner.Exec(ctx, `INSERT INTO tenants (id, name, tenant_type, metadata, created_at, updated_at)
			VALUES (gen_random_uuid(), $1, 'parent', '{}', now(), now())`, name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := owner.Exec(ctx, `UPDATE audit_events SET occurred_at = now() - interval '100 days'
		WHERE id IN (SELECT id FROM audit_events ORDER BY id LIMIT 2)`); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		var n int
		if err := owner.QueryRow(ctx, `SELECT count(*) FROM audit_events`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	for _, bad := range [][]string{{"prune"}, {"prune", "--before", "soon"}, {"prune", "--before", "-5h"}, {"purge"}} {
		if code, _, stderr := runCmd(t, map[string]string{"MIGRATION_DATABASE_URL": db.OwnerURL}, append([]string{"audit"}, bad...)...); code != 2 {
			t.Errorf("audit %v: exit %d (%q), want 2", bad, code, stderr)
		}
	}
	// The app login may not delete events: only the owner prunes.
	if code, _, _ := runCmd(t, nil, "audit", "prune", "--before", "90d", "--url", db.AppURL); code != 1 {
		t.Errorf("prune as the app login: exit %d, want 1", code)
	}
	if n := count(); n != 3 {
		t.Fatalf("%d events, want 3", n)
	}
	code, out, stderr := runCmd(t, map[string]string{"MIGRATION_DATABASE_URL": db.OwnerURL}, "audit", "prune", "--before", "90d", "--batch", "1")
	if code != 0 || !strings.HasPrefix(out, "deleted 2 audit event(s)") {
		t.Fatalf("prune: exit %d, %q %q", code, out, stderr)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d events after pruning, want 1", n)
	}
}

func TestParseBefore(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"90d":                  now.AddDate(0, 0, -90),
		"36h":                  now.Add(-36 * time.Hour),
		"2026-01-31":           time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC),
		"2026-01-31T10:00:00Z": time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC),
	} {
		got, err := audit.ParseBefore(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseBefore(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0s", "-1h", "0d", "yesterday", "2026-13-01"} {
		if _, err := audit.ParseBefore(in, now); err == nil {
			t.Errorf("ParseBefore(%q) succeeded", in)
		}
	}
}

// TestServeAuditRetention: serve's background prune reads AUDIT_RETENTION
// and deletes, as MIGRATION_DATABASE_URL (the owner; DATABASE_URL is the
// app login, which may not delete events), the events older than it; with
// AUDIT_RETENTION unset nothing is deleted.
func TestServeAuditRetention(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	owner := db.OwnerPool(t)
	for _, stmt := range []string{
		`INSERT INTO tenants (id, name, tenant_type, metadata, created_at, updated_at)
		 SELECT gen_random_uuid(), 'T' || i, 'parent', '{}', now(), now() FROM generate_series(1, 3) AS i`,
		`UPDATE audit_events SET occurred_at = now() - interval '2 hours'
		 WHERE id IN (SELECT id FROM audit_events ORDER BY id LIMIT 2)`,
	} {
		if _, err := owner.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		t.Helper()
		var n int
		if err := owner.QueryRow(ctx, `SELECT count(*) FROM audit_events`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	start := func(retention string) (stop func()) {
		env := map[string]string{"DATABASE_URL": db.AppURL, "MIGRATION_DATABASE_URL": db.OwnerURL, "AUDIT_RETENTION": retention}
		cfg, err := config.Load(config.Options{Getenv: fakeEnv(env)})
		if err != nil {
			t.Fatal(err)
		}
		return startAuditPrune(ctx, cfg, slog.New(slog.DiscardHandler), 20*time.Millisecond)
	}

	stop := start("")
	time.Sleep(200 * time.Millisecond) // ten intervals: a prune would have run
	stop()
	if n := count(); n != 3 {
		t.Fatalf("without AUDIT_RETENTION: %d events, want 3", n)
	}

	stop = start("1h")
	defer stop()
	deadline := time.Now().Add(10 * time.Second)
	for count() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("AUDIT_RETENTION=1h: %d events left, want 1", count())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
