package faults_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/mtdb/mtdb/internal/database"
)

// The pgx exec mode PgBouncer < 1.21 needs is chosen in DATABASE_URL
// (docs/operations.md); database.Open must keep it, and refuse a bad one.
func TestExecModeFromDatabaseURL(t *testing.T) {
	const base = "postgres://u@127.0.0.1:1/db?sslmode=disable"
	for param, want := range map[string]pgx.QueryExecMode{
		"":                              pgx.QueryExecModeCacheStatement,
		"&default_query_exec_mode=exec": pgx.QueryExecModeExec,
		"&default_query_exec_mode=simple_protocol": pgx.QueryExecModeSimpleProtocol,
		"&default_query_exec_mode=cache_describe":  pgx.QueryExecModeCacheDescribe,
	} {
		db, err := database.Open(context.Background(), database.Options{URL: base + param})
		if err != nil {
			t.Fatalf("%q: %v", param, err)
		}
		got := db.Pool.Config().ConnConfig.DefaultQueryExecMode
		db.Close()
		if got != want {
			t.Errorf("%q: exec mode %v, want %v", param, got, want)
		}
	}
	if db, err := database.Open(context.Background(), database.Options{URL: base + "&default_query_exec_mode=bogus"}); err == nil {
		db.Close()
		t.Error("an unknown exec mode was accepted")
	}
}
