// Package apikeys owns the per-tenant API keys: machine credentials that
// act in their tenant with a fixed role. It creates them (returning the
// secret once), lists and revokes them, and authenticates a presented key
// (see Authenticator). Keys live in the tenant-scoped table api_keys, so
// row-level security isolates them like every other tenant's data; only
// the lookup by key, which precedes any tenant, goes through the SECURITY
// DEFINER function mtdb_api_key_authenticate.
package apikeys

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/ent/apikey"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/tenant"
)

// MaxNameLen is the longest name, in characters.
const MaxNameLen = 200

// Service implements the API key operations over an ent client whose
// driver applies the caller's tenant context.
type Service struct {
	client *ent.Client
}

// NewService returns a Service over client.
func NewService(client *ent.Client) *Service { return &Service{client: client} }

// CreateInput is a new key. Role is tenant_admin or member; ExpiresAt, when
// set, must lie in the future.
type CreateInput struct {
	Name      string
	Role      string
	ExpiresAt *time.Time
}

// Created is a new key with its secret, which is never shown again.
type Created struct {
	*ent.APIKey
	Key string
}

// Create makes a key in the caller's effective tenant. A key's role is
// never above its creator's: a tenant_admin (or platform_admin) may create
// tenant_admin and member keys. Errors: Forbidden (member), Invalid.
func (s *Service) Create(ctx context.Context, in CreateInput) (*Created, error) {
	tc, err := tenant.Writer(ctx, "API keys")
	if err != nil {
		return nil, err
	}
	bad := map[string]string{}
	name := errs.Text(bad, "name", in.Name, MaxNameLen)
	role := tenant.HeldRole(in.Role, bad)
	if in.ExpiresAt != nil && !in.ExpiresAt.After(time.Now()) {
		bad["expires_at"] = "must lie in the future"
	}
	if err := errs.Fields(bad); err != nil {
		return nil, err
	}
	if err := tc.NeedTenant("API keys"); err != nil {
		return nil, err
	}
	key, prefix, digest, err := generate()
	if err != nil {
		return nil, err
	}
	c := s.client.APIKey.Create().
		SetName(name).
		SetPrefix(prefix).
		SetKeyHash(digest).
		SetRole(apikey.Role(role)).
		SetCreatedBy(tc.UserID)
	if in.ExpiresAt != nil {
		c.SetExpiresAt(in.ExpiresAt.UTC().Truncate(time.Microsecond))
	}
	k, err := c.Save(ctx)
	if err != nil {
		return nil, translate(err)
	}
	return &Created{APIKey: k, Key: key}, nil
}

// List returns one page of the keys of the caller's effective tenant,
// ordered by created_at then id, and their total. Errors: Forbidden
// (member), Invalid (page, no tenant selected).
func (s *Service) List(ctx context.Context, limit, offset int) ([]*ent.APIKey, int, error) {
	tc, err := tenant.Writer(ctx, "API keys")
	if err != nil {
		return nil, 0, err
	}
	if err := (database.Page{Limit: limit, Offset: offset}).Check(); err != nil {
		return nil, 0, err
	}
	if !tc.HasTenant() {
		return nil, 0, errs.Invalid("tenant", "API keys are listed for the effective tenant: name one")
	}
	var (
		items []*ent.APIKey
		total int
	)
	err = database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		// The effective tenant only: a parent's admin sees its subsidiaries'
		// keys by naming the subsidiary, like every other listing of keys.
		q := tx.APIKey.Query().Where(apikey.TenantID(tc.TenantID))
		var err error
		if total, err = q.Clone().Count(ctx); err != nil {
			return err
		}
		items, err = q.Order(apikey.ByCreatedAt(), apikey.ByID()).Limit(limit).Offset(offset).All(ctx)
		return err
	})
	if err != nil {
		return nil, 0, translate(err)
	}
	return items, total, nil
}

// Delete revokes the key id of the caller's effective tenant at once (the
// row is deleted; the next request with it is 401). Errors: Forbidden
// (member), NotFound.
func (s *Service) Delete(ctx context.Context, id uuid.UUID) error {
	tc, err := tenant.Writer(ctx, "API keys")
	if err != nil {
		return err
	}
	if !tc.HasTenant() {
		return errs.NotFound("API key")
	}
	n, err := s.client.APIKey.Delete().Where(apikey.ID(id), apikey.TenantID(tc.TenantID)).Exec(ctx)
	if err != nil {
		return translate(err)
	}
	if n == 0 {
		return errs.NotFound("API key")
	}
	return nil
}

// translate turns ent and PostgreSQL errors into the errs vocabulary.
func translate(err error) error { return database.Translate(err, "API key", nil) }

// Get returns the key id of the caller's effective tenant (without its
// secret, which is not stored). Errors: Forbidden (member), NotFound.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*ent.APIKey, error) {
	tc, err := tenant.Writer(ctx, "API keys")
	if err != nil {
		return nil, err
	}
	k, err := s.client.APIKey.Query().Where(apikey.ID(id), apikey.TenantID(tc.TenantID)).Only(ctx)
	if err != nil {
		return nil, translate(err)
	}
	return k, nil
}
