package migrate_test

import (
	"context"
	"io/fs"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	atlas "ariga.io/atlas/sql/migrate"
	"github.com/google/go-cmp/cmp"

	"github.com/mtdb/mtdb/internal/migrate"
	"github.com/mtdb/mtdb/internal/pgtest"
)

// dirOf builds a migration directory with a valid atlas.sum from name→SQL.
func dirOf(t *testing.T, files map[string]string) fs.FS {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	m := fstest.MapFS{}
	var lf []atlas.File
	for _, n := range names {
		m[n] = &fstest.MapFile{Data: []byte(files[n])}
		lf = append(lf, atlas.NewLocalFile(n, []byte(files[n])))
	}
	sum, err := atlas.NewHashFile(lf)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sum.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	m["atlas.sum"] = &fstest.MapFile{Data: b}
	return m
}

var (
	fileOne = map[string]string{"1_one.sql": "CREATE TABLE one (id int);\n"}
	fileTwo = map[string]string{
		"1_one.sql": "CREATE TABLE one (id int);\n",
		"2_two.sql": "CREATE TABLE two (id int);\nINSERT INTO two VALUES (1);\n",
	}
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func TestApplyEmbeddedTwiceSecondIsNoop(t *testing.T) {
	t.Parallel()
	db := pgtest.Empty(t)
	first, err := migrate.Apply(ctx(t), db.OwnerURL)
	if err != nil {
		t.Fatalf("first apply: %v", err)
	}
	if len(first.Applied) == 0 || first.Current == "" {
		t.Fatalf("first apply did nothing: %+v", first)
	}
	second, err := migrate.Apply(ctx(t), db.OwnerURL)
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	if len(second.Applied) != 0 || second.Current != first.Current {
		t.Fatalf("second apply: %+v, want nothing applied at %s", second, first.Current)
	}
	st, err := migrate.Status(ctx(t), db.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Pending) != 0 || st.Current != first.Current || st.Failed != nil {
		t.Fatalf("status after apply: %+v", st)
	}
	var out strings.Builder
	if err := st.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if last := lines[len(lines)-1]; last != "pending: 0" {
		t.Fatalf("last status line %q, want %q", last, "pending: 0")
	}
}

func TestPendingFileIsReportedThenApplied(t *testing.T) {
	t.Parallel()
	db := pgtest.Empty(t)
	if _, err := migrate.Apply(ctx(t), db.OwnerURL, migrate.WithDir(dirOf(t, fileOne))); err != nil {
		t.Fatal(err)
	}
	two := migrate.WithDir(dirOf(t, fileTwo))
	st, err := migrate.Status(ctx(t), db.OwnerURL, two)
	if err != nil {
		t.Fatal(err)
	}
	wantPending := []migrate.File{{Name: "2_two.sql", Version: "2", Description: "two"}}
	if diff := cmp.Diff(wantPending, st.Pending); diff != "" || st.Current != "1" {
		t.Fatalf("status current %q, pending (-want +got):\n%s", st.Current, diff)
	}
	rep, err := migrate.Apply(ctx(t), db.OwnerURL, two)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Applied) != 1 || rep.Applied[0].Version != "2" || rep.Applied[0].Statements != 2 || rep.From != "1" || rep.Current != "2" {
		t.Fatalf("report %+v", rep)
	}
	n, err := pendingFromDB(t, db, two)
	if err != nil || n != 0 {
		t.Fatalf("pending after apply: %d, %v", n, err)
	}
}

func pendingFromDB(t *testing.T, db *pgtest.DB, opt migrate.Option) (int, error) {
	t.Helper()
	sqlDB := openSQL(t, db.OwnerURL)
	st, err := migrate.StatusDB(ctx(t), sqlDB, opt)
	if err != nil {
		return 0, err
	}
	return len(st.Pending), nil
}

func TestFailingFileRecordsErrorAndRollsBack(t *testing.T) {
	t.Parallel()
	db := pgtest.Empty(t)
	files := map[string]string{
		"1_one.sql": "CREATE TABLE one (id int);\n",
		"2_bad.sql": "CREATE TABLE bad (id int);\nSELECT 1/0;\n",
	}
	_, err := migrate.Apply(ctx(t), db.OwnerURL, migrate.WithDir(dirOf(t, files)))
	if err == nil || !strings.Contains(err.Error(), "division by zero") {
		t.Fatalf("apply of a failing file: %v, want division by zero", err)
	}
	pool := db.OwnerPool(t)
	var badExists bool
	if err := pool.QueryRow(ctx(t), `SELECT to_regclass('public.bad') IS NOT NULL`).Scan(&badExists); err != nil {
		t.Fatal(err)
	}
	if badExists {
		t.Fatal("statements of the failing file were not rolled back")
	}
	st, err := migrate.Status(ctx(t), db.OwnerURL, migrate.WithDir(dirOf(t, files)))
	if err != nil {
		t.Fatal(err)
	}
	if st.Current != "1" || st.Failed == nil || st.Failed.Version != "2" || st.Failed.Applied != 0 || st.Failed.Total != 2 ||
		!strings.Contains(st.Failed.Error, "division by zero") || st.Failed.ErrorStmt != "SELECT 1/0;" {
		t.Fatalf("status after failure: current %q failed %+v", st.Current, st.Failed)
	}
	if len(st.Pending) != 1 || st.Pending[0].Version != "2" {
		t.Fatalf("pending after failure: %+v", st.Pending)
	}
	// Fixing the file lets the next run complete it.
	files["2_bad.sql"] = "CREATE TABLE bad (id int);\nSELECT 1;\n"
	if _, err := migrate.Apply(ctx(t), db.OwnerURL, migrate.WithDir(dirOf(t, files))); err != nil {
		t.Fatalf("apply after fix: %v", err)
	}
	if st, err = migrate.Status(ctx(t), db.OwnerURL, migrate.WithDir(dirOf(t, files))); err != nil || st.Current != "2" || st.Failed != nil {
		t.Fatalf("status after fix: %+v, %v", st, err)
	}
}

func TestTxModeNoneKeepsAppliedStatements(t *testing.T) {
	t.Parallel()
	db := pgtest.Empty(t)
	files := map[string]string{
		"1_none.sql": "-- atlas:txmode none\n\nCREATE TABLE kept (id int);\nSELECT 1/0;\n",
	}
	if _, err := migrate.Apply(ctx(t), db.OwnerURL, migrate.WithDir(dirOf(t, files))); err == nil {
		t.Fatal("apply of a failing file succeeded")
	}
	var kept bool
	if err := db.OwnerPool(t).QueryRow(ctx(t), `SELECT to_regclass('public.kept') IS NOT NULL`).Scan(&kept); err != nil {
		t.Fatal(err)
	}
	st, err := migrate.Status(ctx(t), db.OwnerURL, migrate.WithDir(dirOf(t, files)))
	if err != nil {
		t.Fatal(err)
	}
	if !kept || st.Failed == nil || st.Failed.Applied != 1 || st.Failed.Total != 2 {
		t.Fatalf("txmode none: table kept %v, failed revision %+v", kept, st.Failed)
	}
}

func TestReportSummary(t *testing.T) {
	for _, tc := range []struct {
		rep  migrate.Report
		want string
	}{
		{migrate.Report{}, "up to date at version none"},
		{migrate.Report{From: "1", Current: "1"}, "up to date at version 1"},
		{migrate.Report{Current: "2", Applied: []migrate.AppliedFile{{Version: "1"}, {Version: "2"}}}, "applied 2 file(s): none -> 2"},
	} {
		if got := tc.rep.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.rep, got, tc.want)
		}
	}
}
