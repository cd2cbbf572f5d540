// Package tenant owns the tenant context of a request: who is acting, for
// which tenant, with which role. It also owns the two mechanisms that make
// that context impossible to forget: the ent driver wrapper that enters the
// restricted database role and sets the transaction-local settings at the
// start of every transaction, and the ent hook that stamps tenant_id on
// creates.
package tenant

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/errs"
)

// Role is the caller's role, as carried in the token's "role" claim and in
// the app.role database setting.
type Role string

// The roles mtdb knows. Anything else is refused.
const (
	RolePlatformAdmin Role = "platform_admin"
	RoleTenantAdmin   Role = "tenant_admin"
	RoleMember        Role = "member"
)

// ParseRole returns the Role named by s, or an error for any other value.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RolePlatformAdmin, RoleTenantAdmin, RoleMember:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q", s)
}

// HeldRole returns the role s names when it may be held inside a tenant,
// by a user or an API key: tenant_admin or member (platform_admin is no
// role inside a tenant). Otherwise it records the problem in bad under
// "role".
func HeldRole(s string, bad map[string]string) Role {
	r := Role(s)
	if r != RoleTenantAdmin && r != RoleMember {
		bad["role"] = "must be tenant_admin or member"
	}
	return r
}

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool { _, err := ParseRole(string(r)); return err == nil }

// CanWrite reports whether r may change a tenant's data (users, projects,
// its own tenant): tenant_admin and platform_admin; a member only reads.
func (r Role) CanWrite() bool { return r == RolePlatformAdmin || r == RoleTenantAdmin }

// Writer returns the tenant context of ctx when its role may change what
// (CanWrite). Errors: ErrNoContext; errs.Forbidden naming what.
func Writer(ctx context.Context, what string) (Context, error) {
	tc, ok := From(ctx)
	if !ok {
		return tc, ErrNoContext
	}
	if !tc.Role.CanWrite() {
		return tc, errs.Forbidden("only a tenant_admin or platform_admin can change " + what)
	}
	return tc, nil
}

// NeedTenant returns nil when c has a tenant, and errs.Invalid on "tenant"
// otherwise: what is created in the effective tenant, which a
// platform_admin acting on no tenant has not named.
func (c Context) NeedTenant(what string) error {
	if c.HasTenant() {
		return nil
	}
	return errs.Invalid("tenant", what+" are created in the effective tenant: name one")
}

// Context is what the database needs to know about the caller. A zero
// TenantID means "no tenant": tenant-scoped tables then show no rows and
// refuse writes.
type Context struct {
	TenantID uuid.UUID // effective tenant; uuid.Nil when none
	// HomeTenantID is the credential's own tenant (the token's tenant_id
	// claim). When set and different from TenantID, TenantID must be one of
	// its live direct subsidiaries (unless Role is platform_admin); every
	// transaction checks it before any work (the settings statement).
	HomeTenantID uuid.UUID
	UserID       string // the token's subject, for auditing
	Role         Role
	ReadOnly     bool // run the transaction READ ONLY (GET requests)
	// RequestID is the HTTP request's X-Request-ID (empty outside a
	// request), set as app.request_id for auditing.
	RequestID string
	// ReplicaOK lets the read-only transactions of this context run on a
	// read replica (DATABASE_READ_URL), whose data may lag the primary by
	// up to DATABASE_READ_MAX_LAG: set for GET and HEAD requests only. A
	// context that began a transaction that may write (ReadOnly false)
	// stays on the primary from then on (StickToPrimary).
	ReplicaOK bool

	// shared is shared by the copies of one request's Context (see With).
	shared *shared
}

// shared is the state of one request's Context that all its copies see.
type shared struct {
	// checked records that a transaction sent the settings statement, and
	// with it the tenant reach check, whose outcome its caller then
	// received.
	checked atomic.Bool
	// primary records that a transaction that may write began: later
	// reads of the request go to the primary too (they must see it).
	primary atomic.Bool
}

// HasTenant reports whether a tenant is set.
func (c Context) HasTenant() bool { return c.TenantID != uuid.Nil }

type ctxKey struct{}

// With returns a copy of ctx carrying c.
func With(ctx context.Context, c Context) context.Context {
	if c.shared == nil {
		c.shared = new(shared)
	}
	return context.WithValue(ctx, ctxKey{}, c)
}

// Checked reports whether a transaction in this context sent the settings
// statement, and with it the tenant reach check: its caller got
// ErrUnreachable if the check failed. A request that did no database work
// is not checked yet.
func (c Context) Checked() bool { return c.shared != nil && c.shared.checked.Load() }

// markChecked records that the settings statement is being sent.
func (c Context) markChecked() {
	if c.shared != nil {
		c.shared.checked.Store(true)
	}
}

// StickToPrimary records that the request began a transaction that may
// write: from now on all its transactions, in every copy of c, run on the
// primary (OnPrimary).
func (c Context) StickToPrimary() {
	if c.shared != nil {
		c.shared.primary.Store(true)
	}
}

// OnPrimary reports whether StickToPrimary was called for this request.
func (c Context) OnPrimary() bool { return c.shared != nil && c.shared.primary.Load() }

// From returns the tenant context carried by ctx, and whether there is one.
func From(ctx context.Context) (Context, bool) {
	c, ok := ctx.Value(ctxKey{}).(Context)
	return c, ok
}

// ErrNoContext is returned when database work is attempted on a context that
// carries no tenant context at all. Work never runs without one.
var ErrNoContext = errors.New("tenant: no tenant context on the request context")

// ErrUnreachable is returned (wrapped, with the database error) when the
// settings statement refused the tenant: unknown, deleted, or out of the
// credentials' reach.
var ErrUnreachable = errors.New("tenant: the tenant does not exist or is not accessible with these credentials")

// ErrNoTenant is returned when a create on a tenant-scoped table is attempted
// without a tenant in the context.
var ErrNoTenant = errors.New("tenant: no tenant set for a tenant-scoped write")

// ErrTenantMismatch is returned when a create names a tenant_id other than the
// context's tenant.
var ErrTenantMismatch = errors.New("tenant: tenant_id differs from the request's tenant")
