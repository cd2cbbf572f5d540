package apikeys_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/ent/apikey"
	"github.com/mtdb/mtdb/internal/apikeys"
	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/servicetest"
	"github.com/mtdb/mtdb/internal/tenant"
	"github.com/mtdb/mtdb/internal/tenants"
)

// world: organisation A (subsidiary A1) and organisation B.
type world struct {
	db                      *database.DB
	svc                     *apikeys.Service
	authn                   *apikeys.Authenticator
	A, A1, B                uuid.UUID
	adminA, adminA1, adminB context.Context
	memberA, platform       context.Context
}

func newWorld(t *testing.T) *world {
	t.Helper()
	d := servicetest.Open(t)
	ts := tenants.NewService(d.Ent)
	w := &world{db: d, svc: apikeys.NewService(d.Ent), authn: apikeys.NewAuthenticator(d.Ent, nil),
		platform: servicetest.As(tenant.RolePlatformAdmin, uuid.Nil)}
	mk := func(name, typ string, parent *uuid.UUID) uuid.UUID {
		tn, err := ts.Create(w.platform, tenants.CreateInput{Name: name, Type: typ, ParentID: parent})
		if err != nil {
			t.Fatal(err)
		}
		return tn.ID
	}
	w.A = mk("Acme", "parent", nil)
	w.A1 = mk("Acme Labs", "subsidiary", &w.A)
	w.B = mk("Globex", "parent", nil)
	w.adminA, w.adminA1, w.adminB = servicetest.As(tenant.RoleTenantAdmin, w.A), servicetest.As(tenant.RoleTenantAdmin, w.A1), servicetest.As(tenant.RoleTenantAdmin, w.B)
	w.memberA = servicetest.As(tenant.RoleMember, w.A)
	return w
}

