package auth

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/tenant"
)

func TestResolve(t *testing.T) {
	payload := decode(t, `{
		"tenant_id": "flat",
		"app_metadata": {"tenant_id": "nested", "role": "admin"},
		"https://example.com/claims": {"role": "url-nested"},
		"https://example.com/flat.role": "url-flat",
		"realm_access": {"roles": ["offline_access", "admin"]},
		"a.b": {"c": 1}, "a": {"b.c": 2},
		"Role": "case"
	}`)
	for _, tc := range []struct {
		path    string
		want    any
		found   bool
		wantErr error
	}{
		{"tenant_id", "flat", true, nil},
		{"app_metadata.tenant_id", "nested", true, nil},
		{"https://example.com/claims.role", "url-nested", true, nil},
		{"https://example.com/flat.role", "url-flat", true, nil},
		{"realm_access.roles", []any{"offline_access", "admin"}, true, nil},
		{"role", nil, false, nil}, // exact names: "Role" is not "role"
		{"app_metadata.missing", nil, false, nil},
		{"app_metadata.role.deeper", nil, false, nil},
		{"a.b.c", nil, false, errAmbiguous}, // {"a.b":{"c"}} and {"a":{"b.c"}}
		{"", nil, false, nil},
		{"app_metadata..role", nil, false, nil},
	} {
		got, found, err := Resolve(payload, tc.path)
		if !errors.Is(err, tc.wantErr) || found != tc.found || !jsonEqual(got, tc.want) {
			t.Errorf("Resolve(%q) = %v %v %v, want %v %v %v", tc.path, got, found, err, tc.want, tc.found, tc.wantErr)
		}
	}
}

func TestParseRoleMap(t *testing.T) {
	m, err := ParseRoleMap(" admin = tenant_admin , viewer=member,root=platform_admin ")
	if err != nil || len(m) != 3 || m["admin"] != tenant.RoleTenantAdmin || m["viewer"] != tenant.RoleMember {
		t.Fatalf("ParseRoleMap = %v, %v", m, err)
	}
	for _, bad := range []string{"admin", "admin=owner", "=member", "a=member,a=tenant_admin"} {
		if _, err := ParseRoleMap(bad); err == nil {
			t.Errorf("ParseRoleMap(%q) accepted", bad)
		}
	}
}

