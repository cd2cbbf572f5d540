package users

import (
	"context"

	"entgo.io/ent/dialect/sql"
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
	u, err := s.client.User.Get(ctx, id)
	if err != nil {
		return nil, translate(err)
	}
	return u, nil
}

// List returns one page of the users the caller can see, ordered by
// created_at then id, with their total count unless p.Page.NoCount.
// Errors: Invalid (Role, paging).
func (s *Service) List(ctx context.Context, p ListParams) (database.Result[*ent.User], error) {
	var preds []predicate.User
	if p.Email != "" {
		bad := map[string]string{}
		preds = append(preds, user.EmailEQ(checkEmail(p.Email, bad)))
	}
	if p.Role != "" {
		bad := map[string]string{}
		if tenant.HeldRole(p.Role, bad); len(bad) > 0 {
			return database.Result[*ent.User]{}, errs.Fields(bad)
		}
		preds = append(preds, user.RoleEQ(user.Role(p.Role)))
	}
	res, err := database.ListPage(ctx, s.client, database.List[*ent.User]{
		Table: user.Table, TenantScoped: true, Filtered: len(preds) > 0, Where: database.Where(preds),
		Query: func(ctx context.Context, mod func(*sql.Selector)) ([]*ent.User, error) {
			q := s.client.User.Query().Where(preds...).Order(user.ByCreatedAt(), user.ByID())
			q.Modify(mod)
			return q.All(ctx)
		},
		Count: func(ctx context.Context) (int, error) { return s.client.User.Query().Where(preds...).Count(ctx) },
		Key:   func(u *ent.User) database.Position { return database.Position{CreatedAt: u.CreatedAt, ID: u.ID} },
		Value: (*ent.User).Value,
	}, p.Page)
	return res, translate(err)
}
