// Package pgtest gives each test a fresh, fully migrated PostgreSQL database.
//
// The first call in a test binary makes sure a template database holding
// the migrated schema exists on the test server (named after the hash of
// the migration directory, so a changed directory gets a new template), then
// every New clones it with CREATE DATABASE … TEMPLATE, which takes a few
// milliseconds, and drops the clone when the test ends.
//
// The server is TEST_DATABASE_URL, by default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable. When that
// variable is unset and nothing answers at the default address, a private
// cluster is started with localpg under the temporary directory and shared
// by all test processes.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mtdb/mtdb/internal/tenant"
)

// DB is one test's database.
type DB struct {
	// Name is the database name.
	Name string
	// OwnerURL connects as the server's superuser (the owner of every
	// object). Use it for setup only: it bypasses row-level security.
	OwnerURL string
	// AppURL connects as the login role TesterRole (no superuser, no
	// BYPASSRLS, member of the restricted role mtdb_app). Isolation tests
	// connect with it and SET ROLE mtdb_app, as the API does.
	AppURL string
}

// TesterRole is the login role of DB.AppURL.
const TesterRole = "mtdb_tester"

// AppRole is the restricted role the migrations create and TesterRole may
// enter with SET ROLE (tenant.AppRole).
const AppRole = tenant.AppRole

// New creates a fresh migrated database for t and drops it (WITH (FORCE))
// when t ends. It fails t when no server is available or setup fails.
// Databases of parallel tests, and of test binaries running in parallel,
// never collide.
func New(t testing.TB) *DB {
	t.Helper()
	return create(t, true)
}

// Empty is like New but the database is empty (not migrated): for tests of
// migrations themselves and for generators needing a dev database.
func Empty(t testing.TB) *DB {
	t.Helper()
	return create(t, false)
}

func create(t testing.TB, migrated bool) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env, err := sharedEnv(ctx)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	name := "mtdb_test_" + randomHex(8)
	create := `CREATE DATABASE ` + pgx.Identifier{name}.Sanitize()
	if migrated {
		create += ` TEMPLATE ` + pgx.Identifier{env.template}.Sanitize()
	} else {
		// template0 accepts no connections, so it is never busy.
		create += ` TEMPLATE template0`
	}
	for attempt := 0; ; attempt++ {
		_, err = env.admin.Exec(ctx, create)
		// 55006: the template is briefly in use (another process checking
		// it); retry.
		if pgErrCode(err) != "55006" || attempt >= 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	if migrated {
		// Privileges on a database are not copied from its template: redo
		// what the migrations did to the template's (REVOKE TEMPORARY).
		if _, err := env.admin.Exec(ctx, `REVOKE TEMPORARY ON DATABASE `+pgx.Identifier{name}.Sanitize()+` FROM PUBLIC`); err != nil {
			t.Fatalf("pgtest: revoke temporary on %s: %v", name, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := env.admin.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return &DB{
		Name:     name,
		OwnerURL: withDatabase(env.server, name, "", ""),
		AppURL:   withDatabase(env.server, name, TesterRole, testerPassword),
	}
}

// OwnerPool returns a pool connected with OwnerURL, closed when t ends.
func (d *DB) OwnerPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return pool(t, d.OwnerURL)
}

// AppPool returns a pool connected with AppURL (TesterRole), closed when t
// ends. Its sessions start as TesterRole; enter the restricted role with
// SET ROLE mtdb_app (or set_config('role', 'mtdb_app', true) in a
// transaction).
func (d *DB) AppPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return pool(t, d.AppURL)
}

func pool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	cfg.MaxConns = 4
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		err = p.Ping(ctx)
	}
	if err != nil {
		t.Fatalf("pgtest: connect %s: %v", redact(url), err)
	}
	t.Cleanup(p.Close)
	return p
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func pgErrCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func redact(url string) string {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return "<invalid URL>"
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// SettingsMode returns the settings mode the API's database handle should
// use in this test run: TEST_SETTINGS_MODE (set_config or set_local; make
// test runs the isolation and attack suites once in each), "" (the
// default, set_config) when unset. An unknown value panics: a typo must not
// silently test the default mode twice.
func SettingsMode() tenant.SettingsMode {
	v := os.Getenv("TEST_SETTINGS_MODE")
	if v == "" {
		return ""
	}
	m, err := tenant.ParseSettingsMode(v)
	if err != nil {
		panic("pgtest: TEST_SETTINGS_MODE: " + err.Error())
	}
	return m
}
