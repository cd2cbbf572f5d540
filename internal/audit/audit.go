// Package audit owns reading the audit trail: the events the generated
// triggers (internal/schemagen, mtdb_audit()) write into audit_events in the
// transaction of every change to tenants and the tenant-scoped tables. The
// app role may only read them, through row-level security (the current
// tenant and its subsidiaries; everything for a platform admin), so no
// query here names a tenant. Deleting old events is Prune, which runs as
// the migration owner.
package audit

import (
	"context"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/ent/auditevent"
	"github.com/mtdb/mtdb/ent/predicate"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/migrate"
	"github.com/mtdb/mtdb/internal/tenant"
)

// The operations an event records. A soft delete (deleted_at set) is
// OpDelete.
const (
	OpInsert = "insert"
	OpUpdate = "update"
	OpDelete = "delete"
)

// MaxActorLen bounds the actor filter, in characters.
const MaxActorLen = 256

// Service reads the audit trail over an ent client whose driver applies
// the caller's tenant context (see internal/database).
type Service struct {
	client *ent.Client
	tables []string
}

// NewService returns a Service over client.
func NewService(client *ent.Client) *Service {
	return &Service{client: client, tables: migrate.AuditedTables()}
}

// Filter selects and pages events. Every field is optional: Table is one
// of the audited tables, Operation one of OpInsert, OpUpdate, OpDelete;
// Since is inclusive and Until exclusive (Since < Until when both are
// set); After is a cursor from a previous page (Page.Next); Limit is
// 1–1000.
type Filter struct {
	Table     string
	RowID     *uuid.UUID
	Actor     string
	Operation string
	Since     *time.Time
	Until     *time.Time
	After     string
	Limit     int
}

// Page is one page of events, newest first. Next is the cursor of the
// following page, empty on the last one.
type Page struct {
	Events []*ent.AuditEvent
	Next   string
}

// List returns the events the caller may see that match f, newest first.
// Errors: Forbidden (member), Invalid (a filter or the page).
func (s *Service) List(ctx context.Context, f Filter) (Page, error) {
	tc, ok := tenant.From(ctx)
	if !ok {
		return Page{}, tenant.ErrNoContext
	}
	if tc.Role != tenant.RolePlatformAdmin && tc.Role != tenant.RoleTenantAdmin {
		return Page{}, errs.Forbidden("only a tenant_admin or platform_admin can read the audit trail")
	}
	preds, err := s.predicates(f)
	if err != nil {
		return Page{}, err
	}
	events, err := s.client.AuditEvent.Query().
		Where(preds...).
		Order(auditevent.ByID(entsql.OrderDesc())).
		Limit(f.Limit + 1).
		All(ctx)
	if err != nil {
		return Page{}, database.Translate(err, "audit event", nil)
	}
	p := Page{Events: events}
	if len(events) > f.Limit {
		p.Events = events[:f.Limit]
		p.Next = encodeCursor(p.Events[f.Limit-1].ID)
	}
	return p, nil
}

// predicates validates f and returns its conditions; every problem is
// reported at once.
func (s *Service) predicates(f Filter) ([]predicate.AuditEvent, error) {
	bad := map[string]string{}
	var preds []predicate.AuditEvent
	if !database.LimitOK(f.Limit) {
		bad["limit"] = database.LimitProblem
	}
	if f.Table != "" {
		if !slices.Contains(s.tables, f.Table) {
			bad["table"] = "must be one of " + strings.Join(s.tables, ", ")
		}
		preds = append(preds, auditevent.TableNameEQ(f.Table))
	}
	if f.RowID != nil {
		preds = append(preds, auditevent.RowIDEQ(*f.RowID))
	}
	if f.Actor != "" {
		if !utf8.ValidString(f.Actor) || utf8.RuneCountInString(f.Actor) > MaxActorLen {
			bad["actor"] = "must be valid UTF-8 of at most 256 characters"
		}
		preds = append(preds, auditevent.ActorSubEQ(f.Actor))
	}
	if f.Operation != "" {
		switch f.Operation {
		case OpInsert, OpUpdate, OpDelete:
			preds = append(preds, auditevent.OperationEQ(auditevent.Operation(f.Operation)))
		default:
			bad["operation"] = "must be one of insert, update, delete"
		}
	}
	if f.Since != nil {
		preds = append(preds, auditevent.OccurredAtGTE(*f.Since))
	}
	if f.Until != nil {
		preds = append(preds, auditevent.OccurredAtLT(*f.Until))
		if f.Since != nil && !f.Since.Before(*f.Until) {
			bad["until"] = "must be later than since"
		}
	}
	if f.After != "" {
		id, ok := decodeCursor(f.After)
		if !ok {
			bad["after"] = "must be a next_cursor of a previous page"
		}
		preds = append(preds, auditevent.IDLT(id))
	}
	if err := errs.Fields(bad); err != nil {
		return nil, err
	}
	return preds, nil
}

// The cursor is opaque to clients: the last event's id, base64url-encoded
// with a version prefix so its form can change.
const cursorPrefix = "a1:"

func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(id, 10)))
}

func decodeCursor(s string) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !strings.HasPrefix(string(b), cursorPrefix) {
		return 0, false
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(string(b), cursorPrefix), 10, 64)
	if err != nil || id <= 0 {
		return 0, false
	}
	return id, true
}
