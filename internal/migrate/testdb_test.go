package migrate

import (
	"context"
	"database/sql"
	"os"
	"testing"
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
