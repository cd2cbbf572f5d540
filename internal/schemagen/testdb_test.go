package schemagen

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// adminURL is the superuser URL tests create their databases with:
// TEST_DATABASE_URL, else the local server.
func adminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// newDatabase creates an empty database with a fresh name, drops it when the
// test ends, and returns its URL.
func newDatabase(t *testing.T) string {
	t.Helper()
	u, drop, err := DevDatabase(context.Background(), adminURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := drop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return u
}

// testDB opens rawURL and closes it when the test ends.
func testDB(t *testing.T, rawURL string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", rawURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// A fresh server has no database named like the URL's (the default
// MIGRATION_DATABASE_URL names "mtdb"): the dev database is then created
// through the server's "postgres" database.
func TestDevDatabaseOnAServerWithoutTheURLsDatabase(t *testing.T) {
	u, err := url.Parse(adminURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/mtdb_no_such_database_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	dev, drop, err := DevDatabase(context.Background(), u.String())
	if err != nil {
		t.Fatalf("DevDatabase(%s): %v", u.Path, err)
	}
	defer func() {
		if err := drop(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	if err := testDB(t, dev).Ping(); err != nil {
		t.Fatalf("the dev database does not answer: %v", err)
	}
}
