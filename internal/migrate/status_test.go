package migrate_test

import (
	"database/sql"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mtdb/mtdb/internal/migrate"
	"github.com/mtdb/mtdb/internal/pgtest"
)

func openSQL(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var _ = stdlib.GetDefaultDriver

func TestPendingFromCountsEmbeddedFiles(t *testing.T) {
	t.Parallel()
	db := pgtest.Empty(t)
	sqlDB := openSQL(t, db.OwnerURL)
	before, err := migrate.PendingFrom(ctx(t), sqlDB, "")
	if err != nil {
		t.Fatal(err)
	}
	if before == 0 {
		t.Fatal("empty database reports no pending files")
	}
	if _, err := migrate.Apply(ctx(t), db.OwnerURL); err != nil {
		t.Fatal(err)
	}
	after, err := migrate.PendingFrom(ctx(t), sqlDB, "")
	if err != nil || after != 0 {
		t.Fatalf("pending after apply: %d, %v", after, err)
	}
}

func TestStatusOfMigratedTemplateClone(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	st, err := migrate.Status(ctx(t), db.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Pending) != 0 || st.Current == "" {
		t.Fatalf("pgtest database not fully migrated: %+v", st)
	}
}

func TestPendingFromWorksForNonOwnerLogin(t *testing.T) {
	t.Parallel()
	db := pgtest.Empty(t)
	if _, err := migrate.Apply(ctx(t), db.OwnerURL); err != nil {
		t.Fatal(err)
	}
	n, err := migrate.PendingFrom(ctx(t), openSQL(t, db.AppURL), "")
	if err != nil || n != 0 {
		t.Fatalf("pending as %s: %d, %v", pgtest.TesterRole, n, err)
	}
}

// TestPendingFromFollowsTheMigrationURL: migrations applied through a URL
// whose search_path binds a schema keep the revisions table in that schema
// (the Atlas CLI's rule); counting the pending files for that URL finds it
// there, from the API's login role too.
func TestPendingFromFollowsTheMigrationURL(t *testing.T) {
	t.Parallel()
	db := pgtest.Empty(t)
	u := withQuery(t, db.OwnerURL, "search_path", "public")
	if _, err := migrate.Apply(ctx(t), u); err != nil {
		t.Fatal(err)
	}
	n, err := migrate.PendingFrom(ctx(t), openSQL(t, db.AppURL), u)
	if err != nil || n != 0 {
		t.Fatalf("pending for the migration URL %s: %d, %v; want 0", u, n, err)
	}
}
