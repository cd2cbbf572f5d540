package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/tenants"
)

// tenantJSON is a tenant on the wire (CONTRACT §6, Tenants).
type tenantJSON struct {
	TenantID       uuid.UUID      `json:"tenant_id"`
	Name           string         `json:"name"`
	ParentTenantID *uuid.UUID     `json:"parent_tenant_id"`
	TenantType     string         `json:"tenant_type"`
	Metadata       map[string]any `json:"metadata"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
}

// createTenantRequest is the body of POST /tenants.
type createTenantRequest struct {
	Name           string         `json:"name"`
	TenantType     string         `json:"tenant_type"`
	ParentTenantID *string        `json:"parent_tenant_id"`
	Metadata       map[string]any `json:"metadata"`
}

// updateTenantRequest is the body of PUT and PATCH /tenants/{id}. Both
// methods take the same partial body: absent fields are left alone.
// tenant_type and parent_tenant_id are accepted only to refuse a change
// of them with a clear message (sending the current value is harmless).
type updateTenantRequest struct {
	Name           *string         `json:"name"`
	Metadata       map[string]any  `json:"metadata"`
	TenantType     json.RawMessage `json:"tenant_type"`
	ParentTenantID json.RawMessage `json:"parent_tenant_id"`
}

// toTenantJSON converts t to its wire form. Timestamps are cut to the
// microsecond, as pgx does when it stores them, so that the answer to a
// create (which carries the Go-side default) equals every later read.
func toTenantJSON(t *ent.Tenant) tenantJSON {
	md := t.Metadata
	if md == nil {
		md = map[string]any{}
	}
	return tenantJSON{
		TenantID:       t.ID,
		Name:           t.Name,
		ParentTenantID: t.ParentTenantID,
		TenantType:     string(t.TenantType),
		Metadata:       md,
		CreatedAt:      wireTime(t.CreatedAt),
		UpdatedAt:      wireTime(t.UpdatedAt),
	}
}

type tenantHandlers struct{ svc *tenants.Service }

// registerTenants adds the /tenants routes to g, each behind mw (routes.go).
func registerTenants(g *echo.Group, svc *tenants.Service, cur cursors, mw ...echo.MiddlewareFunc) {
	h := tenantHandlers{svc: svc}
	g.POST("/tenants", h.create, mw...)
	g.GET("/tenants", listHandler(cur, "tenants", h.list, toTenantJSON), mw...)
	g.GET("/tenants/:id", getHandler(svc.Get, toTenantJSON), mw...)
	g.PUT("/tenants/:id", h.update, mw...)
	g.PATCH("/tenants/:id", h.update, mw...)
	g.DELETE("/tenants/:id", deleteHandler(svc.Delete), mw...)
	g.GET("/tenants/:id/hierarchy", h.hierarchy, mw...)
}

func (h tenantHandlers) create(c echo.Context) error {
	var req createTenantRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	parent, err := optionalUUID("parent_tenant_id", req.ParentTenantID)
	if err != nil {
		return err
	}
	t, err := h.svc.Create(c.Request().Context(), tenants.CreateInput{
		Name: req.Name, Type: req.TenantType, ParentID: parent, Metadata: req.Metadata,
	})
	if err != nil {
		return err
	}
	return created(c, t.ID, toTenantJSON(t))
}

func (h tenantHandlers) list(c echo.Context, p database.Page) (database.Result[*ent.Tenant], error) {
	return h.svc.List(c.Request().Context(), tenants.ListParams{Type: c.QueryParam("tenant_type"), Page: p})
}

func (h tenantHandlers) update(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req updateTenantRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	in := tenants.UpdateInput{Name: req.Name, Metadata: req.Metadata}
	if in.TenantType, err = presentString("tenant_type", req.TenantType); err != nil {
		return err
	}
	if len(req.ParentTenantID) > 0 {
		in.ParentTenantIDSet = true
		s, err := presentString("parent_tenant_id", req.ParentTenantID)
		if err != nil {
			return err
		}
		if in.ParentTenantID, err = optionalUUID("parent_tenant_id", s); err != nil {
			return err
		}
	}
	t, err := h.svc.Update(c.Request().Context(), id, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toTenantJSON(t))
}

func (h tenantHandlers) hierarchy(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	p, err := (cursors{}).listRequest(c) // knownQuery admits only limit and offset here
	if err != nil {
		return err
	}
	if c.QueryParam("limit") == "" {
		p.Limit = database.MaxLimit // one page holds every subsidiary of all but the largest organisations
	}
	items, more, err := h.svc.Hierarchy(c.Request().Context(), id, p)
	if err != nil {
		return err
	}
	if more {
		next := fmt.Sprintf("%s?limit=%d&offset=%d", c.Request().URL.Path, p.Limit, p.Offset+p.Limit)
		c.Response().Header().Set("Link", "<"+next+`>; rel="next"`)
	}
	out := make([]tenantJSON, 0, len(items))
	for _, t := range items {
		out = append(out, toTenantJSON(t))
	}
	return c.JSON(http.StatusOK, out)
}

// created answers 201 with body and a Location naming the new resource
// under the collection path of the route.
func created(c echo.Context, id uuid.UUID, body any) error {
	c.Response().Header().Set(echo.HeaderLocation, strings.TrimSuffix(c.Path(), "/")+"/"+id.String())
	return c.JSON(http.StatusCreated, body)
}
