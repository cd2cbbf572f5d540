package tenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

// DriverOptions configure NewDriver.
type DriverOptions struct {
	// AppRole is the restricted role each transaction enters (SET LOCAL ROLE
	// semantics). Empty means DefaultAppRole.
	AppRole string
	// StatementTimeout, when positive, becomes the transaction-local
	// statement_timeout, set by the same statement as the tenant settings.
	StatementTimeout time.Duration
	// Pipeline sends BEGIN and the settings statement in one round trip,
	// and a statement outside a transaction together with its BEGIN,
	// settings statement and COMMIT (see pipeline.go): the same statements
	// in the same order, fewer network round trips. It needs drv to be an
	// *entsql.Driver over a database/sql pool of pgx stdlib connections
	// (as internal/database opens); otherwise it is ignored.
	Pipeline bool
}

// beginner is the part of entsql.Driver that NewDriver needs besides
// dialect.Driver: transactions with options.
type beginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error)
}

// Driver is the ent driver that makes the tenant context impossible to
// forget. Every transaction it opens starts with the settings statement
// (SettingsStatement) for the Context carried by ctx; statements outside a
// transaction get an implicit one. Without a Context it refuses to run.
type Driver struct {
	drv  dialect.Driver
	opts DriverOptions
	db   *sql.DB // non-nil when pipelining
}

// NewDriver wraps drv, which must also implement
// BeginTx(context.Context, *sql.TxOptions) (dialect.Tx, error), as
// *entsql.Driver does.
func NewDriver(drv dialect.Driver, opts DriverOptions) dialect.Driver {
	if opts.AppRole == "" {
		opts.AppRole = DefaultAppRole
	}
	d := &Driver{drv: drv, opts: opts}
	if ed, ok := drv.(*entsql.Driver); ok && opts.Pipeline {
		d.db = ed.DB()
	}
	return d
}

// Dialect returns the wrapped driver's dialect.
func (d *Driver) Dialect() string { return d.drv.Dialect() }

// Close closes the wrapped driver.
func (d *Driver) Close() error { return d.drv.Close() }

// Tx starts a transaction for the tenant context of ctx; see BeginTx.
func (d *Driver) Tx(ctx context.Context) (dialect.Tx, error) { return d.BeginTx(ctx, nil) }

// BeginTx starts a transaction (READ ONLY when the tenant context says so)
// and runs the settings statement as its first statement. It returns
// ErrNoContext when ctx carries no tenant context; on a failing settings
// statement the transaction is rolled back and the error returned.
func (d *Driver) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	tc, ok := From(ctx)
	if !ok {
		return nil, ErrNoContext
	}
	b, ok := d.drv.(beginner)
	if !ok {
		return nil, fmt.Errorf("tenant: driver %T cannot begin transactions with options", d.drv)
	}
	var o sql.TxOptions
	if opts != nil {
		o = *opts
	}
	if d.db != nil {
		return d.pipeBegin(ctx, o)
	}
	o.ReadOnly = o.ReadOnly || tc.ReadOnly
	tx, err := b.BeginTx(ctx, &o)
	if err != nil {
		return nil, err
	}
	query, args := SettingsStatement(tc, d.opts.AppRole, d.opts.StatementTimeout)
	if err := tx.Exec(ctx, query, args, nil); err != nil {
		return nil, errors.Join(fmt.Errorf("tenant: entering the tenant context: %w", err), tx.Rollback())
	}
	return tx, nil
}

// Exec runs query in an implicit transaction: BEGIN, settings, query, COMMIT.
func (d *Driver) Exec(ctx context.Context, query string, args, v any) error {
	if d.db != nil {
		return d.pipeExec(ctx, query, args, v)
	}
	tx, err := d.Tx(ctx)
	if err != nil {
		return err
	}
	if err := tx.Exec(ctx, query, args, v); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}

// Query runs query in an implicit transaction that ends (COMMIT, or ROLLBACK
// when reading the rows failed) when the returned rows are closed. v must be
// an *entsql.Rows, as ent passes.
func (d *Driver) Query(ctx context.Context, query string, args, v any) error {
	rows, ok := v.(*entsql.Rows)
	if !ok {
		return fmt.Errorf("tenant: invalid rows type %T, expected *sql.Rows", v)
	}
	if d.db != nil {
		return d.pipeQuery(ctx, query, args, rows)
	}
	tx, err := d.Tx(ctx)
	if err != nil {
		return err
	}
	if err := tx.Query(ctx, query, args, rows); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	rows.ColumnScanner = &txRows{ColumnScanner: rows.ColumnScanner, tx: tx}
	return nil
}

// txRows ends its implicit transaction when closed.
type txRows struct {
	entsql.ColumnScanner
	tx   dialect.Tx
	done bool
}

// Close closes the rows, then commits the implicit transaction, or rolls it
// back when iterating the rows reported an error.
func (r *txRows) Close() error {
	if r.done {
		return r.ColumnScanner.Close()
	}
	r.done = true
	iterErr := r.ColumnScanner.Err()
	closeErr := r.ColumnScanner.Close()
	if iterErr != nil || closeErr != nil {
		return errors.Join(closeErr, r.tx.Rollback())
	}
	return r.tx.Commit()
}
