package apikeys

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/tenant"
)

// DefaultFlushInterval is how often last_used_at is written.
const DefaultFlushInterval = 30 * time.Second

// maxPending bounds the keys waiting for their last_used_at write: each
// entry is a key that authenticated, so it is bounded by the keys that
// exist; the cap only guards against a flush that keeps failing.
const maxPending = 100000

// Authenticator authenticates API keys (auth.Authenticator). It remembers
// when each key was last used and writes that in one batch per flush
// (Run), never once per request. Safe for concurrent use.
type Authenticator struct {
	client *ent.Client
	log    *slog.Logger

	mu   sync.Mutex
	used map[uuid.UUID]time.Time
}

// NewAuthenticator returns an Authenticator over client (whose driver runs
// as the restricted role).
func NewAuthenticator(client *ent.Client, log *slog.Logger) *Authenticator {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Authenticator{client: client, log: log, used: map[uuid.UUID]time.Time{}}
}

// Subject is the actor of a request made with the API key id.
func Subject(id uuid.UUID) string { return "api-key:" + id.String() }

// Authenticate returns the claims of the API key key: its tenant, its role
// and the subject "api-key:<id>". A malformed, unknown or revoked key wraps
// auth.ErrAPIKeyInvalid, an expired one auth.ErrAPIKeyExpired; database
// trouble is an *errs.Error (503/504).
func (a *Authenticator) Authenticate(ctx context.Context, key string) (auth.Claims, error) {
	prefix, digest, err := Parse(key)
	if err != nil {
		return auth.Claims{}, fmt.Errorf("%w: %w", auth.ErrAPIKeyInvalid, err)
	}
	var (
		found    bool
		id, tid  uuid.UUID
		role     string
		expires  *time.Time
		lookupAs = tenant.With(ctx, tenant.Context{ReadOnly: true}) // no tenant: the function is the only way in
	)
	err = database.WithTx(lookupAs, a.client, func(tx *ent.Tx) error {
		rows, err := tx.QueryContext(lookupAs,
			`SELECT key_id, key_tenant_id, key_role, key_expires_at FROM mtdb_api_key_authenticate($1, $2)`, prefix, digest)
		if err != nil {
			return err
		}
		defer rows.Close()
		if rows.Next() {
			found = true
			if err := rows.Scan(&id, &tid, &role, &expires); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		if c := database.Classify(err); errs.KindOf(c) != errs.KindInternal {
			return auth.Claims{}, c
		}
		return auth.Claims{}, &errs.Error{Kind: errs.KindInternal, Message: "internal error", Err: err}
	}
	if !found {
		return auth.Claims{}, auth.ErrAPIKeyInvalid
	}
	if expires != nil && !expires.After(time.Now()) {
		return auth.Claims{}, auth.ErrAPIKeyExpired
	}
	r, err := tenant.ParseRole(role)
	if err != nil || r == tenant.RolePlatformAdmin {
		return auth.Claims{}, fmt.Errorf("%w: stored role %q", auth.ErrAPIKeyInvalid, role)
	}
	a.touch(id)
	return auth.Claims{Subject: Subject(id), Role: r, TenantID: tid}, nil
}

// touch records that the key id was used now.
func (a *Authenticator) touch(id uuid.UUID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.used[id]; ok || len(a.used) < maxPending {
		a.used[id] = time.Now().UTC().Truncate(time.Microsecond)
	}
}

// Flush writes the pending last_used_at times in one statement. On failure
// they are kept (unless newer ones arrived) for the next flush.
func (a *Authenticator) Flush(ctx context.Context) error {
	a.mu.Lock()
	pending := a.used
	a.used = map[uuid.UUID]time.Time{}
	a.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, 0, len(pending))
	times := make([]time.Time, 0, len(pending))
	for id, t := range pending {
		ids = append(ids, id)
		times = append(times, t)
	}
	// Platform context without a tenant: the function updates by id only.
	as := tenant.With(ctx, tenant.Context{Role: tenant.RolePlatformAdmin, UserID: "mtdb:api-key-last-used"})
	err := database.WithTx(as, a.client, func(tx *ent.Tx) error {
		_, err := tx.ExecContext(as, `SELECT mtdb_api_keys_touch($1::uuid[], $2::timestamptz[])`, ids, times)
		return err
	})
	if err != nil {
		a.mu.Lock()
		for id, t := range pending {
			if cur, ok := a.used[id]; !ok || cur.Before(t) {
				a.used[id] = t
			}
		}
		a.mu.Unlock()
		return err
	}
	return nil
}

// Run flushes every interval (DefaultFlushInterval when 0) until ctx is
// done, then once more.
func (a *Authenticator) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultFlushInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := a.Flush(fctx); err != nil {
				a.log.Warn("API keys: last_used_at not written at shutdown", "err", err.Error())
			}
			cancel()
			return
		case <-t.C:
			if err := a.Flush(ctx); err != nil {
				a.log.Warn("API keys: last_used_at not written; retrying at the next flush", "err", err.Error())
			}
		}
	}
}
