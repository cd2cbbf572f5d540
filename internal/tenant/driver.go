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
	// StatementTimeout, when positive, becomes the transaction-local
	// statement_timeout, set by the same statement as the tenant settings.
	StatementTimeout time.Duration
	// SettingsMode says how the settings are sent; "" is SetConfig.
	SettingsMode SettingsMode
}

// Driver is the ent driver that makes the tenant context impossible to
// forget. Every transaction it opens starts with the settings statement
// (SettingsStatement) for the Context carried by ctx, which also checks
// that the context's credentials may act in its tenant; statements outside
// a transaction get an implicit one. Without a Context it refuses to run.
//
// There is one engine (pipeline.go): BEGIN and the settings statement are
// sent in one network round trip with the transaction's first statement,
// and a statement outside a transaction goes out with its BEGIN, settings
// statement and COMMIT, also in one round trip.
type Driver struct {
	db   *sql.DB
	drv  dialect.Driver
	opts DriverOptions
}

// NewDriver returns the tenant driver over db, a database/sql pool of
// github.com/jackc/pgx/v5/stdlib connections (as internal/database opens).
// The first transaction fails with an error when the connections are not
// pgx ones.
func NewDriver(db *sql.DB, opts DriverOptions) *Driver {
	return &Driver{db: db, drv: entsql.OpenDB(dialect.Postgres, db), opts: opts}
}

// Dialect returns dialect.Postgres.
func (d *Driver) Dialect() string { return d.drv.Dialect() }

// Close closes the database/sql pool.
func (d *Driver) Close() error { return d.drv.Close() }

// Tx starts a transaction for the tenant context of ctx; see BeginTx.
func (d *Driver) Tx(ctx context.Context) (dialect.Tx, error) { return d.BeginTx(ctx, nil) }

// BeginTx starts a transaction (READ ONLY when the tenant context says so)
// whose first statement is the settings statement. It returns ErrNoContext
// when ctx carries no tenant context. It takes a connection now and sends
// BEGIN and the settings statement with the first statement of the
// transaction; errors of the settings statement (ErrUnreachable among
// them) come from that first statement.
func (d *Driver) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	tc, ok := From(ctx)
	if !ok {
		return nil, ErrNoContext
	}
	var o sql.TxOptions
	if opts != nil {
		o = *opts
	}
	if _, ok := beginSQL(o); !ok {
		return nil, fmt.Errorf("tenant: unsupported isolation level %v", o.Isolation)
	}
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	return &pipeTx{d: d, conn: conn, ctx: ctx, tc: tc, opts: o, pending: true}, nil
}

// Exec runs query in an implicit transaction: BEGIN, settings, query and
// COMMIT in one round trip.
func (d *Driver) Exec(ctx context.Context, query string, args, v any) error {
	return d.pipeExec(ctx, query, args, v)
}

// Query runs query in an implicit transaction (BEGIN, settings, query and
// COMMIT in one round trip); the rows are read into memory. v must be an
// *entsql.Rows, as ent passes.
func (d *Driver) Query(ctx context.Context, query string, args, v any) error {
	rows, ok := v.(*entsql.Rows)
	if !ok {
		return fmt.Errorf("tenant: invalid rows type %T, expected *sql.Rows", v)
	}
	return d.pipeQuery(ctx, query, args, rows)
}

// enterErr wraps an error of the settings statement: ErrUnreachable when
// mtdb_enter refused the tenant.
func enterErr(err error) error {
	if sqlState(err) == UnreachableCode {
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	return fmt.Errorf("tenant: entering the tenant context: %w", err)
}

// sqlState returns the SQLSTATE of a PostgreSQL error, or "".
func sqlState(err error) string {
	var pe interface{ SQLState() string }
	if errors.As(err, &pe) {
		return pe.SQLState()
	}
	return ""
}
