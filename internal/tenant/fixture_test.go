package tenant_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/pgtest"
	"github.com/mtdb/mtdb/internal/tenant"
)

// world is a seeded database: three parent organisations, A (subsidiaries
// A1 and A2, and a deleted one, AD), B (subsidiary B1) and C (C1, C2). Every
// tenant has one user and one project owned by that user.
type world struct {
	pg    *pgtest.DB
	owner *pgxpool.Pool // superuser: setup and checking victims only
	app   *pgxpool.Pool // mtdb_tester: raw-SQL attacks after SET ROLE

	A, A1, A2, AD, B, B1, C, C1, C2 uuid.UUID
	user, project                   map[uuid.UUID]uuid.UUID // tenant -> its row
}

// visible is the set of tenants whose rows a transaction in t may see.
func (w *world) visible(t uuid.UUID) map[uuid.UUID]bool {
	switch t {
	case w.A:
		return map[uuid.UUID]bool{w.A: true, w.A1: true, w.A2: true} // not AD: deleted
	case w.B:
		return map[uuid.UUID]bool{w.B: true, w.B1: true}
	case w.C:
		return map[uuid.UUID]bool{w.C: true, w.C1: true, w.C2: true}
	}
	return map[uuid.UUID]bool{t: true}
}

// live returns the eight live tenants.
func (w *world) live() []uuid.UUID {
	return []uuid.UUID{w.A, w.A1, w.A2, w.B, w.B1, w.C, w.C1, w.C2}
}

func newWorld(t *testing.T) *world {
	t.Helper()
	pg := pgtest.New(t)
	w := &world{
		pg: pg, owner: pg.OwnerPool(t), app: pg.AppPool(t),
		A: uuid.New(), A1: uuid.New(), A2: uuid.New(), AD: uuid.New(), B: uuid.New(), B1: uuid.New(),
		C: uuid.New(), C1: uuid.New(), C2: uuid.New(),
		user: map[uuid.UUID]uuid.UUID{}, project: map[uuid.UUID]uuid.UUID{},
	}
	type tn struct {
		id, parent uuid.UUID
		name       string
		deleted    bool
	}
	for _, x := range []tn{
		{w.A, uuid.Nil, "A", false}, {w.B, uuid.Nil, "B", false}, {w.C, uuid.Nil, "C", false},
		{w.C1, w.C, "C1", false}, {w.C2, w.C, "C2", false},
		{w.A1, w.A, "A1", false}, {w.A2, w.A, "A2", false}, {w.AD, w.A, "AD", true}, {w.B1, w.B, "B1", false},
	} {
		typ, parent := "parent", any(nil)
		if x.parent != uuid.Nil {
			typ, parent = "subsidiary", x.parent
		}
		var deleted any
		if x.deleted {
			deleted = time.Now()
		}
		mustExec(t, w.owner, `INSERT INTO tenants (id, name, tenant_type, parent_tenant_id, metadata, created_at, updated_at, deleted_at)
			VALUES ($1, $2, $3, $4, '{}', now(), now(), $5)`, x.id, x.name, typ, parent, deleted)
		u, p := uuid.New(), uuid.New()
		mustExec(t, w.owner, `INSERT INTO users (id, tenant_id, email, display_name, role, created_at, updated_at)
			VALUES ($1, $2, $3, 'seed', 'member', now(), now())`, u, x.id, fmt.Sprintf("user@%s.example", strings.ToLower(x.name)))
		mustExec(t, w.owner, `INSERT INTO projects (id, tenant_id, name, description, owner_id, created_at, updated_at)
			VALUES ($1, $2, $3, 'seed', $4, now(), now())`, p, x.id, "project "+x.name, u)
		w.user[x.id], w.project[x.id] = u, p
	}
	return w
}

// openDB opens the API's database handle as the login role mtdb_tester.
func (w *world) openDB(t *testing.T, opts database.Options) *database.DB {
	t.Helper()
	opts.URL = w.pg.AppURL
	if opts.SettingsMode == "" {
		opts.SettingsMode = pgtest.SettingsMode()
	}
	db, err := database.Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("database.Open: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}

func mustExec(t *testing.T, p *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := p.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// in returns a context acting in tenant id with role.
func in(id uuid.UUID, role tenant.Role) context.Context {
	return tenant.With(context.Background(), tenant.Context{TenantID: id, UserID: "test", Role: role})
}

// ownerText reads one text column of one row as the superuser.
func (w *world) ownerText(t *testing.T, query string, args ...any) string {
	t.Helper()
	var s string
	if err := w.owner.QueryRow(context.Background(), query, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s
}
