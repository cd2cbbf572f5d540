package database

import (
	"context"
	stdsql "database/sql"
	"errors"
	"fmt"

	"entgo.io/ent/dialect"

	"github.com/mtdb/mtdb/internal/tenant"
)

// route returns the replica when the work of ctx is to run there: a read
// replica is configured and usable, and ctx's tenant context is read-only,
// allows a replica (ReplicaOK) and has not begun a transaction that may
// write. Work of a context that may write marks it for the primary
// (tenant.Context.StickToPrimary), so the request's later reads see its
// writes. A read kept on the primary is counted here.
func (d Driver) route(ctx context.Context) *Replica {
	rep := d.replica
	if rep == nil {
		return nil
	}
	tc, ok := tenant.From(ctx)
	if !ok {
		return nil // the tenant driver refuses it
	}
	if !tc.ReadOnly {
		tc.StickToPrimary()
		return nil
	}
	if !tc.ReplicaOK {
		return nil
	}
	if tc.OnPrimary() || !rep.Usable() {
		rep.count(false)
		return nil
	}
	return rep
}

// replicaTx is a transaction on the replica that moves to the primary
// when its first statement fails there for a reason of the replica's
// (Replica.fallback): nothing ran yet, so beginning again on the primary
// and running that statement is the same transaction. After a statement
// succeeded it stays where it is.
type replicaTx struct {
	dialect.Tx
	ctx     context.Context
	opts    *stdsql.TxOptions
	primary dialect.Driver
	rep     *Replica
	settled bool // the first statement ran: no more moving
}

// run runs one statement with fn, moving to the primary first if needed.
func (t *replicaTx) run(ctx context.Context, fn func(dialect.Tx) error) error {
	err := fn(t.Tx)
	if t.settled {
		return err
	}
	if !t.rep.fallback(ctx, err) {
		t.settled = true
		t.rep.count(true)
		return err
	}
	t.settled = true
	t.rep.count(false)
	_ = t.Tx.Rollback()
	tx, berr := beginTx(t.ctx, t.primary, t.opts)
	if berr != nil {
		t.Tx = failedTx{berr}
		return berr
	}
	t.Tx = tx
	return fn(t.Tx)
}

func (t *replicaTx) Exec(ctx context.Context, query string, args, v any) error {
	return t.run(ctx, func(tx dialect.Tx) error { return tx.Exec(ctx, query, args, v) })
}

func (t *replicaTx) Query(ctx context.Context, query string, args, v any) error {
	return t.run(ctx, func(tx dialect.Tx) error { return tx.Query(ctx, query, args, v) })
}

// ExecContext runs a statement through database/sql (ent's
// Tx.ExecContext).
func (t *replicaTx) ExecContext(ctx context.Context, query string, args ...any) (res stdsql.Result, err error) {
	err = t.run(ctx, func(tx dialect.Tx) error {
		ex, ok := tx.(interface {
			ExecContext(context.Context, string, ...any) (stdsql.Result, error)
		})
		if !ok {
			return fmt.Errorf("database: transaction %T has no ExecContext", tx)
		}
		var e error
		res, e = ex.ExecContext(ctx, query, args...)
		return e
	})
	return res, err
}

// QueryContext runs a query through database/sql (ent's Tx.QueryContext).
func (t *replicaTx) QueryContext(ctx context.Context, query string, args ...any) (rows *stdsql.Rows, err error) {
	err = t.run(ctx, func(tx dialect.Tx) error {
		q, ok := tx.(interface {
			QueryContext(context.Context, string, ...any) (*stdsql.Rows, error)
		})
		if !ok {
			return fmt.Errorf("database: transaction %T has no QueryContext", tx)
		}
		var e error
		rows, e = q.QueryContext(ctx, query, args...)
		return e
	})
	return rows, err
}

// failedTx is a transaction that could not begin on the primary after
// the replica failed: every call returns its error.
type failedTx struct{ err error }

var errFailedTx = errors.New("database: the transaction could not begin")

func (f failedTx) Exec(context.Context, string, any, any) error {
	return errors.Join(errFailedTx, f.err)
}
func (f failedTx) Query(context.Context, string, any, any) error {
	return errors.Join(errFailedTx, f.err)
}
func (f failedTx) Commit() error   { return errors.Join(errFailedTx, f.err) }
func (f failedTx) Rollback() error { return nil }
