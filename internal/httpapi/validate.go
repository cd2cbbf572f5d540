package httpapi

import (
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/internal/errs"
)

// The paging bounds of every list (CONTRACT §6, Lists).
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// page is the paging of a list request.
type page struct {
	Limit  int
	Offset int
}

// listPage reads ?limit= (1–1000, default 100) and ?offset= (≥ 0, default 0).
// An empty value counts as absent; anything else out of range is Invalid.
func listPage(c echo.Context) (page, error) {
	if err := refuseNULQuery(c); err != nil { // filters reach SQL; PostgreSQL text refuses NUL
		return page{}, err
	}
	p := page{Limit: defaultLimit}
	bad := map[string]string{}
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			bad["limit"] = "must be an integer from 1 to 1000"
		}
		p.Limit = n
	}
	if s := c.QueryParam("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			bad["offset"] = "must be an integer of at least 0"
		}
		p.Offset = n
	}
	if len(bad) > 0 {
		return page{}, fieldsError(bad)
	}
	return p, nil
}

// pathID parses the :id path parameter; a malformed one is Invalid (field
// "id"), never a lookup.
func pathID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, errs.Invalid("id", "must be a UUID")
	}
	return id, nil
}

// queryEnum returns the query parameter name, which must be empty (absent)
// or one of allowed.
func queryEnum(c echo.Context, name string, allowed ...string) (string, error) {
	v := c.QueryParam(name)
	if v == "" {
		return "", nil
	}
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", errs.Invalid(name, "must be one of "+strings.Join(allowed, ", "))
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
