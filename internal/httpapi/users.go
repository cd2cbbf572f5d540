package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/users"
)

// userJSON is a user on the wire (CONTRACT §6, Users).
type userJSON struct {
	ID          uuid.UUID `json:"id"`
	TenantID    uuid.UUID `json:"tenant_id"`
	Email       string    `json:"email"`
	DisplayName string    `json:"display_name"`
	Role        string    `json:"role"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// createUserRequest is the body of POST /users; role defaults to member.
type createUserRequest struct {
	Email       string `json:"email"`
	DisplayName string `json:"display_name"`
	Role        string `json:"role"`
}

// updateUserRequest is the body of PATCH /users/{id}; absent fields (and
// nulls) are left alone.
type updateUserRequest struct {
	Email       *string `json:"email"`
	DisplayName *string `json:"display_name"`
	Role        *string `json:"role"`
}

func toUserJSON(u *ent.User) userJSON {
	return userJSON{
		ID:          u.ID,
		TenantID:    u.TenantID,
		Email:       u.Email,
		DisplayName: u.DisplayName,
		Role:        string(u.Role),
		CreatedAt:   wireTime(u.CreatedAt),
		UpdatedAt:   wireTime(u.UpdatedAt),
	}
}

type userHandlers struct{ svc *users.Service }

// registerUsers adds the /users routes to g, each behind mw (routes.go).
func registerUsers(g *echo.Group, svc *users.Service, cur cursors, mw ...echo.MiddlewareFunc) {
	h := userHandlers{svc: svc}
	g.POST("/users", h.create, mw...)
	g.GET("/users", listHandler(cur, "users", h.list, toUserJSON), mw...)
	g.GET("/users/:id", getHandler(svc.Get, toUserJSON), mw...)
	g.PATCH("/users/:id", h.update, mw...)
	g.DELETE("/users/:id", deleteHandler(svc.Delete), mw...)
}

func (h userHandlers) create(c echo.Context) error {
	var req createUserRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	u, err := h.svc.Create(c.Request().Context(), users.CreateInput{
		Email: req.Email, DisplayName: req.DisplayName, Role: req.Role,
	})
	if err != nil {
		return err
	}
	return created(c, u.ID, toUserJSON(u))
}

func (h userHandlers) list(c echo.Context, p database.Page) (database.Result[*ent.User], error) {
	return h.svc.List(c.Request().Context(), users.ListParams{
		Email: c.QueryParam("email"), Role: c.QueryParam("role"), Page: p,
	})
}

func (h userHandlers) update(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req updateUserRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	u, err := h.svc.Update(c.Request().Context(), id, users.UpdateInput{
		Email: req.Email, DisplayName: req.DisplayName, Role: req.Role,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toUserJSON(u))
}
