package projects

import (
	"context"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/ent/predicate"
	"github.com/mtdb/mtdb/ent/project"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/tenant"
)

// Get returns the project id if the caller can see it. Errors: NotFound.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*ent.Project, error) {
	if _, ok := tenant.From(ctx); !ok {
		return nil, tenant.ErrNoContext
	}
	p, err := s.client.Project.Get(ctx, id)
	if err != nil {
		return nil, translate(err)
	}
	return p, nil
}

// List returns one page of the projects the caller can see, ordered by
// created_at then id, and their total count.
func (s *Service) List(ctx context.Context, p ListParams) ([]*ent.Project, int, error) {
	if _, ok := tenant.From(ctx); !ok {
		return nil, 0, tenant.ErrNoContext
	}
	if err := database.CheckPage(p.Limit, p.Offset); err != nil {
		return nil, 0, err
	}
	var preds []predicate.Project
	if p.OwnerID != nil {
		preds = append(preds, project.OwnerID(*p.OwnerID))
	}
	var (
		items []*ent.Project
		total int
	)
	err := database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		q := tx.Project.Query().Where(preds...)
		var err error
		if total, err = q.Clone().Count(ctx); err != nil {
			return err
		}
		items, err = q.Order(project.ByCreatedAt(), project.ByID()).Limit(p.Limit).Offset(p.Offset).All(ctx)
		return err
	})
	if err != nil {
		return nil, 0, translate(err)
	}
	return items, total, nil
}
