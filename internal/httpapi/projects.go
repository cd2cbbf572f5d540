package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/projects"
)

// projectJSON is a project on the wire (CONTRACT §6, Projects).
type projectJSON struct {
	ID          uuid.UUID `json:"id"`
	TenantID    uuid.UUID `json:"tenant_id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	OwnerID     uuid.UUID `json:"owner_id"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// createProjectRequest is the body of POST /projects.
type createProjectRequest struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	OwnerID     *string `json:"owner_id"`
}

// updateProjectRequest is the body of PATCH /projects/{id}; absent fields
// (and nulls) are left alone.
type updateProjectRequest struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	OwnerID     *string `json:"owner_id"`
}

func toProjectJSON(p *ent.Project) projectJSON {
	return projectJSON{
		ID:          p.ID,
		TenantID:    p.TenantID,
		Name:        p.Name,
		Description: p.Description,
		OwnerID:     p.OwnerID,
		CreatedAt:   wireTime(p.CreatedAt),
		UpdatedAt:   wireTime(p.UpdatedAt),
	}
}

type projectHandlers struct{ svc *projects.Service }

// registerProjects adds the /projects routes to g, each behind mw (routes.go).
func registerProjects(g *echo.Group, svc *projects.Service, cur cursors, mw ...echo.MiddlewareFunc) {
	h := projectHandlers{svc: svc}
	g.POST("/projects", h.create, mw...)
	g.GET("/projects", listHandler(cur, "projects", h.list, toProjectJSON), mw...)
	g.GET("/projects/:id", getHandler(svc.Get, toProjectJSON), mw...)
	g.PATCH("/projects/:id", h.update, mw...)
	g.DELETE("/projects/:id", deleteHandler(svc.Delete), mw...)
}

func (h projectHandlers) create(c echo.Context) error {
	var req createProjectRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	owner, err := optionalUUID("owner_id", req.OwnerID)
	if err != nil {
		return err
	}
	in := projects.CreateInput{Name: req.Name, Description: req.Description}
	if owner != nil {
		in.OwnerID = *owner
	}
	p, err := h.svc.Create(c.Request().Context(), in)
	if err != nil {
		return err
	}
	return created(c, p.ID, toProjectJSON(p))
}

func (h projectHandlers) list(c echo.Context, p database.Page) (database.Result[*ent.Project], error) {
	owner, err := queryUUID(c, "owner_id")
	if err != nil {
		return database.Result[*ent.Project]{}, err
	}
	return h.svc.List(c.Request().Context(), projects.ListParams{OwnerID: owner, Page: p})
}

func (h projectHandlers) update(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req updateProjectRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	owner, err := optionalUUID("owner_id", req.OwnerID)
	if err != nil {
		return err
	}
	p, err := h.svc.Update(c.Request().Context(), id, projects.UpdateInput{
		Name: req.Name, Description: req.Description, OwnerID: owner,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toProjectJSON(p))
}
