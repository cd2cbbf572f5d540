// Package tenants owns the tenant hierarchy: organisations (tenant_type
// "parent") and their subsidiaries, with the role rules of who may create,
// change and soft-delete which tenant. Visibility is PostgreSQL's business
// (row-level security on the tenants table); this package only hides
// soft-deleted tenants and enforces the business rules on top.
package tenants

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/ent/predicate"
	enttenant "github.com/mtdb/mtdb/ent/tenant"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/tenant"
)

// The tenant types.
const (
	TypeParent     = "parent"
	TypeSubsidiary = "subsidiary"
)

// badType is what is wrong with any other tenant_type.
const badType = "must be parent or subsidiary"

// MaxNameLen is the longest tenant name, in characters.
const MaxNameLen = 200

// Service implements the tenant operations over an ent client whose driver
// applies the caller's tenant context (see internal/database).
type Service struct {
	client *ent.Client
}

// NewService returns a Service over client.
func NewService(client *ent.Client) *Service { return &Service{client: client} }

// CreateInput is a new tenant. Name is trimmed. ParentID may be nil for a
// subsidiary: the caller's effective tenant is then the parent.
type CreateInput struct {
	Name     string
	Type     string
	ParentID *uuid.UUID
	Metadata map[string]any
}

// UpdateInput changes a tenant. Nil fields are left alone; Metadata, when
// non-nil, replaces the old metadata. TenantType and ParentTenantID, when
// set, must equal the current values: neither can change.
type UpdateInput struct {
	Name              *string
	Metadata          map[string]any
	TenantType        *string
	ParentTenantIDSet bool
	ParentTenantID    *uuid.UUID
}

// ListParams filter and page List. Type is "", TypeParent or TypeSubsidiary
// (Invalid otherwise).
type ListParams struct {
	Type string
	Page database.Page
}

// Create creates a tenant and returns it. Errors: Forbidden (member; a
// tenant_admin creating a parent, or acting for a tenant that is not a
// parent), Invalid (name, tenant_type, parent_tenant_id, metadata beyond
// CheckMetadata's bounds), NotFound (parent not
// visible), Conflict (duplicate name among the siblings).
func (s *Service) Create(ctx context.Context, in CreateInput) (*ent.Tenant, error) {
	tc, err := tenant.Writer(ctx, "tenants")
	if err != nil {
		return nil, err
	}
	name, bad := checkName(in.Name, true, map[string]string{})
	switch in.Type {
	case TypeParent:
		if in.ParentID != nil {
			bad["parent_tenant_id"] = "must be omitted for a parent tenant"
		}
	case TypeSubsidiary:
		if in.ParentID == nil && !tc.HasTenant() {
			bad["parent_tenant_id"] = "is required for a subsidiary"
		}
	case "":
		bad["tenant_type"] = "is required"
	default:
		bad["tenant_type"] = badType
	}
	if err := errs.Fields(bad); err != nil {
		return nil, err
	}
	if err := CheckMetadata(in.Metadata); err != nil {
		return nil, err
	}
	if in.Type == TypeParent && tc.Role != tenant.RolePlatformAdmin {
		return nil, errs.Forbidden("only a platform_admin can create a parent tenant")
	}
	parentID := in.ParentID
	if in.Type == TypeSubsidiary && parentID == nil {
		parentID = &tc.TenantID
	}
	md := in.Metadata
	if md == nil {
		md = map[string]any{}
	}
	var created *ent.Tenant
	err = database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		if tc.Role == tenant.RoleTenantAdmin {
			if err := requireParentTenant(ctx, tx, tc.TenantID); err != nil {
				return err
			}
		}
		if parentID != nil {
			// Locking the parent serialises sibling creation (the duplicate
			// check below) and subsidiary creation against its deletion.
			parent, err := tx.Tenant.Query().
				Where(enttenant.ID(*parentID), enttenant.DeletedAtIsNil()).
				ForUpdate().Only(ctx)
			if err != nil {
				return translate(err, "parent tenant")
			}
			if parent.TenantType != enttenant.TenantTypeParent {
				return errs.Invalid("parent_tenant_id", "is a subsidiary; the hierarchy is at most two levels deep")
			}
			if tc.Role == tenant.RoleTenantAdmin && parent.ID != tc.TenantID {
				return errs.Forbidden("a tenant_admin can only create subsidiaries of its own tenant")
			}
		}
		if err := checkUniqueName(ctx, tx, name, parentID, uuid.Nil); err != nil {
			return err
		}
		t, err := tx.Tenant.Create().
			SetName(name).
			SetTenantType(enttenant.TenantType(in.Type)).
			SetNillableParentTenantID(parentID).
			SetMetadata(md).
			Save(ctx)
		if err != nil {
			return translate(err, "tenant")
		}
		created = t
		return nil
	})
	if err != nil {
		return nil, translate(err, "tenant")
	}
	return created, nil
}

