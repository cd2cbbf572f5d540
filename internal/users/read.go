package users

import (
	"context"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/ent/predicate"
	"github.com/mtdb/mtdb/ent/user"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/tenant"
)

// Get returns the user id if the caller can see it. Errors: NotFound.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*ent.User, error) {
	if _, ok := tenant.From(ctx); !ok {
		return nil, tenant.ErrNoContext
	}
	u, err := s.client.User.Get(ctx, id)
	if err != nil {
		return nil, translate(err)
	}
	return u, nil
}

// List returns one page of the users the caller can see, ordered by
// created_at then id, and their total count. Errors: Invalid (Role).
func (s *Service) List(ctx context.Context, p ListParams) ([]*ent.User, int, error) {
	if _, ok := tenant.From(ctx); !ok {
		return nil, 0, tenant.ErrNoContext
	}
	if err := database.CheckPage(p.Limit, p.Offset); err != nil {
		return nil, 0, err
	}
	var preds []predicate.User
	if p.Email != "" {
		bad := map[string]string{}
		preds = append(preds, user.EmailEQ(checkEmail(p.Email, bad)))
	}
	if p.Role != "" {
		if p.Role != RoleTenantAdmin && p.Role != RoleMember {
			return nil, 0, errs.Invalid("role", "must be tenant_admin or member")
		}
		preds = append(preds, user.RoleEQ(user.Role(p.Role)))
	}
	var (
		items []*ent.User
		total int
	)
	err := database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		q := tx.User.Query().Where(preds...)
		var err error
		if total, err = q.Clone().Count(ctx); err != nil {
			return err
		}
		items, err = q.Order(user.ByCreatedAt(), user.ByID()).Limit(p.Limit).Offset(p.Offset).All(ctx)
		return err
	})
	if err != nil {
		return nil, 0, translate(err)
	}
	return items, total, nil
}
