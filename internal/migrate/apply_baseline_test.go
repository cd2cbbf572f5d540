package migrate_test

import (
	"strings"
	"testing"

	"github.com/mtdb/mtdb/internal/migrate"
	"github.com/mtdb/mtdb/internal/pgtest"
)

func TestDirtyDatabaseNeedsBaseline(t *testing.T) {
	t.Parallel()
	db := pgtest.Empty(t)
	// The schema of file 1 exists already, made by hand.
	if _, err := db.OwnerPool(t).Exec(ctx(t), `CREATE TABLE one (id int)`); err != nil {
		t.Fatal(err)
	}
	two := migrate.WithDir(dirOf(t, fileTwo))
	_, err := migrate.Apply(ctx(t), db.OwnerURL, two)
	if err == nil || !strings.Contains(err.Error(), "baseline") {
		t.Fatalf("apply on a dirty database: %v, want a baseline error", err)
	}
	rep, err := migrate.Apply(ctx(t), db.OwnerURL, two, migrate.WithBaseline("1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Applied) != 1 || rep.Applied[0].Version != "2" {
		t.Fatalf("baseline 1: applied %+v, want only version 2", rep.Applied)
	}
	st, err := migrate.Status(ctx(t), db.OwnerURL, two)
	if err != nil {
		t.Fatal(err)
	}
	if st.Current != "2" || len(st.Pending) != 0 || len(st.Applied) != 2 || st.Applied[0].Type != "baseline" {
		t.Fatalf("status after baseline: %+v", st)
	}
}
