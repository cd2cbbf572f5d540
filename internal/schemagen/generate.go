package schemagen

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	atlas "ariga.io/atlas/sql/schema"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	entschema "entgo.io/ent/dialect/sql/schema"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	entmigrate "github.com/mtdb/mtdb/ent/migrate"
	mtdbmigrate "github.com/mtdb/mtdb/internal/migrate"
)

// Options configures Generate.
type Options struct {
	// DevURL is a PostgreSQL URL of an empty database Generate may use
	// freely: it replays the migration directory there to learn the current
	// state, and drops the tables it created afterwards.
	DevURL string
	// Dir is the Atlas migration directory (e.g. "migrations").
	Dir string
	// Name is the migration's name, the part after the version in the file
	// name (e.g. "add_invoices").
	Name string
}

// Generate writes one new migration file into opts.Dir with the changes that
// bring the schema of the directory's migrations to the Ent schemas,
// including the row-level security of new tenant-scoped tables (see
// Formatter) and the constraints Ent cannot express (see desiredHook), and
// updates atlas.sum. It returns the path of the new file, or
// migrate.ErrNoPlan (test with errors.Is) when there is nothing to change.
// Ent's migration engine annotates the shared ent/migrate tables, so calls
// must not run concurrently.
func Generate(ctx context.Context, opts Options) (string, error) {
	return generate(ctx, opts, entmigrate.Tables)
}

// generate is Generate with the desired tables given (tests add some).
func generate(ctx context.Context, opts Options, tables []*entschema.Table) (string, error) {
	switch {
	case opts.DevURL == "":
		return "", errors.New("schemagen: no dev database URL")
	case opts.Dir == "":
		return "", errors.New("schemagen: no migration directory")
	case opts.Name == "":
		return "", errors.New("schemagen: no migration name")
	}
	dir, err := migrate.NewLocalDir(opts.Dir)
	if err != nil {
		return "", fmt.Errorf("schemagen: %w", err)
	}
	before, err := dir.Files()
	if err != nil {
		return "", fmt.Errorf("schemagen: %w", err)
	}
	db, err := sql.Open("pgx", opts.DevURL)
	if err != nil {
		return "", fmt.Errorf("schemagen: dev database: %w", err)
	}
	defer db.Close()
	dev, err := postgres.Open(db)
	if err != nil {
		return "", fmt.Errorf("schemagen: dev database: %w", err)
	}
	m, err := entschema.NewMigrate(entsql.OpenDB(dialect.Postgres, db),
		entschema.WithDir(dir),
		entschema.WithMigrationMode(entschema.ModeReplay),
		entschema.WithDialect(dialect.Postgres),
		entschema.WithFormatter(Formatter{Audited: mtdbmigrate.Audited(tables)}),
		entschema.WithErrNoPlan(true),
		entschema.WithDiffHook(desiredHook(ctx, dev.(atlas.Normalizer))),
	)
	if err != nil {
		return "", fmt.Errorf("schemagen: %w", err)
	}
	if err := m.NamedDiff(ctx, opts.Name, tables...); err != nil {
		if errors.Is(err, migrate.ErrNoPlan) {
			return "", migrate.ErrNoPlan
		}
		return "", fmt.Errorf("schemagen: %w", err)
	}
	after, err := dir.Files()
	if err != nil {
		return "", fmt.Errorf("schemagen: %w", err)
	}
	if len(after) == len(before) {
		return "", errors.New("schemagen: no file written")
	}
	return filepath.Join(opts.Dir, after[len(after)-1].Name()), nil
}
