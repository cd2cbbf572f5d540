package httpapi_test

import (
	"net/http"
	"testing"
)

// FuzzListParameters sends arbitrary query strings (limit, offset, filters)
// to every list, and arbitrary ids to the item routes: 200, 400 or 404,
// never a panic or a 5xx.
func FuzzListParameters(f *testing.F) {
	target := newFuzzTarget(f)
	for _, s := range []struct {
		route    uint8
		query    string
		id       string
		asMember bool
	}{
		{0, "limit=2&offset=1", "", false},
		{0, "tenant_type=subsidiary", "", false},
		{0, "tenant_type=bogus&limit=0", "", true},
		{1, "email=owner@fuzz.example&role=member", target.userID, false},
		{1, "role=%00&limit=1001", "not-a-uuid", true},
		{2, "owner_id=" + target.userID, target.projectID, false},
		{2, "limit=99999999999999999999&offset=-1", "00000000-0000-0000-0000-000000000000", false},
		{2, "limit=%zz&offset=%", "../../tenants", false},
		{0, "limit=1&limit=2;offset=3", target.sub.String() + "/hierarchy", false},
		{1, "email=a%00b&role=", "", false},
		{2, "owner_id=%00&name=%00", "", false},
		{1, "email=" + "%C3%A9", "", false},
	} {
		f.Add(s.route, s.query, s.id, s.asMember)
	}
	lists := []string{"/api/v1/tenants", "/api/v1/users", "/api/v1/projects"}
	f.Fuzz(func(t *testing.T, route uint8, query, id string, asMember bool) {
		token := target.admin
		if asMember {
			token = target.member
		}
		path := lists[int(route)%len(lists)]
		if id != "" {
			path += "/" + id
		}
		req := newRequest(http.MethodGet, path, query, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		switch code := target.serve(t, req); code {
		case 200, 400, 404, 405:
		default:
			t.Fatalf("GET %s?%s: status %d", path, query, code)
		}
	})
}
