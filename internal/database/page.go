package database

import (
	"context"
	"fmt"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/ent/rowcount"
	"github.com/mtdb/mtdb/internal/errs"
)

// The bounds of a list page (CONTRACT §6, Lists).
const (
	MinLimit     = 1
	MaxLimit     = 1000
	DefaultLimit = 100
)

// Page is one page of a list ordered by created_at, then id: at most Limit
// rows, after skipping Offset rows or, with After (keyset pagination), the
// rows up to and including that position.
type Page struct {
	Limit  int
	Offset int
	After  *Position
	// NoCount skips total_count (?count=none).
	NoCount bool
}

// Position is a row's place in the list order.
type Position struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// LimitProblem is what is wrong with a page limit outside MinLimit–MaxLimit.
const LimitProblem = "must be an integer from 1 to 1000"

// LimitOK reports whether limit is within MinLimit–MaxLimit.
func LimitOK(limit int) bool { return limit >= MinLimit && limit <= MaxLimit }

// Check refuses a limit outside 1–1000, a negative offset, and an offset
// together with a cursor, naming the parameter.
func (p Page) Check() error {
	if !LimitOK(p.Limit) {
		return errs.Invalid("limit", LimitProblem)
	}
	if p.Offset < 0 {
		return errs.Invalid("offset", "must be an integer of at least 0")
	}
	if p.After != nil && p.Offset > 0 {
		return errs.Invalid("offset", "cannot be combined with after (a cursor already says where the page starts)")
	}
	return nil
}

// Result is one page of a list.
type Result[T any] struct {
	Items []T
	// Total is the number of rows the list has in all (nil with NoCount).
	Total *int
	// Next is the position to continue after (nil on the last page).
	Next *Position
}

// List describes how a domain service lists one table: the generic part of
// every list (paging, keyset, the total) is ListPage's.
type List[T any] struct {
	// Table is the listed table.
	Table string
	// TenantScoped: the table has tenant_id and row-level security on it,
	// and its (tenant_id, created_at, id) index. The page is then read as
	// one ordered index range per visible tenant, merged: a subsidiary's
	// page plans as an equality on tenant_id, and a parent's grows with its
	// number of subsidiaries, not with its rows.
	TenantScoped bool
	// Filtered: Where narrows the list, so the total must be counted; an
	// unfiltered tenant-scoped list's total is the sum of its maintained
	// row counts (row_counts) instead.
	Filtered bool
	// Where applies the list's filters to a selector of Table (ent
	// predicates are such functions).
	Where []func(*entsql.Selector)
	// Query runs the ent query of the list — filters applied, ordered by
	// created_at then id — with mod added as its last modifier.
	Query func(ctx context.Context, mod func(*entsql.Selector)) ([]T, error)
	// Count counts the rows of the list (a page past the end carries no
	// total).
	Count func(ctx context.Context) (int, error)
	// Key returns an item's position; Value its dynamically selected values
	// (ent's Value method).
	Key   func(T) Position
	Value func(T, string) (ent.Value, error)
}

// totalColumn carries the total in the page's rows.
const totalColumn = "mtdb_total_count"

// ListPage returns page p of l, in one statement (one round trip with the
// tenant driver: BEGIN, settings, the page with its total, COMMIT). Only a
// page past the end with a total requested takes a second statement.
// Errors: Invalid (page bounds), and those of the query, untranslated.
func ListPage[T any](ctx context.Context, client *ent.Client, l List[T], p Page) (Result[T], error) {
	if err := p.Check(); err != nil {
		return Result[T]{}, err
	}
	items, err := l.Query(ctx, l.modifier(p))
	if err != nil {
		return Result[T]{}, err
	}
	var res Result[T]
	if len(items) > p.Limit {
		items = items[:p.Limit]
		next := l.Key(items[len(items)-1])
		res.Next = &next
	}
	res.Items = items
	if p.NoCount {
		return res, nil
	}
	var total int
	if len(items) > 0 {
		v, err := l.Value(items[0], totalColumn)
		if err != nil {
			return Result[T]{}, err
		}
		n, ok := v.(int64)
		if !ok {
			return Result[T]{}, fmt.Errorf("database: total count of %s is %T", l.Table, v)
		}
		total = int(n)
	} else if total, err = l.count(ctx, client); err != nil {
		return Result[T]{}, err
	}
	res.Total = &total
	return res, nil
}

