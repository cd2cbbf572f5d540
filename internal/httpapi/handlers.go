package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/internal/database"
)

// getHandler answers GET /<things>/:id with what get returns for the id,
// in its wire form. The same for every resource: the service decides what
// the caller may see.
func getHandler[T, J any](get func(context.Context, uuid.UUID) (T, error), wire func(T) J) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		v, err := get(c.Request().Context(), id)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, wire(v))
	}
}

// deleteHandler answers DELETE /<things>/:id with 204 once del succeeds.
func deleteHandler(del func(context.Context, uuid.UUID) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		if err := del(c.Request().Context(), id); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}

// listHandler answers GET /<things>: it reads the paging (listRequest),
// passes it to list, which reads the list's filters and calls the service,
// and writes the page as
// {"<key>": [...], "total_count", "limit", "offset", "next_cursor"}.
func listHandler[T, J any](cur cursors, key string, list func(echo.Context, database.Page) (database.Result[T], error), wire func(T) J) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := cur.listRequest(c)
		if err != nil {
			return err
		}
		res, err := list(c, p)
		if err != nil {
			return err
		}
		out := listBody[J]{key: key, items: make([]J, len(res.Items)), meta: listMeta{
			TotalCount: res.Total, Limit: p.Limit, Offset: p.Offset,
			NextCursor: cur.nextCursor(c, res.Next),
		}}
		for i, v := range res.Items {
			out.items[i] = wire(v)
		}
		// Written as the bytes it marshals to: through c.JSON the whole
		// page would be scanned and compacted a second time (encoding/json
		// does that to every Marshaler's output).
		body, err := out.MarshalJSON()
		if err != nil {
			return err
		}
		return c.JSONBlob(http.StatusOK, body)
	}
}

// listMeta is what every list answer carries besides its items. total_count
// is null with ?count=none; next_cursor is null on the last page.
type listMeta struct {
	TotalCount *int    `json:"total_count"`
	Limit      int     `json:"limit"`
	Offset     int     `json:"offset"`
	NextCursor *string `json:"next_cursor"`
}

// listBody is a list answer: the items under key, then listMeta.
type listBody[J any] struct {
	key   string
	items []J
	meta  listMeta
}

// MarshalJSON writes {"<key>": items, ...meta}.
func (b listBody[J]) MarshalJSON() ([]byte, error) {
	k, err := json.Marshal(b.key)
	if err != nil {
		return nil, err
	}
	items, err := json.Marshal(b.items)
	if err != nil {
		return nil, err
	}
	meta, err := json.Marshal(b.meta)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(k)+len(items)+len(meta)+3)
	out = append(append(append(append(out, '{'), k...), ':'), items...)
	return append(append(out, ','), meta[1:]...), nil
}

// wireTime is t as the API writes it: UTC, to the microsecond (what
// PostgreSQL stores), so that an answer and a later read agree.
func wireTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
