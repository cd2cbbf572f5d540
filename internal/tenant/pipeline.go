package tenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// The pipelined path (DriverOptions.Pipeline). The statements and their
// order are exactly those of the plain path — BEGIN [READ ONLY], the
// settings statement, the work, COMMIT — but they are queued in one pgx
// batch, so PostgreSQL receives them in one network round trip:
//   - a transaction (BeginTx) sends BEGIN and the settings statement
//     together, then its statements one by one, then COMMIT or ROLLBACK;
//   - a statement outside a transaction (Exec, Query) sends BEGIN, the
//     settings statement, the statement and COMMIT together; the rows of a
//     query are read into memory before COMMIT is read.
//
// A statement that fails leaves the server skipping the rest of the batch,
// and the connection in a failed transaction block, which is rolled back at
// once. A connection that cannot be rolled back is closed by pgx and
// discarded by the pool (pgxpool destroys connections released inside a
// transaction), so no setting can outlive its transaction either way.

// errNotPgx is returned when the connection is not a pgx stdlib one.
var errNotPgx = errors.New("tenant: pipelining needs a database/sql pool of github.com/jackc/pgx/v5/stdlib connections")

// errCommitRolledBack is returned when COMMIT ended a failed transaction.
var errCommitRolledBack = errors.New("tenant: commit unexpectedly resulted in rollback")

// beginSQL returns the BEGIN statement for o, and false for an isolation
// level PostgreSQL does not have.
func beginSQL(o sql.TxOptions) (string, bool) {
	s := "begin"
	switch o.Isolation {
	case sql.LevelDefault:
	case sql.LevelReadUncommitted:
		s += " isolation level read uncommitted"
	case sql.LevelReadCommitted:
		s += " isolation level read committed"
	case sql.LevelRepeatableRead, sql.LevelSnapshot:
		s += " isolation level repeatable read"
	case sql.LevelSerializable:
		s += " isolation level serializable"
	default:
		return "", false
	}
	if o.ReadOnly {
		s += " read only"
	}
	return s, true
}

// onPgx runs fn on the pgx connection under c.
func onPgx(c *sql.Conn, fn func(*pgx.Conn) error) error {
	return c.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return errNotPgx
		}
		return fn(sc.Conn())
	})
}

