package database

import (
	"context"
	"errors"
	"fmt"

	"github.com/mtdb/mtdb/ent"
)

// WithTx runs fn in one transaction of client, in the tenant context carried
// by ctx (the driver enters it at BEGIN). It commits when fn returns nil and
// rolls back otherwise, also when fn panics (the panic is re-raised). fn's
// error is returned as is, so errs kinds survive.
func WithTx(ctx context.Context, client *ent.Client, fn func(tx *ent.Tx) error) (err error) {
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
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("database: committing: %w", err)
	}
	return nil
}
