package httpapi

import (
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/internal/errs"
)

// pathID parses the :id path parameter; a malformed one is Invalid (field
// "id"), never a lookup.
func pathID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, errs.Invalid("id", "must be a UUID")
	}
	return id, nil
}

// queryUUID returns the query parameter name as a UUID, nil when absent.
func queryUUID(c echo.Context, name string) (*uuid.UUID, error) {
	v := c.QueryParam(name)
	if v == "" {
		return nil, nil
	}
	id, err := uuid.Parse(v)
	if err != nil {
		return nil, errs.Invalid(name, "must be a UUID")
	}
	return &id, nil
}

// fieldsError returns an Invalid error for one or more field problems.
func fieldsError(bad map[string]string) error {
	if len(bad) == 1 {
		for f, p := range bad {
			return errs.Invalid(f, p)
		}
	}
	return errs.InvalidFields("the request has invalid parameters", bad)
}
