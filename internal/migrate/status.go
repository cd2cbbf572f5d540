package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strings"
	"time"

	"ariga.io/atlas/sql/migrate"
)

// StatusReport describes which files of the migration directory a database
// has applied.
type StatusReport struct {
	// Current is the version of the last completely applied file, "" when
	// none.
	Current string
	// Applied lists the completely applied revisions, by version.
	Applied []Revision
	// Failed is the revision of a file that was started but not completed
	// (a failed or interrupted run), nil when there is none. Its file is
	// also in Pending.
	Failed *Revision
	// Pending lists the files still to apply, in order.
	Pending []File
}

// Revision is one row of the revisions table.
type Revision struct {
	Version, Description string
	// Type is "applied", "baseline", "manually set", …
	Type           string
	Applied, Total int
	ExecutedAt     time.Time
	Error          string
	ErrorStmt      string
}

// File is one file of the migration directory.
type File struct {
	Name, Version, Description string
}

// Status reads the revisions of the database at url (in the table located
// as Apply would) and compares them with the migration directory.
func Status(ctx context.Context, url string, opts ...Option) (*StatusReport, error) {
	o := newOptions(opts)
	db, err := openDB(url)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return StatusDB(ctx, db, append(opts, WithRevisionsSchema(revisionsSchemaFor(o.revisionsSchema, url)))...)
}

// StatusDB is Status over an open database. The revisions table is looked
// up in the schema given by WithRevisionsSchema, else in
// DefaultRevisionsSchema. A missing table means nothing is applied.
func StatusDB(ctx context.Context, db *sql.DB, opts ...Option) (*StatusReport, error) {
	o := newOptions(opts)
	dir, err := loadDir(o.dir)
	if err != nil {
		return nil, err
	}
	rrw := &revisions{db: db, schema: o.revisionsSchema}
	if rrw.schema == "" {
		rrw.schema = DefaultRevisionsSchema
	}
	var revs []*migrate.Revision
	switch ok, err := rrw.exists(ctx); {
	case err != nil:
		return nil, fmt.Errorf("migrate: look up revisions table: %w", err)
	case ok:
		if revs, err = rrw.ReadRevisions(ctx); err != nil {
			return nil, fmt.Errorf("migrate: read revisions: %w", err)
		}
	}
	files, err := dir.Files()
	if err != nil {
		return nil, err
	}
	return compare(revs, migrate.SkipCheckpointFiles(files)), nil
}

// PendingFrom returns how many files of the embedded migration directory
// the database behind db has not applied. migrationURL is the URL the
// migrations are applied with (MIGRATION_DATABASE_URL, else DATABASE_URL:
// config's MigrationURL): the revisions table is looked up where Apply and
// the Atlas CLI keep it for that URL, in the schema its search_path binds,
// else in DefaultRevisionsSchema ("" means the latter). Health checks call
// it with the API's pool: Apply grants every role read access to the
// revisions table for this.
func PendingFrom(ctx context.Context, db *sql.DB, migrationURL string) (int, error) {
	rep, err := StatusDB(ctx, db, WithRevisionsSchema(RevisionsSchema(migrationURL)))
	if err != nil {
		return 0, err
	}
	return len(rep.Pending), nil
}

// compare splits the directory's files into applied and pending. Files up
// to a baseline revision count as applied, like the CLI does.
func compare(revs []*migrate.Revision, files []migrate.File) *StatusReport {
	rep := &StatusReport{}
	done := make(map[string]bool)
	var baseline string
	for _, r := range revs {
		rev := Revision{
			Version: r.Version, Description: r.Description, Type: r.Type.String(),
			Applied: r.Applied, Total: r.Total, ExecutedAt: r.ExecutedAt,
			Error: r.Error, ErrorStmt: r.ErrorStmt,
		}
		if r.Type.Has(migrate.RevisionTypeBaseline) {
			baseline = max(baseline, r.Version)
		}
		if r.Applied < r.Total {
			rep.Failed = &rev
			continue
		}
		done[r.Version] = true
		rep.Applied = append(rep.Applied, rev)
		rep.Current = r.Version
	}
	for _, f := range files {
		if done[f.Version()] || (baseline != "" && f.Version() <= baseline) {
			continue
		}
		rep.Pending = append(rep.Pending, File{Name: f.Name(), Version: f.Version(), Description: f.Desc()})
	}
	return rep
}

// WriteText prints the report for people: one line per applied, failed and
// pending version, then "current: V" and, last, "pending: N".
func (r *StatusReport) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, a := range r.Applied {
		fmt.Fprintf(&b, "applied  %s %s (%s)\n", a.Version, a.Description, a.ExecutedAt.UTC().Format(time.RFC3339))
	}
	if f := r.Failed; f != nil {
		fmt.Fprintf(&b, "failed   %s %s (%d of %d statements): %s\n", f.Version, f.Description, f.Applied, f.Total,
			strings.Join(strings.Fields(f.Error), " "))
	}
	for _, p := range r.Pending {
		fmt.Fprintf(&b, "pending  %s %s\n", p.Version, p.Description)
	}
	fmt.Fprintf(&b, "current: %s\npending: %d\n", orNone(r.Current), len(r.Pending))
	_, err := io.WriteString(w, b.String())
	return err
}
