// Package idempotency stores the answers to writes sent with an
// Idempotency-Key header (the IETF httpapi Idempotency-Key draft, with
// Stripe's semantics): one row per tenant, caller and key, written in the
// same transaction as the write, and purged after the retention. The HTTP
// middleware that uses it is internal/httpapi's idempotency.go.
package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/ent/idempotencykey"
	enttenant "github.com/mtdb/mtdb/ent/tenant"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/tenant"
)

// Header is the request header carrying the key.
const Header = "Idempotency-Key"

// MaxKeyLen bounds a key, in bytes.
const MaxKeyLen = 255

// DefaultRetention is how long a key is remembered unless configured.
const DefaultRetention = 24 * time.Hour

// ParseKey returns the key of a header value: 1–255 visible ASCII
// characters other than '"' and '\', optionally written as a structured
// field string ("…", as the draft shows it). Anything else is Invalid.
func ParseKey(v string) (string, error) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	if v == "" || len(v) > MaxKeyLen {
		return "", errs.Invalid(Header, "must be 1 to 255 characters")
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return "", errs.Invalid(Header, `must be visible ASCII characters other than '"' and '\'`)
		}
	}
	return v, nil
}

// Fingerprint identifies a request for the key's comparison: method,
// path with query, and a hash of the body.
func Fingerprint(method, uri string, body []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%d\n", method, uri, len(body))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// Scope is who a key belongs to: the effective tenant and the caller (the
// token's subject).
type Scope struct {
	TenantID uuid.UUID
	Caller   string
	Key      string
}

// ScopeOf returns the scope of key for the tenant context of ctx; a
// request without an effective tenant cannot use keys (Invalid).
func ScopeOf(ctx context.Context, key string) (Scope, error) {
	tc, ok := tenant.From(ctx)
	if !ok {
		return Scope{}, tenant.ErrNoContext
	}
	if !tc.HasTenant() {
		return Scope{}, errs.Invalid(Header, "needs an effective tenant (X-Tenant-ID or the token's tenant)")
	}
	return Scope{TenantID: tc.TenantID, Caller: tc.UserID, Key: key}, nil
}

// Lock takes the transaction-level lock of the key's scope without
// waiting; false means another request with the same key is in flight.
// ctx must carry a request transaction (database.InRequestTx): the lock
// lasts until it ends.
func Lock(ctx context.Context, client *ent.Client, s Scope) (bool, error) {
	rows, err := client.QueryContext(ctx, `SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))`,
		"mtdb.idempotency/"+s.TenantID.String()+"/"+s.Caller+"/"+s.Key)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	var got bool
	if rows.Next() {
		if err := rows.Scan(&got); err != nil {
			return false, err
		}
	}
	return got, errors.Join(rows.Err(), rows.Close())
}

// Find returns the stored answer for the key, or nil. A row older than
// retention is deleted and not returned.
func Find(ctx context.Context, client *ent.Client, s Scope, retention time.Duration) (*ent.IdempotencyKey, error) {
	row, err := client.IdempotencyKey.Query().Where(
		idempotencykey.TenantID(s.TenantID), idempotencykey.Caller(s.Caller), idempotencykey.Key(s.Key),
	).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if time.Since(row.CreatedAt) > retention {
		return nil, client.IdempotencyKey.DeleteOne(row).Exec(ctx)
	}
	return row, nil
}

// Answer is a stored response.
type Answer struct {
	Status   int
	Location string
	Body     []byte
}

// Save stores the answer to the request with fingerprint under the key.
func Save(ctx context.Context, client *ent.Client, s Scope, method, uri, fingerprint string, a Answer) error {
	if a.Body == nil {
		a.Body = []byte{} // NOT NULL: a 204 has no body
	}
	if len(uri) > 2048 {
		uri = uri[:2048]
	}
	err := client.IdempotencyKey.Create().
		SetCaller(s.Caller).SetKey(s.Key).
		SetRequestHash(fingerprint).SetMethod(method).SetPath(uri).
		SetStatus(a.Status).SetLocation(a.Location).SetBody(a.Body).
		Exec(ctx)
	return database.Translate(err, "idempotency key", database.Codes{"23505": conflict})
}

// InFlight is the answer to a request whose key is in use by a request
// still running.
func InFlight() *errs.Error {
	return errs.Conflict("a request with this Idempotency-Key is still in progress; retry later")
}

func conflict(*pgconn.PgError) *errs.Error { return InFlight() }

// Mismatch is the answer to a key reused for another request.
func Mismatch() *errs.Error {
	return errs.Unprocessable("this Idempotency-Key was used for a different request (method, path or body)")
}

// PurgeBatch is how many rows one purge statement deletes at most.
const PurgeBatch = 500

// Purge deletes the keys older than retention, tenant by tenant, in
// batches of PurgeBatch rows, at most maxBatches batches in all; it
// returns how many rows it deleted. It acts as platform_admin in each
// tenant, through row-level security like any request.
func Purge(ctx context.Context, client *ent.Client, retention time.Duration, maxBatches int, log *slog.Logger) (int, error) {
	before := time.Now().Add(-retention)
	admin := tenant.Context{Role: tenant.RolePlatformAdmin, UserID: "mtdb-idempotency-purge"}
	var after uuid.UUID
	deleted, batches := 0, 0
	for batches < maxBatches {
		ids, err := client.Tenant.Query().Where(enttenant.IDGT(after)).Order(enttenant.ByID()).Limit(1000).IDs(tenant.With(ctx, admin))
		if err != nil {
			return deleted, err
		}
		if len(ids) == 0 {
			return deleted, nil
		}
		after = ids[len(ids)-1]
		for _, id := range ids {
			tc := admin
			tc.TenantID = id
			tctx := tenant.With(ctx, tc)
			for batches < maxBatches {
				batches++
				victims, err := client.IdempotencyKey.Query().
					Where(idempotencykey.TenantID(id), idempotencykey.CreatedAtLT(before)).
					Limit(PurgeBatch).IDs(tctx)
				if err == nil && len(victims) > 0 {
					var n int
					n, err = client.IdempotencyKey.Delete().Where(idempotencykey.IDIn(victims...)).Exec(tctx)
					deleted += n
				}
				if err != nil {
					if ctx.Err() != nil {
						return deleted, err
					}
					log.Debug("purging idempotency keys", "tenant_id", id, "err", err)
					break
				}
				if len(victims) < PurgeBatch {
					break
				}
			}
			if batches >= maxBatches {
				break
			}
		}
	}
	return deleted, nil
}
