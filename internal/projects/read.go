package projects

import (
	"context"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/ent/predicate"
	"github.com/mtdb/mtdb/ent/project"
	"github.com/mtdb/mtdb/internal/database"
)

// Get returns the project id if the caller can see it. Errors: NotFound.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*ent.Project, error) {
	p, err := s.client.Project.Get(ctx, id)
	if err != nil {
		return nil, translate(err)
	}
	return p, nil
}

// List returns one page of the projects the caller can see, ordered by
// created_at then id, with their total count unless p.Page.NoCount.
// Errors: Invalid (paging).
func (s *Service) List(ctx context.Context, p ListParams) (database.Result[*ent.Project], error) {
	var preds []predicate.Project
	if p.OwnerID != nil {
		preds = append(preds, project.OwnerID(*p.OwnerID))
	}
	res, err := database.ListPage(ctx, s.client, database.List[*ent.Project]{
		Table: project.Table, TenantScoped: true, Filtered: len(preds) > 0, Where: database.Where(preds),
		Query: func(ctx context.Context, mod func(*sql.Selector)) ([]*ent.Project, error) {
			q := s.client.Project.Query().Where(preds...).Order(project.ByCreatedAt(), project.ByID())
			q.Modify(mod)
			return q.All(ctx)
		},
		Count: func(ctx context.Context) (int, error) { return s.client.Project.Query().Where(preds...).Count(ctx) },
		Key:   func(p *ent.Project) database.Position { return database.Position{CreatedAt: p.CreatedAt, ID: p.ID} },
		Value: (*ent.Project).Value,
	}, p.Page)
	return res, translate(err)
}
