package httpapi_test

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"testing"

	"github.com/google/uuid"
)

type userPage struct {
	Users      []userOut `json:"users"`
	TotalCount *int      `json:"total_count"`
	Limit      int       `json:"limit"`
	Offset     int       `json:"offset"`
	NextCursor *string   `json:"next_cursor"`
}

// pageAll follows next_cursor from path to the last page and returns the
// ids in order, checking every page's total.
func pageAll(t *testing.T, o *org, token, path string, wantTotal int, headers ...string) []uuid.UUID {
	t.Helper()
	var ids []uuid.UUID
	next := path
	for pages := 0; ; pages++ {
		if pages > 50 {
			t.Fatal("cursor pagination does not end")
		}
		var p userPage
		o.do(token, "GET", next, nil, headers...).want(t, 200, &p)
		if p.TotalCount == nil || *p.TotalCount != wantTotal {
			t.Fatalf("%s: total_count %v, want %d", next, p.TotalCount, wantTotal)
		}
		for _, u := range p.Users {
			ids = append(ids, u.ID)
		}
		if p.NextCursor == nil {
			return ids
		}
		if len(p.Users) != p.Limit {
			t.Fatalf("%s: a page of %d with a next_cursor (limit %d)", next, len(p.Users), p.Limit)
		}
		sep := "&"
		if u, _ := url.Parse(path); u.RawQuery == "" {
			sep = "?"
		}
		next = path + sep + "after=" + url.QueryEscape(*p.NextCursor)
	}
}

// TestListCursorPagination pages a parent's list (its own and its
// subsidiaries' users, merged per tenant) by cursor and by offset: the
// same rows in the same order, each once, with the maintained total.
func TestListCursorPagination(t *testing.T) {
	o := newOrg(t)
	created := 0
	for i := 0; i < 7; i++ {
		for _, tid := range []uuid.UUID{o.A.TenantID, o.A1.TenantID, o.A2.TenantID} {
			o.do(o.adminA, "POST", "/api/v1/users", fmt.Sprintf(`{"email":"u%d@x.example","display_name":"U"}`, i),
				"X-Tenant-ID", tid.String()).want(t, 201, nil)
			created++
		}
	}
	o.do(o.adminB, "POST", "/api/v1/users", `{"email":"b@x.example","display_name":"B"}`).want(t, 201, nil)
	var victim userOut
	o.do(o.adminA1, "POST", "/api/v1/users", `{"email":"gone@x.example","display_name":"G"}`).want(t, 201, &victim)
	o.do(o.adminA1, "DELETE", "/api/v1/users/"+victim.ID.String(), nil).want(t, 204, nil)

	byCursor := pageAll(t, o, o.adminA, "/api/v1/users?limit=4", created)
	var byOffset []uuid.UUID
	for off := 0; off < created; off += 5 {
		var p userPage
		o.do(o.adminA, "GET", fmt.Sprintf("/api/v1/users?limit=5&offset=%d", off), nil).want(t, 200, &p)
		for _, u := range p.Users {
			byOffset = append(byOffset, u.ID)
		}
	}
	if len(byCursor) != created || fmt.Sprint(byCursor) != fmt.Sprint(byOffset) {
		t.Fatalf("by cursor %d rows %v\nby offset %d rows %v", len(byCursor), byCursor, len(byOffset), byOffset)
	}
	seen := map[uuid.UUID]bool{}
	for _, id := range byCursor {
		if seen[id] {
			t.Fatalf("%v listed twice", id)
		}
		seen[id] = true
	}
	// A subsidiary sees its own rows only; its total counts them only.
	if got := pageAll(t, o, o.adminA1, "/api/v1/users?limit=3", 7); len(got) != 7 {
		t.Fatalf("A1 listed %d users, want 7", len(got))
	}
	// Filters: counted, not taken from the counters; cursors follow them.
	if got := pageAll(t, o, o.adminA, "/api/v1/users?limit=1&email=u3@x.example", 3); len(got) != 3 {
		t.Fatalf("filtered: %d users, want 3", len(got))
	}
	// count=none: no total.
	var p userPage
	o.do(o.adminA, "GET", "/api/v1/users?limit=2&count=none", nil).want(t, 200, &p)
	if p.TotalCount != nil || len(p.Users) != 2 || p.NextCursor == nil {
		t.Fatalf("count=none: %+v", p)
	}
	// A page past the end still carries the total.
	o.do(o.adminA, "GET", "/api/v1/users?offset=500", nil).want(t, 200, &p)
	if p.TotalCount == nil || *p.TotalCount != created || len(p.Users) != 0 || p.NextCursor != nil {
		t.Fatalf("past the end: %+v", p)
	}
}

// TestListCursorRefused: a cursor is only good for the list it came from.
// Another tenant's, another filter's, a tampered or a malformed one is 400,
// and none lets a caller past row-level security.
func TestListCursorRefused(t *testing.T) {
	o := newOrg(t)
	for i := 0; i < 3; i++ {
		o.do(o.adminA, "POST", "/api/v1/users", fmt.Sprintf(`{"email":"a%d@x.example","display_name":"A"}`, i)).want(t, 201, nil)
		o.do(o.adminB, "POST", "/api/v1/users", fmt.Sprintf(`{"email":"b%d@x.example","display_name":"B"}`, i)).want(t, 201, nil)
	}
	var p userPage
	o.do(o.adminA, "GET", "/api/v1/users?limit=1", nil).want(t, 200, &p)
	cur := *p.NextCursor
	raw, err := base64.RawURLEncoding.DecodeString(cur)
	if err != nil {
		t.Fatal(err)
	}
	raw[5] ^= 1 // another position, same signature
	tampered := base64.RawURLEncoding.EncodeToString(raw)

	for _, c := range []struct{ name, token, path string }{
		{"another tenant's cursor", o.adminB, "/api/v1/users?limit=1&after=" + cur},
		{"the same tenant, another filter", o.adminA, "/api/v1/users?limit=1&role=member&after=" + cur},
		{"another list", o.adminA, "/api/v1/projects?limit=1&after=" + cur},
		{"tampered", o.adminA, "/api/v1/users?limit=1&after=" + tampered},
		{"malformed", o.adminA, "/api/v1/users?limit=1&after=not-a-cursor"},
		{"with an offset", o.adminA, "/api/v1/users?limit=1&offset=1&after=" + cur},
		{"unknown count mode", o.adminA, "/api/v1/users?count=estimated"},
		{"limit over the maximum", o.adminA, "/api/v1/users?limit=1001"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o.do(c.token, "GET", c.path, nil).wantError(t, 400, "VALIDATION_ERROR", "")
		})
	}
	// The cursor itself works for its own list.
	o.do(o.adminA, "GET", "/api/v1/users?limit=1&after="+cur, nil).want(t, 200, &p)
	if len(p.Users) != 1 || p.Users[0].TenantID != o.A.TenantID {
		t.Fatalf("own cursor: %+v", p)
	}
}