// modifier returns the ent modifier that turns the list query into page p.
func (l List[T]) modifier(p Page) func(*entsql.Selector) {
	return func(s *entsql.Selector) {
		if p.After != nil {
			s.Where(entsql.CompositeGT(s.Columns("created_at", "id"), p.After.CreatedAt, p.After.ID))
		}
		s.Limit(p.Limit + 1) // one more: is there a next page?
		if l.TenantScoped {
			perTenant(s, p.Offset+p.Limit+1)
		}
		if p.Offset > 0 {
			s.Offset(p.Offset)
		}
		if !p.NoCount {
			s.AppendSelectExprAs(l.totalExpr(), totalColumn)
		}
	}
}

// perTenant rewrites s (SELECT … FROM t WHERE … ORDER BY … LIMIT n) into a
// merge of one ordered range per visible tenant:
//
//	SELECT … FROM unnest(mtdb_visible_tenants()) AS v(tid)
//	  CROSS JOIN LATERAL (SELECT … FROM t WHERE t.tenant_id = v.tid AND …
//	                      ORDER BY … LIMIT rows) AS t
//	ORDER BY … LIMIT n
//
// Row-level security still applies to t inside; the tenant_id equality
// only tells the planner which index range to read.
func perTenant(s *entsql.Selector, rows int) {
	table := s.TableName()
	inner := s.Clone()
	inner.Where(entsql.ExprP(fmt.Sprintf(`%s = "v"."tid"`, inner.C("tenant_id"))))
	inner.Limit(rows)
	s.SetP(nil)
	s.FromExpr(entsql.ExprFunc(func(b *entsql.Builder) {
		b.WriteString(`unnest(mtdb_visible_tenants()) AS "v"("tid") CROSS JOIN LATERAL `)
		b.Wrap(func(b *entsql.Builder) { b.Join(inner) })
		b.WriteString(" AS ").Ident(table)
	}))
}

// totalExpr is the scalar subquery of the list's total: the maintained row
// counts of the visible tenants for an unfiltered tenant-scoped list, a
// count of the matching rows otherwise. Row-level security applies to both.
func (l List[T]) totalExpr() entsql.Querier {
	if l.TenantScoped && !l.Filtered {
		return entsql.Expr(`(SELECT COALESCE(sum("rows"), 0)::bigint FROM "row_counts" WHERE "table_name" = $1)`, l.Table)
	}
	c := entsql.Select(entsql.Count("*")).From(entsql.Table(l.Table))
	for _, w := range l.Where {
		w(c)
	}
	return entsql.ExprFunc(func(b *entsql.Builder) {
		b.Wrap(func(b *entsql.Builder) { b.Join(c) })
	})
}

// count is the total of a page that has no row to carry it.
func (l List[T]) count(ctx context.Context, client *ent.Client) (int, error) {
	if !l.TenantScoped || l.Filtered {
		return l.Count(ctx)
	}
	return client.RowCount.Query().Where(rowcount.TableName(l.Table)).Modify(func(s *entsql.Selector) {
		s.SelectExpr(entsql.Expr(`COALESCE(sum("rows"), 0)::bigint`))
	}).Int(ctx)
}

// Where returns ent predicates (each a func(*sql.Selector)) as List.Where.
func Where[P ~func(*entsql.Selector)](preds []P) []func(*entsql.Selector) {
	out := make([]func(*entsql.Selector), len(preds))
	for i, p := range preds {
		out[i] = p
	}
	return out
}
