// Package projects owns the projects of a tenant: creation in the caller's
// effective tenant, the rule that a project's owner is a user of the same
// tenant, and the role rules of who may change them. Isolation is
// PostgreSQL's business (row-level security on projects and users, and the
// composite foreign key (tenant_id, owner_id) as the backstop).
package projects

import (
	"context"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/ent/user"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/tenant"
)

// Length limits, in characters.
const (
	MaxNameLen        = 200
	MaxDescriptionLen = 10000
)

// badOwner is the one answer for an owner that is not a user of the
// project's tenant, whether it exists elsewhere or not at all.
const badOwner = "must be the id of a user of the project's tenant"

// Service implements the project operations over an ent client whose
// driver applies the caller's tenant context (see internal/database).
type Service struct {
	client *ent.Client
}

// NewService returns a Service over client.
func NewService(client *ent.Client) *Service { return &Service{client: client} }

// CreateInput is a new project. Name is trimmed; OwnerID is required.
type CreateInput struct {
	Name        string
	Description string
	OwnerID     uuid.UUID
}

// UpdateInput changes a project; nil fields are left alone.
type UpdateInput struct {
	Name        *string
	Description *string
	OwnerID     *uuid.UUID
}

// ListParams filter and page List; a nil OwnerID lists every owner's.
type ListParams struct {
	OwnerID *uuid.UUID
	Page    database.Page
}

// Create creates a project in the caller's effective tenant and returns it.
// Errors: Forbidden (member), Invalid (fields, no tenant selected, an owner
// that is not a user of this tenant).
func (s *Service) Create(ctx context.Context, in CreateInput) (*ent.Project, error) {
	tc, err := tenant.Writer(ctx, "projects")
	if err != nil {
		return nil, err
	}
	bad := map[string]string{}
	name := errs.Text(bad, "name", in.Name, MaxNameLen)
	checkDescription(in.Description, bad)
	if in.OwnerID == uuid.Nil {
		bad["owner_id"] = "is required"
	}
	if err := errs.Fields(bad); err != nil {
		return nil, err
	}
	if err := tc.NeedTenant("projects"); err != nil {
		return nil, err
	}
	var out *ent.Project
	err = database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		if err := checkOwner(ctx, tx, in.OwnerID, tc.TenantID); err != nil {
			return err
		}
		p, err := tx.Project.Create().
			SetName(name).
			SetDescription(in.Description).
			SetOwnerID(in.OwnerID).
			Save(ctx)
		out = p
		return err
	})
	if err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// Update changes the project id and returns its new state; an input that
// changes nothing returns the project as it is. Errors: Forbidden (member),
// NotFound, Invalid (fields, an owner outside the project's tenant).
func (s *Service) Update(ctx context.Context, id uuid.UUID, in UpdateInput) (*ent.Project, error) {
	if _, err := tenant.Writer(ctx, "projects"); err != nil {
		return nil, err
	}
	bad := map[string]string{}
	var name string
	if in.Name != nil {
		name = errs.Text(bad, "name", *in.Name, MaxNameLen)
	}
	if in.Description != nil {
		checkDescription(*in.Description, bad)
	}
	if in.OwnerID != nil && *in.OwnerID == uuid.Nil {
		bad["owner_id"] = badOwner
	}
	if err := errs.Fields(bad); err != nil {
		return nil, err
	}
	var out *ent.Project
	err := database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		p, err := tx.Project.Get(ctx, id)
		if err != nil {
			return err
		}
		if in.Name == nil && in.Description == nil && in.OwnerID == nil {
			out = p
			return nil
		}
		upd := tx.Project.UpdateOne(p)
		if in.Name != nil {
			upd.SetName(name)
		}
		if in.Description != nil {
			upd.SetDescription(*in.Description)
		}
		if in.OwnerID != nil {
			if err := checkOwner(ctx, tx, *in.OwnerID, p.TenantID); err != nil {
				return err
			}
			upd.SetOwnerID(*in.OwnerID)
		}
		out, err = upd.Save(ctx)
		return err
	})
	if err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// Delete deletes the project id. Errors: Forbidden (member), NotFound.
func (s *Service) Delete(ctx context.Context, id uuid.UUID) error {
	if _, err := tenant.Writer(ctx, "projects"); err != nil {
		return err
	}
	return translate(s.client.Project.DeleteOneID(id).Exec(ctx))
}

// checkOwner returns Invalid on owner_id unless owner is a user of tenantID.
// The tenant condition is a business rule (a parent tenant sees its
// subsidiaries' users, yet a project's owner must be of the project's own
// tenant), not the isolation, which row-level security provides: a user of
// a tenant the caller cannot see does not exist here, exactly like a random
// id, and gets the same answer.
func checkOwner(ctx context.Context, tx *ent.Tx, owner, tenantID uuid.UUID) error {
	ok, err := tx.User.Query().Where(user.ID(owner), user.TenantID(tenantID)).Exist(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return errs.Invalid("owner_id", badOwner)
	}
	return nil
}

func checkDescription(s string, bad map[string]string) {
	if utf8.RuneCountInString(s) > MaxDescriptionLen {
		bad["description"] = "must be at most 10000 characters"
	}
}
