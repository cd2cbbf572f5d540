package database

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/mtdb/mtdb/ent"
)

// MaxTxAttempts bounds how often a transaction that failed with a
// serialization failure or a deadlock (Retryable) is run: the first run and
// the retries together. After the last one its error is classified as
// unavailable (CauseContention).
const MaxTxAttempts = 4

// Retryable reports whether err says PostgreSQL aborted the transaction
// because of concurrent transactions (40001 serialization_failure, 40P01
// deadlock_detected): the transaction was rolled back, nothing of it was
// committed, and running it again may succeed.
func Retryable(err error) bool {
	pg := pgError(err)
	return pg != nil && (pg.Code == "40001" || pg.Code == "40P01")
}

// Retry runs attempt until it returns nil or an error that is not
// Retryable, at most MaxTxAttempts times, waiting a short random backoff
// between runs; it stops early when ctx ends. Each attempt must be a whole
// transaction: the retry is safe because a Retryable error means the
// server rolled all of it back.
func Retry(ctx context.Context, attempt func() error) error {
	var err error
	for i := range MaxTxAttempts {
		if err = attempt(); err == nil || !Retryable(err) || i == MaxTxAttempts-1 {
			return err
		}
		wait := time.Duration(1<<(2*i)) * 5 * time.Millisecond // 5, 20, 80 ms
		wait += rand.N(wait)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
	return err
}

// WithTx runs fn in one transaction of client, in the tenant context carried
// by ctx (the driver enters it at BEGIN). It commits when fn returns nil and
// rolls back otherwise, also when fn panics (the panic is re-raised). fn's
// error is returned as is, so errs kinds survive.
//
// A transaction PostgreSQL aborts with a serialization failure or a
// deadlock (Retryable) is run again, fn included, up to MaxTxAttempts
// times: fn must have no effect outside the transaction.
//
// Inside a request transaction (InRequestTx) fn joins it instead: nothing
// is committed here, a failure marks the request transaction for rollback,
// and retries are the request's business.
func WithTx(ctx context.Context, client *ent.Client, fn func(tx *ent.Tx) error) error {
	if requestFrom(ctx) != nil {
		return runTx(ctx, client, fn)
	}
	return Retry(ctx, func() error { return runTx(ctx, client, fn) })
}

func runTx(ctx context.Context, client *ent.Client, fn func(tx *ent.Tx) error) (err error) {
	tx, err := client.Tx(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if v := recover(); v != nil {
			_ = tx.Rollback()
			panic(v)
		}
	}()
	if err := fn(tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			return errors.Join(err, fmt.Errorf("database: rolling back: %w", rerr))
		}
		return err
	}
	expired := ctx.Err() != nil // the transaction is rolled back, not committed
	if err := tx.Commit(); err != nil {
		err = fmt.Errorf("database: committing: %w", err)
		if !expired {
			err = CommitError(err)
		}
		return err
	}
	return nil
}
