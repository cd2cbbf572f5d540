package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"ariga.io/atlas/sql/migrate"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// LockID is the advisory lock the Atlas CLI holds while applying migrations
// (fnv32a of "atlas_migrate_execute"); taking the same one keeps mtdb and the
// CLI from running at the same time.
const LockID = 2686470616

// ErrLocked is returned when another migration run holds the lock for longer
// than the lock timeout.
var ErrLocked = errors.New("migrate: another migration is running on this database (advisory lock 2686470616 is held)")

// Report describes what Apply did.
type Report struct {
	// From is the version the database was at before, "" for none.
	From string
	// Current is the version the database is at now, "" for none.
	Current string
	// Applied lists the files executed by this run, in order.
	Applied []AppliedFile
}

// String is the one-line summary `mtdb migrate apply` prints: "up to date
// at version V" or "applied N file(s): FROM -> TO" ("none" for no version).
func (r *Report) String() string {
	if len(r.Applied) == 0 {
		return "up to date at version " + orNone(r.Current)
	}
	return fmt.Sprintf("applied %d file(s): %s -> %s", len(r.Applied), orNone(r.From), r.Current)
}

// AppliedFile is one migration file executed by Apply.
type AppliedFile struct {
	Version, Description string
	Statements           int
	Duration             time.Duration
}

// Apply executes the pending files of the migration directory against the
// database at url, the way `atlas migrate apply` does: the revisions are
// kept in Atlas's table and location, the CLI's advisory lock is held for the
// whole run and each file runs in its own transaction unless its header says
// `-- atlas:txmode none`. A database that is up to date is not an error: the
// report then lists no files. On failure the error of the failing file is
// recorded in its revision (which stays incomplete) and returned.
func Apply(ctx context.Context, url string, opts ...Option) (*Report, error) {
	o := newOptions(opts)
	dir, err := loadDir(o.dir)
	if err != nil {
		return nil, err
	}
	db, err := openDB(url)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close()
	unlock, err := lock(ctx, conn, o.lockTimeout)
	if err != nil {
		return nil, err
	}
	defer unlock()

	rrw := &revisions{db: conn, schema: revisionsSchemaFor(o.revisionsSchema, url)}
	if err := rrw.init(ctx); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	rrw.grantRead(ctx, boundSchema(url))
	drv, err := openDriver(conn, boundSchema(url))
	if err != nil {
		return nil, err
	}
	log := &progress{w: o.out}
	exOpts := []migrate.ExecutorOption{migrate.WithOperatorVersion(OperatorVersion), migrate.WithLogger(log)}
	if o.baseline != "" {
		exOpts = append(exOpts, migrate.WithBaselineVersion(o.baseline))
	}
	ex, err := migrate.NewExecutor(drv, dir, rrw, exOpts...)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	rep := &Report{}
	revs, err := rrw.ReadRevisions(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: read revisions: %w", err)
	}
	rep.From = compare(revs, nil).Current
	rep.Current = rep.From
	pending, err := ex.Pending(ctx)
	if errors.Is(err, migrate.ErrNoPendingFiles) {
		migrate.LogNoPendingFiles(log, revs)
		return rep, nil
	}
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	migrate.LogIntro(log, revs, pending)
	for _, f := range pending {
		start := time.Now()
		if err := applyFile(ctx, conn, drv, dir, rrw, f, log); err != nil {
			return rep, fmt.Errorf("migrate: apply %s: %w", f.Name(), err)
		}
		stmts, _ := migrate.FileStmtDecls(drv, f)
		rep.Applied = append(rep.Applied, AppliedFile{
			Version: f.Version(), Description: f.Desc(),
			Statements: len(stmts), Duration: time.Since(start),
		})
		rep.Current = f.Version()
	}
	log.Log(migrate.LogDone{})
	return rep, nil
}

// applyFile runs one file, in a transaction unless its txmode is none. When a
// transaction is rolled back the failing revision is written afterwards,
// outside of it, so the error stays visible as with the CLI.
func applyFile(ctx context.Context, conn *sql.Conn, connDrv migrate.Driver, dir migrate.Dir, rrw *revisions, f migrate.File, log migrate.Logger) error {
	exOpts := []migrate.ExecutorOption{migrate.WithOperatorVersion(OperatorVersion), migrate.WithLogger(log)}
	if txMode(f) == "none" {
		ex, err := migrate.NewExecutor(connDrv, dir, rrw, exOpts...)
		if err != nil {
			return err
		}
		return ex.Execute(ctx, f)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	drv, err := openDriver(tx, "")
	if err != nil {
		return errors.Join(err, tx.Rollback())
	}
	rec := &recorder{revisions: &revisions{db: tx, schema: rrw.schema}}
	ex, err := migrate.NewExecutor(drv, dir, rec, exOpts...)
	if err != nil {
		return errors.Join(err, tx.Rollback())
	}
	if err := ex.Execute(ctx, f); err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			return errors.Join(err, rerr)
		}
		if rev, ferr := rec.failed(); ferr == nil {
			if werr := rrw.WriteRevision(context.WithoutCancel(ctx), rev); werr != nil {
				return errors.Join(err, fmt.Errorf("record failed revision: %w", werr))
			}
		}
		return err
	}
	return tx.Commit()
}

// txMode returns the file's atlas:txmode directive ("file" when absent).
func txMode(f migrate.File) string {
	if lf, ok := f.(*migrate.LocalFile); ok {
		if ds := lf.Directive("txmode"); len(ds) > 0 {
			return ds[len(ds)-1]
		}
	}
	return "file"
}

// openDB opens url with pgx through database/sql. Atlas drivers work on
// database/sql, and pgx passes URL parameters such as search_path to the
// server as session settings.
func openDB(url string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("migrate: parse database URL: %w", err)
	}
	return stdlib.OpenDB(*cfg), nil
}

// lock takes the CLI's advisory lock on conn, retrying until timeout.
func lock(ctx context.Context, conn *sql.Conn, timeout time.Duration) (func(), error) {
	deadline := time.Now().Add(timeout)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		var ok bool
		if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, int64(LockID)).Scan(&ok); err != nil {
			return nil, fmt.Errorf("migrate: take advisory lock: %w", err)
		}
		if ok {
			return func() {
				_, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(LockID))
			}, nil
		}
		if time.Now().After(deadline) {
			return nil, ErrLocked
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}
