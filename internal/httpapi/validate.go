package httpapi

import (
	"errors"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/internal/errs"
)

// parseID is the one rule for the ids of a request, wherever they come
// from (X-Tenant-ID, the tenant_id cookie, the path, the query, the body):
// the canonical 36-character form, 8-4-4-4-12 hex digits in either case,
// as the OpenAPI UUID schema and the token's tenant_id claim (internal/auth)
// have it. uuid.Parse alone also reads {…}, urn:uuid: and 32 bare hex
// digits, so one id would have several spellings.
func parseID(s string) (uuid.UUID, error) {
	if len(s) != 36 {
		return uuid.Nil, errNotCanonical
	}
	return uuid.Parse(s)
}

var errNotCanonical = errors.New("not a canonical UUID (8-4-4-4-12 hex digits)")

// pathID parses the :id path parameter; a malformed one is Invalid (field
// "id"), never a lookup.
func pathID(c echo.Context) (uuid.UUID, error) {
	id, err := parseID(c.Param("id"))
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
	id, err := parseID(v)
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