func (w *world) create(t *testing.T, ctx context.Context, name, role string) *apikeys.Created {
	t.Helper()
	k, err := w.svc.Create(ctx, apikeys.CreateInput{Name: name, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestLifecycle(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	k := w.create(t, w.adminA, " ci job ", "member")
	if !strings.HasPrefix(k.Key, "mtdb_"+k.Prefix+"_") || len(k.Key) < 5+12+1+43 || k.Name != "ci job" {
		t.Fatalf("created %+v", k)
	}
	if len(k.KeyHash) != 32 || strings.Contains(string(k.KeyHash), k.Key) {
		t.Fatalf("stored hash %x", k.KeyHash)
	}
	c, err := w.authn.Authenticate(ctx, k.Key)
	if err != nil {
		t.Fatal(err)
	}
	want := auth.Claims{Subject: apikeys.Subject(k.ID), Role: tenant.RoleMember, TenantID: w.A}
	if c != want {
		t.Fatalf("claims %+v, want %+v", c, want)
	}

	// last_used_at: nothing written per request, one batch on flush.
	got, err := w.db.Ent.APIKey.Get(w.adminA, k.ID)
	if err != nil || got.LastUsedAt != nil {
		t.Fatalf("before flush: %v %v", got, err)
	}
	if err := w.authn.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err = w.db.Ent.APIKey.Get(w.adminA, k.ID)
	if err != nil || got.LastUsedAt == nil || time.Since(*got.LastUsedAt) > time.Minute {
		t.Fatalf("after flush: %+v %v", got, err)
	}

	list, total, err := w.svc.List(w.adminA, 50, 0)
	if err != nil || total != 1 || len(list) != 1 || list[0].ID != k.ID {
		t.Fatalf("list %v %d %v", list, total, err)
	}

	if err := w.svc.Delete(w.adminA, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.authn.Authenticate(ctx, k.Key); !errors.Is(err, auth.ErrAPIKeyInvalid) {
		t.Fatalf("revoked key: %v", err)
	}
	servicetest.WantKind(t, w.svc.Delete(w.adminA, k.ID), errs.KindNotFound)
}

func TestCreateRules(t *testing.T) {
	w := newWorld(t)
	past := time.Now().Add(-time.Minute)
	servicetest.WantKind(t, must(w.svc.Create(w.memberA, apikeys.CreateInput{Name: "x", Role: "member"})), errs.KindForbidden)
	servicetest.WantField(t, must(w.svc.Create(w.adminA, apikeys.CreateInput{Name: "x", Role: "platform_admin"})), "role")
	servicetest.WantField(t, must(w.svc.Create(w.adminA, apikeys.CreateInput{Name: "x", Role: "owner"})), "role")
	servicetest.WantField(t, must(w.svc.Create(w.adminA, apikeys.CreateInput{Name: "  ", Role: "member"})), "name")
	servicetest.WantField(t, must(w.svc.Create(w.adminA, apikeys.CreateInput{Name: "x", Role: "member", ExpiresAt: &past})), "expires_at")
	servicetest.WantField(t, must(w.svc.Create(w.platform, apikeys.CreateInput{Name: "x", Role: "member"})), "tenant")
	// A platform_admin names the tenant.
	k, err := w.svc.Create(servicetest.As(tenant.RolePlatformAdmin, w.B), apikeys.CreateInput{Name: "ops", Role: "tenant_admin"})
	if err != nil || k.TenantID != w.B || k.Role != apikey.RoleTenantAdmin {
		t.Fatalf("platform create: %+v %v", k, err)
	}
}

func must[T any](_ T, err error) error { return err }

func TestExpiredKey(t *testing.T) {
	w := newWorld(t)
	soon := time.Now().Add(300 * time.Millisecond)
	k, err := w.svc.Create(w.adminA, apikeys.CreateInput{Name: "short", Role: "member", ExpiresAt: &soon})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.authn.Authenticate(context.Background(), k.Key); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(soon) + 50*time.Millisecond)
	if _, err := w.authn.Authenticate(context.Background(), k.Key); !errors.Is(err, auth.ErrAPIKeyExpired) {
		t.Fatalf("expired key: %v", err)
	}
}

// TestIsolation attacks keys of another tenant through the restricted role:
// list, delete, and forging keys from what a list shows.
func TestIsolation(t *testing.T) {
	w := newWorld(t)
	victim := w.create(t, w.adminA, "victim", "tenant_admin")
	sub := w.create(t, w.adminA1, "subsidiary", "member")

	for name, ctx := range map[string]context.Context{"other organisation": w.adminB, "subsidiary of the victim": w.adminA1} {
		t.Run(name, func(t *testing.T) {
			servicetest.WantKind(t, w.svc.Delete(ctx, victim.ID), errs.KindNotFound)
			list, total, err := w.svc.List(ctx, 100, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range list {
				if k.ID == victim.ID {
					t.Fatalf("listed the victim's key (total %d)", total)
				}
			}
			// Raw ent through RLS: not even a count.
			n, err := w.db.Ent.APIKey.Query().Where(apikey.ID(victim.ID)).Count(ctx)
			if err != nil || n != 0 {
				t.Fatalf("victim visible: %d %v", n, err)
			}
		})
	}
	// The victim's key still works.
	if _, err := w.authn.Authenticate(context.Background(), victim.Key); err != nil {
		t.Fatal(err)
	}
	// Parent admin: names its subsidiary to manage its keys, not by default.
	list, _, err := w.svc.List(w.adminA, 100, 0)
	if err != nil || len(list) != 1 || list[0].ID != victim.ID {
		t.Fatalf("parent's own list: %v %v", list, err)
	}
	if err := w.svc.Delete(servicetest.As(tenant.RoleTenantAdmin, w.A1), sub.ID); err != nil {
		t.Fatal(err)
	}

	// Forgery: the right prefix with another secret, and the raw function
	// called with a prefix and a wrong digest, as mtdb_app.
	forged := victim.Key[:len(victim.Key)-4] + "AAAA"
	if forged == victim.Key {
		forged = victim.Key[:len(victim.Key)-4] + "BBBB"
	}
	if _, err := w.authn.Authenticate(context.Background(), forged); !errors.Is(err, auth.ErrAPIKeyInvalid) {
		t.Fatalf("forged key: %v", err)
	}
	rows := 0
	err = database.WithTx(tenant.With(context.Background(), tenant.Context{}), w.db.Ent, func(tx *ent.Tx) error {
		r, err := tx.QueryContext(context.Background(), `SELECT * FROM mtdb_api_key_authenticate($1, $2)`, victim.Prefix, make([]byte, 32))
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			rows++
		}
		return r.Err()
	})
	if err != nil || rows != 0 {
		t.Fatalf("function with a wrong digest: %d rows, %v", rows, err)
	}
	// mtdb_app cannot read the table without a tenant, nor call the
	// touch function to move another tenant's keys... it can only move
	// last_used_at forward, never read anything back.
	n, err := w.db.Ent.APIKey.Query().Count(tenant.With(context.Background(), tenant.Context{}))
	if err != nil || n != 0 {
		t.Fatalf("no tenant: %d keys visible, %v", n, err)
	}
}

func TestParse(t *testing.T) {
	w := newWorld(t)
	k := w.create(t, w.adminA, "p", "member")
	prefix, digest, err := apikeys.Parse(k.Key)
	if err != nil || prefix != k.Prefix || string(digest) != string(k.KeyHash) {
		t.Fatalf("Parse = %q %x %v", prefix, digest, err)
	}
	for _, bad := range []string{"", "mtdb_", k.Key + "x", k.Key[:len(k.Key)-1], strings.ToUpper(k.Key),
		strings.Replace(k.Key, "_", "-", 2), "mtdb_" + strings.Repeat("z", 12) + k.Key[17:]} {
		if _, _, err := apikeys.Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// TestLookupAttacks attacks the lookup design through the restricted role
// mtdb_app, with no tenant and as another organisation: the flag the
// SECURITY DEFINER functions raise for their owner's policies opens nothing
// to mtdb_app when mtdb_app raises it itself; the authenticate function
// answers nothing without the whole key, and leaves the flag down; the
// touch function cannot move a key's last_used_at into the future nor read
// anything back.
func TestLookupAttacks(t *testing.T) {
	w := newWorld(t)
	victim := w.create(t, w.adminA, "victim", "tenant_admin")
	other := w.create(t, w.adminB, "attacker", "tenant_admin")
	ctx := context.Background()

	type probe struct {
		sql  string
		args []any
	}
	scalar := func(tc tenant.Context, p ...probe) []string {
		t.Helper()
		var out []string
		err := database.WithTx(tenant.With(ctx, tc), w.db.Ent, func(tx *ent.Tx) error {
			for _, q := range p {
				rows, err := tx.QueryContext(ctx, q.sql, q.args...)
				if err != nil {
					return err
				}
				n := 0
				for rows.Next() {
					n++
					var s *string
					if err := rows.Scan(&s); err != nil {
						rows.Close()
						return err
					}
					if s != nil {
						out = append(out, *s)
					} else {
						out = append(out, "<null>")
					}
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return err
				}
				if n == 0 {
					out = append(out, "<no row>")
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	flagOn := probe{sql: `SELECT set_config('mtdb.api_key_definer', 'on', true)`}
	for name, tc := range map[string]tenant.Context{
		"no tenant":               {},
		"another organisation":    {TenantID: w.B, HomeTenantID: w.B, Role: tenant.RoleTenantAdmin, UserID: "mallory"},
		"platform without tenant": {Role: tenant.RolePlatformAdmin, UserID: "mallory"},
	} {
		t.Run(name, func(t *testing.T) {
			got := scalar(tc,
				probe{sql: `SELECT current_user::text`},
				flagOn,
				probe{sql: `SELECT count(*)::text FROM api_keys WHERE tenant_id = $1`, args: []any{w.A}},
				probe{sql: `WITH u AS (UPDATE api_keys SET name = 'owned' WHERE id = $1 RETURNING 1) SELECT count(*)::text FROM u`, args: []any{victim.ID}},
				probe{sql: `WITH d AS (DELETE FROM api_keys WHERE id = $1 RETURNING 1) SELECT count(*)::text FROM d`, args: []any{victim.ID}},
				probe{sql: `SELECT key_tenant_id::text FROM mtdb_api_key_authenticate($1, $2)`, args: []any{victim.Prefix, other.KeyHash}},
				probe{sql: `SELECT key_tenant_id::text FROM mtdb_api_key_authenticate($1, NULL)`, args: []any{victim.Prefix}},
				probe{sql: `SELECT key_tenant_id::text FROM mtdb_api_key_authenticate($1, $2)`, args: []any{other.Prefix, victim.KeyHash}},
				probe{sql: `SELECT current_setting('mtdb.api_key_definer', true)`},
			)
			want := []string{tenant.AppRole, "on", "0", "0", "0", "<no row>", "<no row>", "<no row>", ""}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("got  %q\nwant %q", got, want)
			}
			// The function's own flag is down again when it returns.
			got = scalar(tc,
				probe{sql: `SELECT key_role FROM mtdb_api_key_authenticate($1, $2)`, args: []any{victim.Prefix, victim.KeyHash}},
				probe{sql: `SELECT coalesce(current_setting('mtdb.api_key_definer', true), '')`},
				probe{sql: `SELECT count(*)::text FROM api_keys WHERE tenant_id = $1`, args: []any{w.A}},
			)
			if want := []string{"tenant_admin", "", "0"}; strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("after a lookup: got %q, want %q", got, want)
			}
			// touch: no future dates, nothing read back.
			got = scalar(tc, probe{sql: `SELECT mtdb_api_keys_touch($1::uuid[], $2::timestamptz[])::text`,
				args: []any{[]uuid.UUID{victim.ID}, []time.Time{time.Now().Add(24 * time.Hour)}}})
			if len(got) != 1 || got[0] != "" && got[0] != "<null>" {
				t.Fatalf("touch answered %q", got)
			}
		})
	}
	k, err := w.db.Ent.APIKey.Get(w.adminA, victim.ID)
	if err != nil {
		t.Fatal(err)
	}
	if k.Name != "victim" || k.LastUsedAt != nil {
		t.Fatalf("victim's key changed: name %q, last_used_at %v", k.Name, k.LastUsedAt)
	}
	if _, err := w.authn.Authenticate(ctx, victim.Key); err != nil {
		t.Fatal(err)
	}
}