// settle rolls back the transaction err left open on pc, if any.
func settle(ctx context.Context, pc *pgx.Conn, err error) error {
	if err != nil && !pc.IsClosed() && pc.PgConn().TxStatus() != 'I' {
		if _, rerr := pc.Exec(context.WithoutCancel(ctx), "rollback"); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	return err
}

// pipeline sends BEGIN, the settings statement for ctx's Context and then
// extra (a statement and COMMIT, or nothing) as one batch on a connection
// of db, and hands the batch results of extra to read. It returns the
// connection (nil after an error); keep reports whether the caller keeps
// it (a transaction) or it is released here.
func (d *Driver) pipeline(ctx context.Context, o sql.TxOptions, keep bool, extra []*pgx.QueuedQuery, read func(pgx.BatchResults) error) (*sql.Conn, error) {
	tc, ok := From(ctx)
	if !ok {
		return nil, ErrNoContext
	}
	o.ReadOnly = o.ReadOnly || tc.ReadOnly
	begin, ok := beginSQL(o)
	if !ok {
		return nil, fmt.Errorf("tenant: unsupported isolation level %v", o.Isolation)
	}
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	query, args := SettingsStatement(tc, d.opts.AppRole, d.opts.StatementTimeout)
	err = onPgx(conn, func(pc *pgx.Conn) error {
		b := &pgx.Batch{QueuedQueries: append([]*pgx.QueuedQuery{{SQL: begin}, {SQL: query, Arguments: args}}, extra...)}
		br := pc.SendBatch(ctx, b)
		_, err := br.Exec()
		if err == nil {
			if _, err = br.Exec(); err != nil {
				err = fmt.Errorf("tenant: entering the tenant context: %w", err)
			}
		}
		if err == nil && read != nil {
			err = read(br)
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return settle(ctx, pc, err)
	})
	if err != nil || !keep {
		return nil, errors.Join(err, conn.Close())
	}
	return conn, nil
}

// pipeExec is Exec outside a transaction, in one round trip.
func (d *Driver) pipeExec(ctx context.Context, query string, args, v any) error {
	argv, ok := args.([]any)
	if !ok && args != nil {
		return fmt.Errorf("tenant: invalid type %T for args, expected []any", args)
	}
	res, ok := v.(*sql.Result)
	if !ok && v != nil {
		return fmt.Errorf("tenant: invalid type %T, expected *sql.Result", v)
	}
	var tag pgconn.CommandTag
	_, err := d.pipeline(ctx, sql.TxOptions{}, false, []*pgx.QueuedQuery{{SQL: query, Arguments: argv}, {SQL: "commit"}},
		func(br pgx.BatchResults) error {
			var err error
			if tag, err = br.Exec(); err != nil {
				return err
			}
			return commitTag(br.Exec())
		})
	if err == nil && res != nil {
		*res = execResult(tag.RowsAffected())
	}
	return err
}

// pipeQuery is Query outside a transaction, in one round trip. The rows
// are read into memory.
func (d *Driver) pipeQuery(ctx context.Context, query string, args any, rows *entsql.Rows) error {
	argv, ok := args.([]any)
	if !ok && args != nil {
		return fmt.Errorf("tenant: invalid type %T for args, expected []any", args)
	}
	var buf *bufferedRows
	_, err := d.pipeline(ctx, sql.TxOptions{}, false, []*pgx.QueuedQuery{{SQL: query, Arguments: argv}, {SQL: "commit"}},
		func(br pgx.BatchResults) error {
			r, err := br.Query()
			if err != nil {
				return err
			}
			if buf, err = readRows(r); err != nil {
				return err
			}
			return commitTag(br.Exec())
		})
	if err != nil {
		return err
	}
	rows.ColumnScanner = buf
	return nil
}

// pipeBegin starts a transaction with BEGIN and the settings statement in
// one round trip.
func (d *Driver) pipeBegin(ctx context.Context, o sql.TxOptions) (dialect.Tx, error) {
	conn, err := d.pipeline(ctx, o, true, nil, nil)
	if err != nil {
		return nil, err
	}
	return &pipeTx{Conn: entsql.Conn{ExecQuerier: conn}, conn: conn, ctx: ctx}, nil
}

func commitTag(tag pgconn.CommandTag, err error) error {
	if err == nil && strings.EqualFold(tag.String(), "ROLLBACK") {
		return errCommitRolledBack
	}
	return err
}

// pipeTx is a transaction on one connection held from BEGIN to COMMIT or
// ROLLBACK. Its statements go through database/sql like those of a sql.Tx.
type pipeTx struct {
	entsql.Conn
	conn *sql.Conn
	ctx  context.Context
	done bool
}

// Commit commits the transaction; after a failed statement it returns an
// error (PostgreSQL answers COMMIT with ROLLBACK).
func (t *pipeTx) Commit() error {
	if t.done {
		return sql.ErrTxDone
	}
	if err := t.ctx.Err(); err != nil { // like sql.Tx: a cancelled transaction is rolled back
		return errors.Join(err, t.end("rollback"))
	}
	return t.end("commit")
}

// Rollback rolls the transaction back.
func (t *pipeTx) Rollback() error {
	if t.done {
		return sql.ErrTxDone
	}
	return t.end("rollback")
}

func (t *pipeTx) end(stmt string) error {
	t.done = true
	err := onPgx(t.conn, func(pc *pgx.Conn) error {
		tag, err := pc.Exec(context.WithoutCancel(t.ctx), stmt)
		if stmt == "commit" {
			err = commitTag(tag, err)
		}
		return settle(t.ctx, pc, err)
	})
	return errors.Join(err, t.conn.Close())
}

// execResult is the sql.Result of a pipelined Exec.
type execResult int64

func (r execResult) LastInsertId() (int64, error) {
	return 0, errors.New("tenant: LastInsertId is not supported by PostgreSQL")
}
func (r execResult) RowsAffected() (int64, error) { return int64(r), nil }
