package tenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pipeTx is a transaction on one connection held from BeginTx to COMMIT
// or ROLLBACK. BEGIN and the settings statement go out with its first
// statement; a transaction without statements sends nothing.
type pipeTx struct {
	d       *Driver
	conn    *sql.Conn
	ctx     context.Context
	tc      Context
	opts    sql.TxOptions
	pending bool  // BEGIN not sent yet
	broken  error // the first batch failed and was rolled back
	done    bool
}

// errTxBroken refuses statements after the transaction's first batch
// failed: it was rolled back, and the connection is no longer in the
// tenant context.
var errTxBroken = errors.New("tenant: the transaction failed and was rolled back")

// do runs one statement: with BEGIN and the settings statement when it is
// the first, alone afterwards.
func (t *pipeTx) do(ctx context.Context, query string, args any, first func(results) error, alone func(*pgx.Conn, []any) error) error {
	if t.done {
		return sql.ErrTxDone
	}
	if t.broken != nil {
		return errTxBroken
	}
	argv, ok := args.([]any)
	if !ok && args != nil {
		return fmt.Errorf("tenant: invalid type %T for args, expected []any", args)
	}
	if t.pending {
		t.pending = false
		err := t.d.send(ctx, t.conn, t.tc, t.opts, []*pgx.QueuedQuery{{SQL: query, Arguments: argv}}, first)
		if err != nil {
			t.broken = err
		}
		return err
	}
	return onPgx(t.conn, func(pc *pgx.Conn) error { return alone(pc, argv) })
}

// Exec runs a statement in the transaction; v is nil or *sql.Result.
func (t *pipeTx) Exec(ctx context.Context, query string, args, v any) error {
	res, ok := v.(*sql.Result)
	if !ok && v != nil {
		return fmt.Errorf("tenant: invalid type %T, expected *sql.Result", v)
	}
	var tag pgconn.CommandTag
	err := t.do(ctx, query, args, func(br results) (err error) {
		tag, err = br.Exec()
		return err
	}, func(pc *pgx.Conn, argv []any) (err error) {
		tag, err = pc.Exec(ctx, query, argv...)
		return err
	})
	if err == nil && res != nil {
		*res = execResult(tag.RowsAffected())
	}
	return err
}

// Query runs a query in the transaction; v must be an *entsql.Rows. The
// rows are read into memory.
func (t *pipeTx) Query(ctx context.Context, query string, args, v any) error {
	rows, ok := v.(*entsql.Rows)
	if !ok {
		return fmt.Errorf("tenant: invalid rows type %T, expected *sql.Rows", v)
	}
	var buf *bufferedRows
	err := t.do(ctx, query, args, func(br results) error {
		r, err := br.Query()
		if err == nil {
			buf, err = readRows(r)
		}
		return err
	}, func(pc *pgx.Conn, argv []any) error {
		r, err := pc.Query(ctx, query, argv...)
		if err == nil {
			buf, err = readRows(r)
		}
		return err
	})
	if err != nil {
		return err
	}
	rows.ColumnScanner = buf
	return nil
}

// start sends BEGIN and the settings statement if they are still pending.
func (t *pipeTx) start(ctx context.Context) error {
	if t.done {
		return sql.ErrTxDone
	}
	if t.broken != nil {
		return errTxBroken
	}
	if !t.pending {
		return nil
	}
	t.pending = false
	if err := t.d.send(ctx, t.conn, t.tc, t.opts, nil, nil); err != nil {
		t.broken = err
		return err
	}
	return nil
}

// ExecContext runs a statement in the transaction through database/sql
// (ent's Tx.ExecContext, feature sql/execquery).
func (t *pipeTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := t.start(ctx); err != nil {
		return nil, err
	}
	return t.conn.ExecContext(ctx, query, args...)
}

// QueryContext runs a query in the transaction through database/sql
// (ent's Tx.QueryContext, feature sql/execquery).
func (t *pipeTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := t.start(ctx); err != nil {
		return nil, err
	}
	return t.conn.QueryContext(ctx, query, args...)
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
	if t.broken != nil {
		return errors.Join(errCommitRolledBack, t.broken, t.end(""))
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

// end sends stmt (COMMIT or ROLLBACK) unless nothing is open, and releases
// the connection.
func (t *pipeTx) end(stmt string) error {
	t.done = true
	var err error
	if !t.pending && t.broken == nil && stmt != "" {
		err = onPgx(t.conn, func(pc *pgx.Conn) error {
			// COMMIT is bounded by the request's deadline like every
			// statement (a partition must not hold the request past it;
			// the caller reports the unknown outcome); ROLLBACK is not.
			ctx := t.ctx
			if stmt != "commit" {
				ctx = context.WithoutCancel(t.ctx)
			}
			tag, err := pc.Exec(ctx, stmt)
			if stmt == "commit" {
				err = commitTag(tag, err)
			}
			return settle(t.ctx, pc, err)
		})
	}
	return errors.Join(err, t.conn.Close())
}
