package tenant_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/pgtest"
	"github.com/mtdb/mtdb/internal/tenant"
)

// Values a client controls (the token's subject, the X-Request-ID header)
// that would break out of a badly quoted literal.
var hostile = []string{
	`x'; RESET ROLE; SELECT '`,
	`x\'; RESET ROLE; --`,
	`'' OR ''=''`,
	"line\nbreak; SET LOCAL ROLE postgres",
	`$$; RESET ROLE; $$`,
	`ünïcödé ☃`,
}

func TestLocalSettings(t *testing.T) {
	tid, home := uuid.New(), uuid.New()
	set, enter, args, err := tenant.LocalSettings(tenant.Context{TenantID: tid, HomeTenantID: home, UserID: "o'brien",
		Role: tenant.RoleMember, RequestID: "req-1"}, 1500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	want := `SET LOCAL ROLE "mtdb_app"; SET LOCAL app.tenant_id = '` + tid.String() + `'; SET LOCAL app.user_id = 'o''brien'; ` +
		`SET LOCAL app.role = 'member'; SET LOCAL app.request_id = 'req-1'; SET LOCAL statement_timeout = 1500`
	if set != want {
		t.Fatalf("SET LOCAL statements\n got %s\nwant %s", set, want)
	}
	if !strings.Contains(enter, "mtdb_enter($1, $2, $3)") || len(args) != 3 || args[0] != tid.String() || args[1] != home.String() || args[2] != "member" {
		t.Fatalf("enter = %s %v", enter, args)
	}
	for _, bad := range []tenant.Context{
		{RequestID: "nul\x00byte"},
		{UserID: "bad \xff utf-8"},
		{Role: "member'; RESET ROLE; --"},
	} {
		if _, _, _, err := tenant.LocalSettings(bad, 0); err == nil {
			t.Errorf("LocalSettings(%+v) accepted", bad)
		}
	}
	if _, err := tenant.ParseSettingsMode("set_session"); err == nil {
		t.Error("unknown settings mode accepted")
	}
}

// TestSettingsModesAgree: a transaction sees exactly the same settings in
// both modes, hostile values included; in set_local mode they come from
// SET LOCAL and nothing survives the transaction on the connection.
func TestSettingsModesAgree(t *testing.T) {
	w := newWorld(t)
	read := func(db *database.DB, tc tenant.Context) []string {
		t.Helper()
		ctx := tenant.With(context.Background(), tc)
		var rows entsql.Rows
		if err := db.Driver.Query(ctx, `SELECT current_user::text, current_setting('app.tenant_id'), current_setting('app.user_id'),
			current_setting('app.role'), current_setting('app.request_id'), current_setting('transaction_read_only'),
			current_setting('statement_timeout'), current_setting('search_path'), current_setting('app.visible_tenants')`, []any{}, &rows); err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got := make([]string, 9)
		if !rows.Next() {
			t.Fatalf("no row: %v", rows.Err())
		}
		ptrs := make([]any, len(got))
		for i := range got {
			ptrs[i] = &got[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		return got
	}
	dbs := map[tenant.SettingsMode]*database.DB{}
	for _, m := range []tenant.SettingsMode{tenant.SetConfig, tenant.SetLocal} {
		dbs[m] = w.openDB(t, database.Options{SettingsMode: m, StatementTimeout: 2500 * time.Millisecond, MaxConns: 1})
	}
	for _, h := range hostile {
		tc := tenant.Context{TenantID: w.A, HomeTenantID: w.A, UserID: h, Role: tenant.RoleTenantAdmin, RequestID: h, ReadOnly: true}
		def, local := read(dbs[tenant.SetConfig], tc), read(dbs[tenant.SetLocal], tc)
		if strings.Join(def, "|") != strings.Join(local, "|") {
			t.Fatalf("value %q: set_config sees %q, set_local %q", h, def, local)
		}
		if local[0] != tenant.AppRole || local[2] != h || local[4] != h || local[5] != "on" || local[6] != "2500ms" {
			t.Fatalf("value %q: set_local sees %q", h, local)
		}
	}
	// Nothing is left on the (only) connection after the transaction.
	var user, tid string
	conn, err := dbs[tenant.SetLocal].SQL.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	err = conn.QueryRowContext(context.Background(), `SELECT current_user::text, coalesce(current_setting('app.tenant_id', true), '')`).Scan(&user, &tid)
	_ = conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	if user == tenant.AppRole || tid != "" {
		t.Fatalf("after a set_local transaction the connection runs as %s with tenant %q", user, tid)
	}
	// An unreachable tenant is refused the same way (ErrUnreachable).
	for m, db := range dbs {
		ctx := tenant.With(context.Background(), tenant.Context{TenantID: w.B1, HomeTenantID: w.A, Role: tenant.RoleTenantAdmin})
		if _, err := db.Ent.User.Query().All(ctx); !errors.Is(err, tenant.ErrUnreachable) {
			t.Errorf("%s: out-of-reach tenant: %v, want ErrUnreachable", m, err)
		}
	}
}

// TestSetLocalRoundTrips: set_local mode adds exactly one round trip to a
// transaction (BEGIN and the SET LOCAL statements in one simple-protocol
// message); the reach check, the statement and COMMIT stay one batch.
func TestSetLocalRoundTrips(t *testing.T) {
	pg := pgtest.New(t)
	cfg, err := pgxpool.ParseConfig(pg.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	rec := &tripRecorder{}
	cfg.ConnConfig.Tracer, cfg.MaxConns = rec, 1
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	db := sql.OpenDB(stdlib.GetPoolConnector(pool))
	db.SetMaxIdleConns(0)
	t.Cleanup(func() { _ = db.Close() })
	drv := tenant.NewDriver(db, tenant.DriverOptions{SettingsMode: tenant.SetLocal})
	tc := tenant.Context{TenantID: liveTenant(t, pg), Role: tenant.RoleMember, ReadOnly: true, RequestID: "r'1"}
	ctx := tenant.With(context.Background(), tc)
	set, enter, _, err := tenant.LocalSettings(tc, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := drv.Exec(ctx, "SELECT 1", []any{}, nil); err != nil { // prepares SELECT 1
		t.Fatal(err)
	}
	rec.take()
	if err := drv.Exec(ctx, "SELECT 1", []any{}, nil); err != nil {
		t.Fatal(err)
	}
	wantTrips(t, "implicit exec", rec.take(), [][]string{{"begin read only; " + set}, {enter, "SELECT 1", "commit"}})
}
