package database

import (
	"context"
	stdsql "database/sql"
	"errors"
	"fmt"
	"sync"

	"entgo.io/ent/dialect"
)

// A request transaction makes every statement of one request (through the
// ent client of DB.Ent, with the context InRequestTx returns) run in one
// transaction that the caller commits or rolls back as a whole: the
// Idempotency-Key middleware stores the key in the same transaction as the
// write it protects. Service code does not change: WithTx joins the request
// transaction, and statements outside a transaction run in it too.

// RequestTx is one request's transaction, begun at its first statement.
type RequestTx struct {
	ctx        context.Context
	mu         sync.Mutex
	tx         dialect.Tx
	rolledBack bool // a joined transaction (WithTx) failed
	done       bool
}

type requestKey struct{}

// ErrRequestRolledBack is returned by RequestTx.Commit when work inside
// the request transaction failed and rolled back its part: the whole
// transaction is rolled back instead.
var ErrRequestRolledBack = errors.New("database: part of the request transaction failed; rolled back")

// InRequestTx returns a context whose database work (through a client
// opened by Open) runs in one transaction, and that transaction. ctx must
// carry the tenant context. End the transaction with Commit or Rollback.
func InRequestTx(ctx context.Context) (context.Context, *RequestTx) {
	r := &RequestTx{}
	ctx = context.WithValue(ctx, requestKey{}, r)
	r.ctx = ctx
	return ctx, r
}

func requestFrom(ctx context.Context) *RequestTx {
	r, _ := ctx.Value(requestKey{}).(*RequestTx)
	return r
}

// get returns the transaction, beginning it on first use.
func (r *RequestTx) get(drv dialect.Driver) (dialect.Tx, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return nil, stdsql.ErrTxDone
	}
	if r.tx == nil {
		tx, err := drv.Tx(r.ctx)
		if err != nil {
			return nil, err
		}
		r.tx = tx
	}
	return r.tx, nil
}

// Commit commits the request transaction (nothing to do when no statement
// ran). When a joined transaction rolled back, it rolls back instead and
// returns ErrRequestRolledBack. A commit error that is not a PostgreSQL
// error may hide a commit that happened (the connection died after COMMIT
// was sent): CommitError makes it unavailable.
func (r *RequestTx) Commit() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return stdsql.ErrTxDone
	}
	r.done = true
	if r.tx == nil {
		return nil
	}
	if r.rolledBack {
		return errors.Join(ErrRequestRolledBack, r.tx.Rollback())
	}
	expired := r.ctx.Err() != nil // the transaction is rolled back, not committed
	if err := r.tx.Commit(); err != nil {
		err = fmt.Errorf("database: committing the request transaction: %w", err)
		if !expired {
			err = CommitError(err)
		}
		return err
	}
	return nil
}

// Rollback rolls the request transaction back; after Commit it does nothing.
func (r *RequestTx) Rollback() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return nil
	}
	r.done = true
	if r.tx == nil {
		return nil
	}
	return r.tx.Rollback()
}

// Driver is the driver of DB.Ent: the tenant driver, with statements
// outside a transaction retried like WithTx transactions (Retry), and
// everything inside a request transaction routed to it. With a read
// replica, the read-only work of contexts that allow it goes there while
// it is usable (replica.go, route.go).
type Driver struct {
	dialect.Driver
	replica *Replica // nil: none
}

// Exec runs a statement (see send).
func (d Driver) Exec(ctx context.Context, query string, args, v any) error {
	return d.send(ctx, func(eq dialect.ExecQuerier) error { return eq.Exec(ctx, query, args, v) })
}

// Query runs a query (see send; the tenant driver reads the rows of an
// implicit transaction before it ends).
func (d Driver) Query(ctx context.Context, query string, args, v any) error {
	return d.send(ctx, func(eq dialect.ExecQuerier) error { return eq.Query(ctx, query, args, v) })
}

