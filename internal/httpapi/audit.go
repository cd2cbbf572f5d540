package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/internal/audit"
	"github.com/mtdb/mtdb/internal/database"
)

// auditEventJSON is an audit event on the wire.
type auditEventJSON struct {
	ID         int64           `json:"id"`
	TenantID   uuid.UUID       `json:"tenant_id"`
	Table      string          `json:"table"`
	RowID      uuid.UUID       `json:"row_id"`
	Operation  string          `json:"operation"`
	Changes    json.RawMessage `json:"changes"`
	ActorSub   string          `json:"actor_sub"`
	ActorRole  string          `json:"actor_role"`
	RequestID  string          `json:"request_id"`
	OccurredAt time.Time       `json:"occurred_at"`
}

// auditEventList is one page of GET /audit-events, newest first;
// next_cursor is null on the last page.
type auditEventList struct {
	AuditEvents []auditEventJSON `json:"audit_events"`
	NextCursor  *string          `json:"next_cursor"`
	Limit       int              `json:"limit"`
}

func toAuditEventJSON(e *ent.AuditEvent) auditEventJSON {
	changes := e.Changes
	if len(changes) == 0 {
		changes = json.RawMessage("{}")
	}
	return auditEventJSON{
		ID: e.ID, TenantID: e.TenantID, Table: e.TableName, RowID: e.RowID,
		Operation: string(e.Operation), Changes: changes,
		ActorSub: e.ActorSub, ActorRole: e.ActorRole, RequestID: e.RequestID,
		OccurredAt: wireTime(e.OccurredAt),
	}
}

// registerAudit adds GET /audit-events to g behind mw.
func registerAudit(g *echo.Group, svc *audit.Service, mw ...echo.MiddlewareFunc) {
	g.GET("/audit-events", func(c echo.Context) error { return listAuditEvents(c, svc) }, mw...)
}

func listAuditEvents(c echo.Context, svc *audit.Service) error {
	if err := refuseNULQuery(c); err != nil { // filters reach SQL; PostgreSQL text refuses NUL
		return err
	}
	limit := database.DefaultLimit
	if s := c.QueryParam("limit"); s != "" {
		limit = atoiOr(s, 0) // the range is the service's to check
	}
	rowID, err := queryUUID(c, "row_id")
	if err != nil {
		return err
	}
	bad := map[string]string{}
	f := audit.Filter{
		Table: c.QueryParam("table"), RowID: rowID, Actor: c.QueryParam("actor"),
		Operation: c.QueryParam("operation"), After: c.QueryParam("after"), Limit: limit,
		Since: queryTime(c, "since", bad), Until: queryTime(c, "until", bad),
	}
	if len(bad) > 0 {
		return fieldsError(bad)
	}
	page, err := svc.List(c.Request().Context(), f)
	if err != nil {
		return err
	}
	out := auditEventList{AuditEvents: make([]auditEventJSON, 0, len(page.Events)), Limit: f.Limit}
	for _, e := range page.Events {
		out.AuditEvents = append(out.AuditEvents, toAuditEventJSON(e))
	}
	if page.Next != "" {
		out.NextCursor = &page.Next
	}
	return c.JSON(http.StatusOK, out)
}

// queryTime returns the RFC 3339 query parameter name, nil when absent; a
// malformed one is recorded in bad.
func queryTime(c echo.Context, name string, bad map[string]string) *time.Time {
	s := c.QueryParam(name)
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		bad[name] = "must be an RFC 3339 time (e.g. 2026-01-31T00:00:00Z)"
		return nil
	}
	return &t
}
