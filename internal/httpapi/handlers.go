package httpapi

import (
	"context"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
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
