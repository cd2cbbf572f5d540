package httpapi

import (
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"
)

// pageParams are the paging parameters of every list (cursor.go).
var pageParams = []string{"limit", "offset", "after", "count"}

// queryParams declares the query parameters each tenant endpoint accepts,
// by "METHOD route"; a route not named here accepts none. Anything else is
// refused with 400 naming the parameter (CONTRACT §6: parameters are
// validated), so a misspelt filter (?tenant_typ=parent) cannot silently
// widen an answer. Adding a parameter is one entry here.
var queryParams = map[string][]string{
	"GET /api/v1/tenants":  list("tenant_type"),
	"GET /api/v1/users":    list("email", "role"),
	"GET /api/v1/projects": list("owner_id"),
	// Audit events page by cursor (after), not offset.
	"GET /api/v1/audit-events": {"limit", "after", "table", "row_id", "actor", "operation", "since", "until"},
	// A page of subsidiaries; cursor parameters of lists do not apply.
	"GET /api/v1/tenants/:id/hierarchy": {"limit", "offset"},
	"GET /api/v1/api-keys":              {"limit", "offset", "count"}, // a tenant has few keys: no cursor
}

// list returns pageParams followed by a list's own filters.
func list(filters ...string) []string { return append(slices.Clone(pageParams), filters...) }

// knownQuery refuses a query parameter its route does not declare in
// queryParams, and one given more than once (which value counts would be
// a guess). HEAD is checked like GET.
func knownQuery(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		q := c.QueryParams()
		if len(q) == 0 {
			return next(c)
		}
		method := c.Request().Method
		if method == http.MethodHead {
			method = http.MethodGet
		}
		allowed := queryParams[method+" "+c.Path()]
		bad := map[string]string{}
		for name, values := range q {
			switch {
			case !slices.Contains(allowed, name):
				bad[name] = "is not a parameter of this endpoint" + accepted(allowed)
			case len(values) > 1:
				bad[name] = "must be given at most once"
			}
		}
		if len(bad) > 0 {
			return fieldsError(bad)
		}
		return next(c)
	}
}

// accepted names the parameters a route takes, for the error message.
func accepted(allowed []string) string {
	if len(allowed) == 0 {
		return " (it takes none)"
	}
	s := slices.Clone(allowed)
	sort.Strings(s)
	return " (it takes " + strings.Join(s, ", ") + ")"
}
