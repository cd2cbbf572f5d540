package schemagen

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// TestSchemaConstraints checks the constraints of the committed migrations
// as superuser, so that row-level security plays no part.
func TestSchemaConstraints(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	insertTenant := `INSERT INTO tenants (id, name, tenant_type, parent_tenant_id, metadata, created_at, updated_at)
		VALUES ($1, $2, $3, $4, '{}', now(), now())`
	insertUser := `INSERT INTO users (id, tenant_id, email, created_at, updated_at) VALUES ($1, $2, $3, now(), now())`
	var none *uuid.UUID
	for _, tc := range []struct {
		name      string
		stmt      string
		args      []any
		wantState string
	}{
		// Names are not unique in the database: a name conflicts only with a
		// sibling the writer can see, which the tenants service checks (a
		// unique index would reveal invisible tenants through its 409).
		{"parent name taken, other case", insertTenant, []any{uuid.New(), "ACME", "parent", none}, ""},
		{"subsidiary name taken under same parent", insertTenant, []any{uuid.New(), "acme EAST", "subsidiary", f.a}, ""},
		{"subsidiary name free under another parent", insertTenant, []any{uuid.New(), "Acme East", "subsidiary", f.b}, ""},
		{"subsidiary may share its parent's name", insertTenant, []any{uuid.New(), "Acme", "subsidiary", f.a}, ""},
		{"name not trimmed", insertTenant, []any{uuid.New(), " Gamma", "parent", none}, "23514"},
		{"empty name", insertTenant, []any{uuid.New(), "", "parent", none}, "23514"},
		{"name of 200 characters", insertTenant, []any{uuid.New(), strings.Repeat("é", 200), "parent", none}, ""},
		{"name of 201 characters", insertTenant, []any{uuid.New(), strings.Repeat("é", 201), "parent", none}, "22001"},
		{"parent with a parent", insertTenant, []any{uuid.New(), "Delta", "parent", f.a}, "23514"},
		{"subsidiary without parent", insertTenant, []any{uuid.New(), "Delta", "subsidiary", none}, "23514"},
		{"unknown tenant type", insertTenant, []any{uuid.New(), "Delta", "other", none}, "23514"},
		{"subsidiary of a subsidiary", insertTenant, []any{uuid.New(), "Delta", "subsidiary", f.a1}, "23514"},
		{"unknown parent", insertTenant, []any{uuid.New(), "Delta", "subsidiary", uuid.New()}, "23503"},
		{"delete a parent with subsidiaries", `DELETE FROM tenants WHERE id = $1`, []any{f.a}, "23503"},
		{"delete a tenant with users", `DELETE FROM tenants WHERE id = $1`, []any{f.b}, "23503"},
		{"e-mail taken in the tenant", insertUser, []any{uuid.New(), f.a, "a@example.com"}, "23505"},
		{"e-mail reused in another tenant", insertUser, []any{uuid.New(), f.b, "a@example.com"}, ""},
		{"e-mail not lower-case", insertUser, []any{uuid.New(), f.a, "X@example.com"}, "23514"},
		{"user of an unknown tenant", insertUser, []any{uuid.New(), uuid.New(), "z@example.com"}, "23503"},
		{"unknown role", `INSERT INTO users (id, tenant_id, email, role, created_at, updated_at)
			VALUES ($1, $2, 'r@example.com', 'root', now(), now())`, []any{uuid.New(), f.a}, "23514"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := f.db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			_, err = tx.ExecContext(ctx, tc.stmt, tc.args...)
			if got := sqlState(err); got != tc.wantState {
				t.Errorf("SQLSTATE %q (err %v), want %q", got, err, tc.wantState)
			}
		})
	}
	t.Run("user owning projects cannot be deleted", func(t *testing.T) {
		f.exec(t, `INSERT INTO projects (id, tenant_id, name, owner_id, created_at, updated_at)
			VALUES ($1, $2, 'p', $3, now(), now())`, uuid.New(), f.a, f.userA)
		_, err := f.db.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, f.userA)
		if got := sqlState(err); got != "23503" {
			t.Errorf("SQLSTATE %q (err %v), want 23503", got, err)
		}
	})
}