// TestRecipes verifies the README's recipes: each provider's token shape,
// with its claim paths and role map, through a JWKS on loopback (Supabase's
// legacy HS256 secret too).
func TestRecipes(t *testing.T) {
	p := newProvider(t)
	key := p.addKey("k", "RS256")
	ks := p.keySet(KeySetConfig{})
	if err := ks.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	tid := uuid.New()
	exp := time.Now().Add(time.Hour).Unix()
	for _, tc := range []struct {
		name    string
		mapping Mapping
		roleMap string
		payload string
		alg     string
		want    tenant.Role
		wantErr error
	}{
		{
			name:    "Auth0: namespaced custom claims from an Action",
			mapping: Mapping{TenantClaim: "https://mtdb.example.com/tenant_id", RoleClaim: "https://mtdb.example.com/roles"},
			roleMap: "mtdb-admin=tenant_admin,mtdb-member=member",
			payload: `{"sub":"auth0|42","https://mtdb.example.com/tenant_id":"` + tid.String() + `","https://mtdb.example.com/roles":["mtdb-member","mtdb-admin"]}`,
			want:    tenant.RoleTenantAdmin,
		},
		{
			name:    "Keycloak: realm roles and a user attribute mapper",
			mapping: Mapping{TenantClaim: "tenant_id", RoleClaim: "realm_access.roles"},
			roleMap: "admin=tenant_admin,user=member",
			payload: `{"sub":"f:1","tenant_id":"` + tid.String() + `","realm_access":{"roles":["offline_access","uma_authorization","default-roles-mtdb","user"]}}`,
			want:    tenant.RoleMember,
		},
		{
			name:    "Keycloak: no mapped realm role",
			mapping: Mapping{TenantClaim: "tenant_id", RoleClaim: "realm_access.roles"},
			roleMap: "admin=tenant_admin,user=member",
			payload: `{"sub":"f:1","tenant_id":"` + tid.String() + `","realm_access":{"roles":["offline_access"]}}`,
			wantErr: ErrRole,
		},
		{
			name:    "Supabase: app_metadata (JWKS)",
			mapping: Mapping{TenantClaim: "app_metadata.tenant_id", RoleClaim: "app_metadata.mtdb_role"},
			payload: `{"sub":"0b6c","role":"authenticated","app_metadata":{"provider":"email","tenant_id":"` + tid.String() + `","mtdb_role":"member"}}`,
			want:    tenant.RoleMember,
		},
		{
			name:    "Supabase: legacy HS256 secret",
			mapping: Mapping{TenantClaim: "app_metadata.tenant_id", RoleClaim: "app_metadata.mtdb_role"},
			payload: `{"sub":"0b6c","role":"authenticated","app_metadata":{"tenant_id":"` + tid.String() + `","mtdb_role":"tenant_admin"}}`,
			alg:     "HS256",
			want:    tenant.RoleTenantAdmin,
		},
		{
			name:    "Supabase: user_metadata cannot grant a role",
			mapping: Mapping{TenantClaim: "app_metadata.tenant_id", RoleClaim: "app_metadata.mtdb_role"},
			payload: `{"sub":"0b6c","app_metadata":{"tenant_id":"` + tid.String() + `"},"user_metadata":{"mtdb_role":"tenant_admin"}}`,
			wantErr: ErrRole,
		},
		{
			name:    "role claim as an array at the default path",
			roleMap: "admin=tenant_admin,viewer=member",
			payload: `{"sub":"x","tenant_id":"` + tid.String() + `","role":["viewer","admin"]}`,
			want:    tenant.RoleTenantAdmin,
		},
		{
			name:    "claims named role and tenant_id of other shapes beside the mapped paths",
			mapping: Mapping{TenantClaim: "org.id", RoleClaim: "org.role"},
			payload: `{"sub":"x","tenant_id":42,"role":{"name":"x"},"org":{"id":"` + tid.String() + `","role":"member"}}`,
			want:    tenant.RoleMember,
		},
		{
			name:    "role map set: an mtdb name that is not mapped is refused",
			mapping: Mapping{},
			roleMap: "admin=tenant_admin",
			payload: `{"sub":"x","tenant_id":"` + tid.String() + `","role":"tenant_admin"}`,
			wantErr: ErrRole,
		},
		{
			name:    "missing role",
			payload: `{"sub":"x","tenant_id":"` + tid.String() + `"}`,
			wantErr: ErrRole,
		},
		{
			name:    "case-folded claim name is not the claim",
			payload: `{"sub":"x","tenant_id":"` + tid.String() + `","ROLE":"tenant_admin"}`,
			wantErr: ErrRole,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.mapping
			var err error
			if m.RoleMap, err = ParseRoleMap(tc.roleMap); err != nil {
				t.Fatal(err)
			}
			v := jwksVerifier(t, ks, Config{Secret: testSecret, Mapping: m})
			claims := jwt.MapClaims{}
			if err := json.Unmarshal([]byte(tc.payload), &claims); err != nil {
				t.Fatal(err)
			}
			claims["exp"] = exp
			var tok string
			if tc.alg == "HS256" {
				tok = signed(t, "HS256", "", testSecret, claims)
			} else {
				tok = signed(t, "RS256", "k", key, claims)
			}
			c, err := v.Verify(tok)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || c.Role != tc.want || c.TenantID != tid || c.Subject == "" {
				t.Fatalf("claims %+v, %v; want role %s in %s", c, err, tc.want, tid)
			}
		})
	}
}

// FuzzResolve: Resolve never panics, returns a value only when found, and a
// path that is a key of the payload itself is found unless ambiguous.
func FuzzResolve(f *testing.F) {
	for _, s := range []struct{ payload, path string }{
		{`{"a":{"b":1}}`, "a.b"},
		{`{"a.b":{"c":1},"a":{"b.c":2}}`, "a.b.c"},
		{`{"https://x.example/claims":{"role":"admin"}}`, "https://x.example/claims.role"},
		{`{"realm_access":{"roles":["a","b"]}}`, "realm_access.roles"},
		{`{"":{"":1}}`, "."},
		{`{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":1}}}}}}}}}`, "a.a.a.a.a.a.a.a.a"},
		{`{"x":1}`, strings.Repeat("x.", 200) + "x"},
	} {
		f.Add(s.payload, s.path)
	}
	f.Fuzz(func(t *testing.T, payload, path string) {
		var m map[string]any
		if json.Unmarshal([]byte(payload), &m) != nil {
			return
		}
		v, found, err := Resolve(m, path)
		if err != nil && (found || v != nil) {
			t.Fatalf("error %v with a value", err)
		}
		if !found && v != nil {
			t.Fatalf("value %v without found", v)
		}
		if _, direct := m[path]; direct && CheckClaimPath(path) == nil && !found && !errors.Is(err, errAmbiguous) {
			t.Fatalf("key %q of the payload not found", path)
		}
	})
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