// send runs one statement, op: in the request transaction; else on the
// replica when the request may read there (falling back to the primary on
// replica trouble); else in its own implicit transaction on the primary,
// retried when Retryable.
func (d Driver) send(ctx context.Context, op func(dialect.ExecQuerier) error) error {
	if r := requestFrom(ctx); r != nil {
		tx, err := r.get(d.Driver)
		if err != nil {
			return err
		}
		return op(tx)
	}
	if rep := d.route(ctx); rep != nil {
		err := op(rep.drv)
		if !rep.fallback(ctx, err) {
			rep.count(true)
			return err
		}
		rep.count(false)
	}
	return Retry(ctx, func() error { return op(d.Driver) })
}

// Tx begins a transaction, or joins the request transaction.
func (d Driver) Tx(ctx context.Context) (dialect.Tx, error) { return d.BeginTx(ctx, nil) }

// BeginTx begins a transaction with opts, or joins the request transaction
// (whose options stand).
func (d Driver) BeginTx(ctx context.Context, opts *stdsql.TxOptions) (dialect.Tx, error) {
	if r := requestFrom(ctx); r != nil {
		tx, err := r.get(d.Driver)
		if err != nil {
			return nil, err
		}
		return joinedTx{Tx: tx, r: r}, nil
	}
	if rep := d.route(ctx); rep != nil {
		tx, err := beginTx(ctx, rep.drv, opts)
		if err == nil {
			return &replicaTx{Tx: tx, ctx: ctx, opts: opts, primary: d.Driver, rep: rep}, nil
		}
		if !rep.fallback(ctx, err) {
			return nil, err
		}
		rep.count(false)
	}
	return beginTx(ctx, d.Driver, opts)
}

// beginTx begins a transaction of drv with opts.
func beginTx(ctx context.Context, drv dialect.Driver, opts *stdsql.TxOptions) (dialect.Tx, error) {
	b, ok := drv.(interface {
		BeginTx(context.Context, *stdsql.TxOptions) (dialect.Tx, error)
	})
	if !ok {
		return nil, fmt.Errorf("database: driver %T cannot begin transactions with options", drv)
	}
	return b.BeginTx(ctx, opts)
}

// ExecContext runs a statement in the request transaction (ent's
// Client.ExecContext); outside one it is not supported.
func (d Driver) ExecContext(ctx context.Context, query string, args ...any) (stdsql.Result, error) {
	r := requestFrom(ctx)
	if r == nil {
		return nil, errors.New("database: ExecContext runs only in a request transaction")
	}
	tx, err := r.get(d.Driver)
	if err != nil {
		return nil, err
	}
	return joinedTx{Tx: tx, r: r}.ExecContext(ctx, query, args...)
}

// QueryContext runs a query in the request transaction (ent's
// Client.QueryContext); outside one it is not supported.
func (d Driver) QueryContext(ctx context.Context, query string, args ...any) (*stdsql.Rows, error) {
	r := requestFrom(ctx)
	if r == nil {
		return nil, errors.New("database: QueryContext runs only in a request transaction")
	}
	tx, err := r.get(d.Driver)
	if err != nil {
		return nil, err
	}
	return joinedTx{Tx: tx, r: r}.QueryContext(ctx, query, args...)
}

// joinedTx is a transaction inside the request transaction: its Commit
// leaves the work to the request's, its Rollback dooms the request's.
type joinedTx struct {
	dialect.Tx
	r *RequestTx
}

func (j joinedTx) Commit() error { return nil }

func (j joinedTx) Rollback() error {
	j.r.mu.Lock()
	j.r.rolledBack = true
	j.r.mu.Unlock()
	return nil
}

func (j joinedTx) ExecContext(ctx context.Context, query string, args ...any) (stdsql.Result, error) {
	ex, ok := j.Tx.(interface {
		ExecContext(context.Context, string, ...any) (stdsql.Result, error)
	})
	if !ok {
		return nil, fmt.Errorf("database: transaction %T has no ExecContext", j.Tx)
	}
	return ex.ExecContext(ctx, query, args...)
}

func (j joinedTx) QueryContext(ctx context.Context, query string, args ...any) (*stdsql.Rows, error) {
	q, ok := j.Tx.(interface {
		QueryContext(context.Context, string, ...any) (*stdsql.Rows, error)
	})
	if !ok {
		return nil, fmt.Errorf("database: transaction %T has no QueryContext", j.Tx)
	}
	return q.QueryContext(ctx, query, args...)
}
