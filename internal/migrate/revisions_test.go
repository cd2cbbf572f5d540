package migrate_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mtdb/mtdb/internal/migrate"
	"github.com/mtdb/mtdb/internal/pgtest"
)

func TestRevisionsTableHasAtlasLayout(t *testing.T) {
	t.Parallel()
	db := pgtest.Empty(t)
	if _, err := migrate.Apply(ctx(t), db.OwnerURL, migrate.WithDir(dirOf(t, fileOne))); err != nil {
		t.Fatal(err)
	}
	rows, err := db.OwnerPool(t).Query(ctx(t), `
SELECT column_name, data_type, is_nullable, coalesce(column_default, '')
FROM information_schema.columns
WHERE table_schema = 'atlas_schema_revisions' AND table_name = 'atlas_schema_revisions'
ORDER BY ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var name, typ, null, def string
		if err := rows.Scan(&name, &typ, &null, &def); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Join([]string{name, typ, null, def}, " | "))
	}
	want := []string{
		"version | character varying | NO | ",
		"description | character varying | NO | ",
		"type | bigint | NO | 2",
		"applied | bigint | NO | 0",
		"total | bigint | NO | 0",
		"executed_at | timestamp with time zone | NO | ",
		"execution_time | bigint | NO | ",
		"error | text | YES | ",
		"error_stmt | text | YES | ",
		"hash | character varying | NO | ",
		"partial_hashes | jsonb | YES | ",
		"operator_version | character varying | NO | ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("revisions columns (-want +got):\n%s", diff)
	}
	var pk string
	err = db.OwnerPool(t).QueryRow(ctx(t), `
SELECT string_agg(a.attname, ',') FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
WHERE i.indrelid = 'atlas_schema_revisions.atlas_schema_revisions'::regclass AND i.indisprimary`).Scan(&pk)
	if err != nil || pk != "version" {
		t.Fatalf("primary key %q (%v), want version", pk, err)
	}
	var version, hash, op string
	var applied, total int
	err = db.OwnerPool(t).QueryRow(ctx(t), `SELECT version, hash, operator_version, applied, total
FROM atlas_schema_revisions.atlas_schema_revisions`).Scan(&version, &hash, &op, &applied, &total)
	if err != nil {
		t.Fatal(err)
	}
	if version != "1" || strings.HasPrefix(hash, "h1:") || hash == "" || op != migrate.OperatorVersion || applied != 1 || total != 1 {
		t.Fatalf("revision row: version %q hash %q operator %q applied %d/%d", version, hash, op, applied, total)
	}
}

func TestRevisionsLocation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		searchPath string
		option     string
		wantSchema string
	}{
		{"URL bound to no schema", "", "", migrate.DefaultRevisionsSchema},
		{"URL with search_path", "app", "", "app"},
		{"explicit revisions schema", "", "bookkeeping", "bookkeeping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := pgtest.Empty(t)
			u := db.OwnerURL
			if tt.searchPath != "" {
				if _, err := db.OwnerPool(t).Exec(ctx(t), `CREATE SCHEMA `+tt.searchPath); err != nil {
					t.Fatal(err)
				}
				u = withQuery(t, u, "search_path", tt.searchPath)
			}
			opts := []migrate.Option{migrate.WithDir(dirOf(t, fileOne))}
			if tt.option != "" {
				opts = append(opts, migrate.WithRevisionsSchema(tt.option))
			}
			if _, err := migrate.Apply(ctx(t), u, opts...); err != nil {
				t.Fatal(err)
			}
			var schemas []string
			rows, err := db.OwnerPool(t).Query(ctx(t),
				`SELECT table_schema FROM information_schema.tables WHERE table_name = 'atlas_schema_revisions'`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					t.Fatal(err)
				}
				schemas = append(schemas, s)
			}
			if diff := cmp.Diff([]string{tt.wantSchema}, schemas); diff != "" {
				t.Fatalf("revisions table schemas (-want +got):\n%s", diff)
			}
			st, err := migrate.Status(ctx(t), u, opts...)
			if err != nil || st.Current != "1" || len(st.Pending) != 0 {
				t.Fatalf("status through the same URL: %+v, %v", st, err)
			}
		})
	}
}

func TestApplyFailsWhileLockHeld(t *testing.T) {
	t.Parallel()
	db := pgtest.Empty(t)
	conn, err := db.OwnerPool(t).Acquire(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx(t), `SELECT pg_advisory_lock($1)`, int64(migrate.LockID)); err != nil {
		t.Fatal(err)
	}
	_, err = migrate.Apply(ctx(t), db.OwnerURL, migrate.WithDir(dirOf(t, fileOne)), migrate.WithLockTimeout(300*time.Millisecond))
	if !errors.Is(err, migrate.ErrLocked) {
		t.Fatalf("apply while locked: %v, want ErrLocked", err)
	}
	if _, err := conn.Exec(ctx(t), `SELECT pg_advisory_unlock($1)`, int64(migrate.LockID)); err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Apply(ctx(t), db.OwnerURL, migrate.WithDir(dirOf(t, fileOne))); err != nil {
		t.Fatalf("apply after unlock: %v", err)
	}
}

func withQuery(t *testing.T, raw, key, value string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// Rows as the Atlas CLI writes them: its cloud identifier row, JSON null
// partial hashes and empty error strings.
func TestReadsRevisionsWrittenByTheCLI(t *testing.T) {
	t.Parallel()
	db := pgtest.Empty(t)
	dir := migrate.WithDir(dirOf(t, fileTwo))
	if _, err := migrate.Apply(ctx(t), db.OwnerURL, migrate.WithDir(dirOf(t, fileOne))); err != nil {
		t.Fatal(err)
	}
	_, err := db.OwnerPool(t).Exec(ctx(t), `
UPDATE atlas_schema_revisions.atlas_schema_revisions
SET partial_hashes = 'null'::jsonb, error = '', error_stmt = '', operator_version = 'Atlas CLI v0.32.0';
INSERT INTO atlas_schema_revisions.atlas_schema_revisions
	(version, description, type, applied, total, executed_at, execution_time, hash, operator_version)
VALUES ('.atlas_cloud_identifier', 'a1b2c3', 2, 0, 0, now(), 0, '', 'Atlas CLI v0.32.0')`)
	if err != nil {
		t.Fatal(err)
	}
	st, err := migrate.Status(ctx(t), db.OwnerURL, dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Current != "1" || len(st.Applied) != 1 || len(st.Pending) != 1 || st.Failed != nil {
		t.Fatalf("status over CLI rows: %+v", st)
	}
	rep, err := migrate.Apply(ctx(t), db.OwnerURL, dir)
	if err != nil || len(rep.Applied) != 1 || rep.Current != "2" {
		t.Fatalf("apply over CLI rows: %+v, %v", rep, err)
	}
}
