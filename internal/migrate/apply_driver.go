package migrate

import (
	"context"
	"fmt"
	"io"
	"strings"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
)

// openDriver opens Atlas's PostgreSQL driver over db. When the URL binds the
// connection to a schema, the clean check on a first run looks at that
// schema only, as the CLI does for such URLs.
func openDriver(db schema.ExecQuerier, bound string) (migrate.Driver, error) {
	drv, err := postgres.Open(db)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return &driver{Driver: drv, schema: bound}, nil
}

// driver adds the schema binding that postgres.Open cannot take (the CLI
// sets it through its URL opener, which needs lib/pq).
type driver struct {
	migrate.Driver
	schema string
}

// ScanStmts implements migrate.StmtScanner, so that files are split with
// PostgreSQL's rules (dollar quotes, BEGIN ATOMIC).
func (d *driver) ScanStmts(input string) ([]*migrate.Stmt, error) {
	if s, ok := d.Driver.(migrate.StmtScanner); ok {
		return s.ScanStmts(input)
	}
	return migrate.NewLocalFile("scan.sql", []byte(input)).StmtDecls()
}

// CheckClean implements migrate.CleanChecker.
func (d *driver) CheckClean(ctx context.Context, revT *migrate.TableIdent) error {
	if d.schema == "" {
		return d.Driver.CheckClean(ctx, revT)
	}
	s, err := d.InspectSchema(ctx, d.schema, nil)
	switch {
	case schema.IsNotExistError(err):
		return nil
	case err != nil:
		return err
	}
	for _, t := range s.Tables {
		if revT == nil || t.Name != revT.Name || (revT.Schema != "" && revT.Schema != s.Name) {
			return &migrate.NotCleanError{
				State:  schema.NewRealm(s),
				Reason: fmt.Sprintf("found table %q in connected schema", t.Name),
			}
		}
	}
	return nil
}

// progress is a migrate.Logger writing the CLI's kind of progress lines.
type progress struct{ w io.Writer }

func (p *progress) Log(e migrate.LogEntry) {
	switch e := e.(type) {
	case migrate.LogExecution:
		if len(e.Files) == 0 {
			fmt.Fprintf(p.w, "No migration files to execute (current version %s)\n", orNone(e.From))
			return
		}
		fmt.Fprintf(p.w, "Migrating to version %s from %s (%d migrations in total):\n", e.To, orNone(e.From), len(e.Files))
	case migrate.LogFile:
		fmt.Fprintf(p.w, "  -- migrating version %s\n", e.File.Version())
	case migrate.LogStmt:
		fmt.Fprintf(p.w, "    -> %s\n", strings.Join(strings.Fields(e.SQL), " "))
	case migrate.LogError:
		fmt.Fprintf(p.w, "    error: %v\n", e.Error)
	}
}

func orNone(v string) string {
	if v == "" {
		return "none"
	}
	return v
}
