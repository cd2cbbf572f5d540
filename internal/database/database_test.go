package database

import (
	"context"
	"errors"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/pgtest"
	"github.com/mtdb/mtdb/internal/tenant"
)

func TestOpenInvalidURL(t *testing.T) {
	for _, url := range []string{"postgres://u:p@host:notaport/db", "::::"} {
		if db, err := Open(context.Background(), Options{URL: url}); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", url)
		}
	}
	if _, err := Open(context.Background(), Options{URL: "postgres://localhost/x", MaxConns: 2, MinConns: 3}); err == nil {
		t.Error("Open accepted MinConns > MaxConns")
	}
}

// The API must start while the database is down; work then fails as
// "unavailable".
func TestOpenWhileDatabaseDown(t *testing.T) {
	db, err := Open(context.Background(), Options{
		URL:            "postgres://nobody@127.0.0.1:1/none?sslmode=disable",
		ConnectTimeout: time.Second,
	})
	if err != nil {
		t.Fatalf("Open with the database down: %v", err)
	}
	defer db.Close()
	ctx := tenant.With(context.Background(), tenant.Context{Role: tenant.RolePlatformAdmin})
	_, err = db.Ent.Tenant.Query().All(ctx)
	if err == nil {
		t.Fatal("query against a down database succeeded")
	}
	if k := errs.KindOf(Classify(err)); k != errs.KindUnavailable {
		t.Fatalf("Classify(%v) kind = %v, want unavailable", err, k)
	}
}

func TestAcquireTimeout(t *testing.T) {
	pg := pgtest.New(t)
	db, err := Open(context.Background(), Options{URL: pg.AppURL, MaxConns: 1, AcquireTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := tenant.With(context.Background(), tenant.Context{Role: tenant.RolePlatformAdmin})
	// Connect first, without the bound: on a loaded server connecting
	// alone can take longer than the 100 ms under test.
	if err := db.Pool.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	hold, err := db.Ent.Tx(ctx) // takes the only connection
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = db.Ent.Tenant.Query().All(ctx)
	if !errors.Is(err, ErrAcquireTimeout) {
		t.Fatalf("query with the pool exhausted: %v, want ErrAcquireTimeout", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("waited %s for a connection", waited)
	}
	if k := errs.KindOf(Classify(err)); k != errs.KindUnavailable {
		t.Fatalf("Classify kind = %v, want unavailable", k)
	}
	_ = hold.Rollback()
	// The bound covers only the wait: a transaction may outlive it.
	tx, err := db.Ent.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := tx.Tenant.Query().All(ctx); err != nil {
		t.Fatalf("transaction older than the acquire timeout: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestStatementTimeout(t *testing.T) {
	pg := pgtest.New(t)
	db, err := Open(context.Background(), Options{URL: pg.AppURL, StatementTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := tenant.With(context.Background(), tenant.Context{Role: tenant.RolePlatformAdmin})
	var rows entsql.Rows
	if err := db.Driver.Query(ctx, `SELECT current_setting('statement_timeout')`, []any{}, &rows); err != nil {
		t.Fatal(err)
	}
	var setting string
	if !rows.Next() || rows.Scan(&setting) != nil {
		t.Fatalf("reading statement_timeout: %v", rows.Err())
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if setting != "100ms" {
		t.Fatalf("statement_timeout = %q, want 100ms", setting)
	}
	err = db.Driver.Exec(ctx, `SELECT pg_sleep(2)`, []any{}, nil)
	if k := errs.KindOf(Classify(err)); k != errs.KindTimeout {
		t.Fatalf("slow statement: %v (kind %v), want a timeout", err, k)
	}
	// Transaction-local: a bare connection keeps the server default.
	if err := db.SQL.QueryRowContext(context.Background(), `SELECT current_setting('statement_timeout')`).Scan(&setting); err != nil {
		t.Fatal(err)
	}
	if setting == "100ms" {
		t.Fatal("statement_timeout survived the transaction")
	}
}

func TestClassifyLeavesOtherErrors(t *testing.T) {
	plain := errors.New("plain")
	if Classify(plain) != plain || Classify(nil) != nil {
		t.Fatal("Classify changed an unrelated error")
	}
	nf := errs.NotFound("user")
	if Classify(nf) != error(nf) {
		t.Fatal("Classify changed an *errs.Error")
	}
	if errs.KindOf(Classify(context.DeadlineExceeded)) != errs.KindTimeout {
		t.Fatal("deadline exceeded is not a timeout")
	}
}