// requireParentTenant refuses a tenant_admin whose effective tenant is not a
// live parent tenant: only those may create subsidiaries.
func requireParentTenant(ctx context.Context, tx *ent.Tx, id uuid.UUID) error {
	own, err := tx.Tenant.Query().Where(enttenant.ID(id), enttenant.DeletedAtIsNil()).Only(ctx)
	if ent.IsNotFound(err) || (err == nil && own.TenantType != enttenant.TenantTypeParent) {
		return errs.Forbidden("only the tenant_admin of a parent tenant can create subsidiaries")
	}
	if err != nil {
		return translate(err, "tenant")
	}
	return nil
}

// checkUniqueName returns Conflict when a live sibling other than self
// (organisations are siblings of each other) that the caller can see has
// name, ignoring case.
//
// The scope of name uniqueness is what the writer can see, so that a
// conflict never reveals a tenant (the answer is the same whether or not
// an invisible sibling exists): a platform_admin sees every tenant, so
// organisation names are unique among those a platform_admin creates or
// renames, and an organisation's tenant_admin sees all its subsidiaries,
// so the subsidiaries it creates or renames have unique names. An
// organisation's admin renaming it, and a subsidiary's admin renaming it,
// see no sibling: their names are not compared with any (two tenants may
// then share a name; ids identify tenants). There is no unique index:
// concurrent checks of one scope are serialised by a transaction-level
// advisory lock instead.
func checkUniqueName(ctx context.Context, tx *ent.Tx, name string, parentID *uuid.UUID, self uuid.UUID) error {
	scope := "mtdb.tenant_names:"
	if parentID != nil {
		scope += parentID.String()
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended($1, 0))`, scope); err != nil {
		return translate(err, "tenant")
	}
	q := tx.Tenant.Query().Where(sameLowerName(name), enttenant.DeletedAtIsNil(), enttenant.IDNEQ(self))
	if parentID == nil {
		q = q.Where(enttenant.ParentTenantIDIsNil())
	} else {
		q = q.Where(enttenant.ParentTenantID(*parentID))
	}
	exists, err := q.Exist(ctx)
	if err != nil {
		return translate(err, "tenant")
	}
	if exists {
		return errs.Conflict(duplicateName)
	}
	return nil
}

// checkName trims name and records a problem in bad when it is empty
// (and required) or longer than MaxNameLen characters.
func checkName(name string, required bool, bad map[string]string) (string, map[string]string) {
	name = strings.TrimSpace(name)
	switch n := utf8.RuneCountInString(name); {
	case n == 0 && required:
		bad["name"] = "must not be empty"
	case n > MaxNameLen:
		bad["name"] = "must be at most 200 characters"
	}
	return name, bad
}

func caller(ctx context.Context) (tenant.Context, error) {
	tc, ok := tenant.From(ctx)
	if !ok {
		return tc, tenant.ErrNoContext
	}
	return tc, nil
}

func now() time.Time { return time.Now().UTC() }

// sameLowerName matches lower(name) = lower($1), the expression of the
// name indexes, so that the check can use them (ent's NameEqualFold uses
// ILIKE, whose case folding can differ).
func sameLowerName(name string) predicate.Tenant {
	return predicate.Tenant(func(s *sql.Selector) {
		s.Where(sql.P(func(b *sql.Builder) {
			b.WriteString("lower(").Ident(s.C(enttenant.FieldName)).WriteString(") = lower(").Arg(name).WriteString(")")
		}))
	})
}
