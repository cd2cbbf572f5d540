package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/internal/apikeys"
	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/idempotency"
)

// apiKeyJSON is an API key on the wire: never its secret or digest.
type apiKeyJSON struct {
	ID         uuid.UUID  `json:"id"`
	TenantID   uuid.UUID  `json:"tenant_id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Role       string     `json:"role"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// createdAPIKeyJSON is the answer to POST /api-keys: the key, once.
type createdAPIKeyJSON struct {
	apiKeyJSON
	Key string `json:"key"`
}

type apiKeyList struct {
	APIKeys    []apiKeyJSON `json:"api_keys"`
	TotalCount int          `json:"total_count"`
	Limit      int          `json:"limit"`
	Offset     int          `json:"offset"`
}

// createAPIKeyRequest is the body of POST /api-keys.
type createAPIKeyRequest struct {
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	ExpiresAt *time.Time `json:"expires_at"`
}

func toAPIKeyJSON(k *ent.APIKey) apiKeyJSON {
	utc := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		u := wireTime(*t)
		return &u
	}
	return apiKeyJSON{
		ID: k.ID, TenantID: k.TenantID, Name: k.Name, Prefix: k.Prefix, Role: string(k.Role),
		CreatedBy: k.CreatedBy, CreatedAt: wireTime(k.CreatedAt),
		ExpiresAt: utc(k.ExpiresAt), LastUsedAt: utc(k.LastUsedAt),
	}
}

// noReplay refuses Idempotency-Key on the API key routes: a replay would
// have to store the created key's secret.
func noReplay(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, ok := c.Request().Header[http.CanonicalHeaderKey(idempotency.Header)]; ok {
			return errs.Invalid(idempotency.Header, "is not accepted on /api-keys: the answer holds a secret that is never stored")
		}
		return next(c)
	}
}

type apiKeyHandlers struct{ svc *apikeys.Service }

// registerAPIKeys adds the /api-keys routes to g, each behind mw.
func registerAPIKeys(g *echo.Group, svc *apikeys.Service, mw ...echo.MiddlewareFunc) {
	h := apiKeyHandlers{svc: svc}
	g.POST("/api-keys", h.create, mw...)
	g.GET("/api-keys", h.list, mw...)
	g.GET("/api-keys/:id", getHandler(svc.Get, toAPIKeyJSON), mw...)
	g.DELETE("/api-keys/:id", deleteHandler(svc.Delete), mw...)
}

func (h apiKeyHandlers) create(c echo.Context) error {
	var req createAPIKeyRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	k, err := h.svc.Create(c.Request().Context(), apikeys.CreateInput{Name: req.Name, Role: req.Role, ExpiresAt: req.ExpiresAt})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store") // the secret must not be cached
	return created(c, k.ID, createdAPIKeyJSON{apiKeyJSON: toAPIKeyJSON(k.APIKey), Key: k.Key})
}

func (h apiKeyHandlers) list(c echo.Context) error {
	pg, err := (cursors{}).listRequest(c) // knownQuery admits no ?after= here
	if err != nil {
		return err
	}
	items, total, err := h.svc.List(c.Request().Context(), pg.Limit, pg.Offset)
	if err != nil {
		return err
	}
	out := apiKeyList{APIKeys: make([]apiKeyJSON, 0, len(items)), TotalCount: total, Limit: pg.Limit, Offset: pg.Offset}
	for _, k := range items {
		out.APIKeys = append(out.APIKeys, toAPIKeyJSON(k))
	}
	return c.JSON(http.StatusOK, out)
}
