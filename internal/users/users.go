// Package users owns the users of a tenant: creation in the caller's
// effective tenant, e-mail validation and normalisation, the role rules of
// who may change them, and the "still owns projects" rule on deletion.
// Isolation is PostgreSQL's business (row-level security on users): no
// query here names a tenant, and the ent hook stamps tenant_id on create.
package users

import (
	"context"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/ent/project"
	"github.com/mtdb/mtdb/ent/user"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/tenant"
)

// Length limits, in characters.
const (
	MaxEmailLen       = 320
	MaxDisplayNameLen = 200
)

// Service implements the user operations over an ent client whose driver
// applies the caller's tenant context (see internal/database).
type Service struct {
	client *ent.Client
}

// NewService returns a Service over client.
func NewService(client *ent.Client) *Service { return &Service{client: client} }

// CreateInput is a new user. Email is trimmed and lower-cased, DisplayName
// trimmed; an empty Role means member.
type CreateInput struct {
	Email       string
	DisplayName string
	Role        string
}

// UpdateInput changes a user; nil fields are left alone.
type UpdateInput struct {
	Email       *string
	DisplayName *string
	Role        *string
}

// ListParams filter and page List. Email matches exactly (after
// normalisation); Role is "", tenant_admin or member (Invalid
// otherwise).
type ListParams struct {
	Email string
	Role  string
	Page  database.Page
}

// Create creates a user in the caller's effective tenant and returns it.
// Errors: Forbidden (member), Invalid (fields; no tenant selected),
// Conflict (the e-mail is taken in this tenant).
func (s *Service) Create(ctx context.Context, in CreateInput) (*ent.User, error) {
	tc, err := tenant.Writer(ctx, "users")
	if err != nil {
		return nil, err
	}
	bad := map[string]string{}
	email := checkEmail(in.Email, bad)
	name := errs.Text(bad, "display_name", in.DisplayName, MaxDisplayNameLen)
	role := in.Role
	if role == "" {
		role = string(tenant.RoleMember)
	}
	tenant.HeldRole(role, bad)
	if err := errs.Fields(bad); err != nil {
		return nil, err
	}
	if err := tc.NeedTenant("users"); err != nil {
		return nil, err
	}
	u, err := s.client.User.Create().
		SetEmail(email).
		SetDisplayName(name).
		SetRole(user.Role(role)).
		Save(ctx)
	if err != nil {
		return nil, translate(err)
	}
	return u, nil
}

// Update changes the user id and returns its new state; an input that
// changes nothing returns the user as it is. Errors: Forbidden (member),
// NotFound, Invalid, Conflict (the e-mail is taken in the user's tenant).
func (s *Service) Update(ctx context.Context, id uuid.UUID, in UpdateInput) (*ent.User, error) {
	if _, err := tenant.Writer(ctx, "users"); err != nil {
		return nil, err
	}
	bad := map[string]string{}
	var email, name string
	if in.Email != nil {
		email = checkEmail(*in.Email, bad)
	}
	if in.DisplayName != nil {
		name = errs.Text(bad, "display_name", *in.DisplayName, MaxDisplayNameLen)
	}
	if in.Role != nil {
		tenant.HeldRole(*in.Role, bad)
	}
	if err := errs.Fields(bad); err != nil {
		return nil, err
	}
	if in.Email == nil && in.DisplayName == nil && in.Role == nil {
		return s.Get(ctx, id)
	}
	upd := s.client.User.UpdateOneID(id)
	if in.Email != nil {
		upd.SetEmail(email)
	}
	if in.DisplayName != nil {
		upd.SetDisplayName(name)
	}
	if in.Role != nil {
		upd.SetRole(user.Role(*in.Role))
	}
	u, err := upd.Save(ctx)
	if err != nil {
		return nil, translate(err)
	}
	return u, nil
}

// Delete deletes the user id. Errors: Forbidden (member), NotFound,
// Conflict (the user still owns projects).
func (s *Service) Delete(ctx context.Context, id uuid.UUID) error {
	if _, err := tenant.Writer(ctx, "users"); err != nil {
		return err
	}
	err := database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		u, err := tx.User.Query().Where(user.ID(id)).ForUpdate().Only(ctx)
		if err != nil {
			return err
		}
		owns, err := tx.Project.Query().Where(project.OwnerID(u.ID)).Exist(ctx)
		if err != nil {
			return err
		}
		if owns {
			return errs.Conflict("the user still owns projects; reassign or delete them first")
		}
		return tx.User.DeleteOne(u).Exec(ctx)
	})
	return translate(err)
}

// checkEmail normalises s (trimmed, lower-case) and records a problem in bad
// unless it is a bare address of at most MaxEmailLen characters.
func checkEmail(s string, bad map[string]string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "":
		bad["email"] = "must not be empty"
	case utf8.RuneCountInString(s) > MaxEmailLen:
		bad["email"] = "must be at most 320 characters"
	default:
		a, err := mail.ParseAddress(s)
		if err != nil || a.Name != "" || a.Address != s {
			bad["email"] = "must be a valid e-mail address"
		}
	}
	return s
}
