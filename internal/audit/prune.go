package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// DefaultPruneBatch is how many events one prune transaction deletes: small
// enough that no transaction holds many row locks or runs long next to the
// triggers' inserts.
const DefaultPruneBatch = 5000

// pruneSQL deletes one batch of the oldest events before $1. Ordering by
// id walks the primary key from the oldest event, so every batch finds its
// rows at the start of the index.
const pruneSQL = `DELETE FROM public.audit_events WHERE id IN (
  SELECT id FROM public.audit_events WHERE occurred_at < $1 ORDER BY id LIMIT $2)`

// Prune deletes the events that occurred before before, batch events per
// transaction (DefaultPruneBatch when batch ≤ 0), until none is left or ctx
// ends, and returns how many it deleted. db must connect as the owner of
// audit_events (the migration owner): the app role cannot delete events,
// and this is the only path that does.
func Prune(ctx context.Context, db *sql.DB, before time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = DefaultPruneBatch
	}
	var total int64
	for {
		res, err := db.ExecContext(ctx, pruneSQL, before, batch)
		if err != nil {
			return total, fmt.Errorf("audit: prune: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("audit: prune: %w", err)
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
	}
}

// PruneEvery runs Prune for the events older than retention a minute after
// it starts (or after interval, when shorter) and then every interval,
// until ctx ends, logging what it deleted and any failure (the next round
// tries again).
func PruneEvery(ctx context.Context, db *sql.DB, retention, interval time.Duration, log *slog.Logger) {
	wait := min(time.Minute, interval)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = interval
		before := time.Now().Add(-retention)
		n, err := Prune(ctx, db, before, 0)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("audit prune failed", "before", before.UTC().Format(time.RFC3339), "deleted", n, "error", err)
		case n > 0:
			log.Info("audit events pruned", "before", before.UTC().Format(time.RFC3339), "deleted", n)
		}
	}
}

// ParseBefore reads the --before of `mtdb audit prune`: a duration before
// now (Go syntax such as 720h, or whole days such as 90d), an RFC 3339 time
// or a date (YYYY-MM-DD, midnight UTC).
func ParseBefore(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, errors.New("the duration must be positive")
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (720h, 90d) nor a date (2026-01-31 or RFC 3339)", s)
}
