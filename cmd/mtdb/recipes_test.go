package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/config"
	"github.com/mtdb/mtdb/internal/tenant"
)

// publishedJWK is the JWK of key's public half as a provider publishes it,
// with extra members (alg, use, key_ops, ext, ...).
func publishedJWK(t *testing.T, key crypto.PublicKey, kid string, extra map[string]any) map[string]any {
	t.Helper()
	j, err := jwkset.NewJWKFromKey(key, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(j.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// readmeRecipe returns the settings (NAME=value, as written) of the
// README's recipe row for provider.
func readmeRecipe(t *testing.T, readme, provider string) map[string]string {
	t.Helper()
	setting := regexp.MustCompile("`(JWT_[A-Z_]+)=([^`]*)`")
	for _, line := range strings.Split(readme, "\n") {
		if !strings.HasPrefix(line, "| "+provider+" ") {
			continue
		}
		env := map[string]string{}
		for _, m := range setting.FindAllStringSubmatch(line, -1) {
			env[m[1]] = m[2]
		}
		return env
	}
	t.Fatalf("README has no recipe row for %s", provider)
	return nil
}

// TestREADMERecipes takes each identity provider recipe of the README
// exactly as written (the provider's host pointed at a loopback server that
// answers like the provider: its discovery path, its JWKS path and fields,
// including keys that must be skipped), loads it as `mtdb serve` does and
// verifies a token shaped like the provider's.
func TestREADMERecipes(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	encKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var base string
	mux := http.NewServeMux()
	serve := func(path string, doc func() any) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(doc())
		})
	}
	// Auth0: discovery at the issuer (with its trailing slash), RS256 keys with x5t-less JWKs.
	serve("/.well-known/openid-configuration", func() any {
		return map[string]string{"issuer": base + "/", "jwks_uri": base + "/.well-known/jwks.json"}
	})
	serve("/.well-known/jwks.json", func() any {
		return map[string]any{"keys": []any{publishedJWK(t, &rsaKey.PublicKey, "auth0-1", map[string]any{"use": "sig", "alg": "RS256"})}}
	})
	// Keycloak: a realm's discovery and certs, with its encryption key beside the signing key.
	serve("/realms/mtdb/.well-known/openid-configuration", func() any {
		return map[string]string{"issuer": base + "/realms/mtdb", "jwks_uri": base + "/realms/mtdb/protocol/openid-connect/certs"}
	})
	serve("/realms/mtdb/protocol/openid-connect/certs", func() any {
		return map[string]any{"keys": []any{
			publishedJWK(t, &encKey.PublicKey, "kc-enc", map[string]any{"use": "enc", "alg": "RSA-OAEP"}),
			publishedJWK(t, &rsaKey.PublicKey, "kc-sig", map[string]any{"use": "sig", "alg": "RS256"}),
		}}
	})
	// Supabase: ES256 keys as its JWKS publishes them (key_ops, ext).
	serve("/auth/v1/.well-known/jwks.json", func() any {
		return map[string]any{"keys": []any{publishedJWK(t, &ecKey.PublicKey, "sb-1", map[string]any{"use": "sig", "alg": "ES256", "key_ops": []string{"verify"}, "ext": true})}}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	base = srv.URL

	tid := uuid.New()
	supabaseSecret := "super-secret-jwt-token-with-at-least-32-characters-long"
	exp, iat := time.Now().Add(time.Hour).Unix(), time.Now().Unix()
	supabasePayload := func() jwt.MapClaims {
		return jwt.MapClaims{
			"iss": base + "/auth/v1", "aud": "authenticated", "sub": "0b6c0f6e-5d6b-4c52-9a55-1f0b2a3c4d5e", "exp": exp, "iat": iat,
			"email": "ann@example.com", "phone": "", "role": "authenticated", "aal": "aal1", "session_id": uuid.NewString(), "is_anonymous": false,
			"amr":           []any{map[string]any{"method": "password", "timestamp": iat}},
			"app_metadata":  map[string]any{"provider": "email", "providers": []string{"email"}, "tenant_id": tid.String(), "mtdb_role": "tenant_admin"},
			"user_metadata": map[string]any{"mtdb_role": "member"},
		}
	}
	for _, tc := range []struct {
		provider string
		hosts    []string // replaced by the loopback server
		method   jwt.SigningMethod
		key      any
		kid      string
		payload  jwt.MapClaims
		want     tenant.Role
	}{
		{
			provider: "Auth0", hosts: []string{"https://YOUR_TENANT.auth0.com"},
			method: jwt.SigningMethodRS256, key: rsaKey, kid: "auth0-1",
			payload: jwt.MapClaims{
				"iss": base + "/", "sub": "auth0|64f1c0ffee", "aud": []string{"https://api.mtdb.example.com", base + "/userinfo"},
				"iat": iat, "exp": exp, "azp": "k3yCl13nt", "scope": "openid profile",
				"https://mtdb.example.com/tenant_id": tid.String(), "https://mtdb.example.com/roles": []string{"mtdb-member", "mtdb-admin"},
			},
			want: tenant.RoleTenantAdmin,
		},
		{
			provider: "Keycloak", hosts: []string{"https://keycloak.example.com"},
			method: jwt.SigningMethodRS256, key: rsaKey, kid: "kc-sig",
			payload: jwt.MapClaims{
				"iss": base + "/realms/mtdb", "sub": "f:3b1e:ann", "aud": []string{"mtdb", "account"}, "typ": "Bearer", "azp": "mtdb-web",
				"iat": iat, "exp": exp, "tenant_id": tid.String(),
				"realm_access":    map[string]any{"roles": []string{"offline_access", "uma_authorization", "default-roles-mtdb", "user"}},
				"resource_access": map[string]any{"account": map[string]any{"roles": []string{"manage-account"}}},
			},
			want: tenant.RoleMember,
		},
		{
			provider: "Supabase", hosts: []string{"https://PROJECT.supabase.co"},
			method: jwt.SigningMethodES256, key: ecKey, kid: "sb-1", payload: supabasePayload(), want: tenant.RoleTenantAdmin,
		},
		{
			provider: "Supabase", hosts: []string{"https://PROJECT.supabase.co"},
			method: jwt.SigningMethodHS256, key: []byte(supabaseSecret), payload: supabasePayload(), want: tenant.RoleTenantAdmin,
		},
	} {
		t.Run(tc.provider+" "+tc.method.Alg(), func(t *testing.T) {
			t.Chdir(t.TempDir())
			env := map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": "postgres://app:pw@127.0.0.1:1/mtdb"}
			for name, value := range readmeRecipe(t, string(readme), tc.provider) {
				for _, h := range tc.hosts {
					value = strings.ReplaceAll(value, h, base)
				}
				if name == "JWT_SECRET_KEY" {
					value = supabaseSecret
				}
				env[name] = value
			}
			cfg, err := config.Load(config.Options{Getenv: fakeEnv(env)})
			if err != nil {
				t.Fatalf("the README's settings %v: %v", env, err)
			}
			v, keys, err := newVerifier(cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if keys == nil {
				t.Fatal("the recipe configures no JWKS")
			}
			if err := keys.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			sign := func() string {
				t.Helper()
				tok := jwt.NewWithClaims(tc.method, tc.payload)
				if tc.kid != "" {
					tok.Header["kid"] = tc.kid
				}
				s, err := tok.SignedString(tc.key)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			c, err := v.Verify(sign())
			if err != nil || c.Role != tc.want || c.TenantID != tid || c.Subject != tc.payload["sub"] {
				t.Fatalf("claims %+v, %v; want %s in %s as %v", c, err, tc.want, tid, tc.payload["sub"])
			}
			// The same token for another audience is refused.
			tc.payload["aud"] = "someone-else"
			if _, err := v.Verify(sign()); !strings.Contains(auth.PublicMessage(err), "audience") {
				t.Fatalf("another audience: %v", err)
			}
		})
	}
}

// TestSeveralJWKSURLs: JWT_JWKS_URL takes comma-separated URLs; the keys of
// all of them verify, and while one is down its keys already fetched keep
// working beside the other's.
func TestSeveralJWKSURLs(t *testing.T) {
	t.Chdir(t.TempDir())
	keyA, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyB, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var bDown atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/a/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{publishedJWK(t, &keyA.PublicKey, "a", nil)}})
	})
	mux.HandleFunc("/b/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		if bDown.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{publishedJWK(t, &keyB.PublicKey, "b", nil)}})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	env := map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": "postgres://app:pw@127.0.0.1:1/mtdb",
		"JWT_JWKS_URL": srv.URL + "/a/jwks.json, " + srv.URL + "/b/jwks.json", "JWT_ALGORITHMS": "ES256,ES384"}
	cfg, err := config.Load(config.Options{Getenv: fakeEnv(env)})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.JWT.JWKSURLs) != 2 {
		t.Fatalf("JWT_JWKS_URL read as %q", cfg.JWT.JWKSURLs)
	}
	v, keys, err := newVerifier(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	mint := func(m jwt.SigningMethod, key any, kid string) string {
		t.Helper()
		tok := jwt.NewWithClaims(m, jwt.MapClaims{"sub": kid, "role": "platform_admin", "exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	check := func(when string) {
		t.Helper()
		for kid, tok := range map[string]string{"a": mint(jwt.SigningMethodES256, keyA, "a"), "b": mint(jwt.SigningMethodES384, keyB, "b")} {
			if c, err := v.Verify(tok); err != nil || c.Subject != kid {
				t.Fatalf("%s: key %s: %+v %v", when, kid, c, err)
			}
		}
	}
	check("both up")
	bDown.Store(true)
	if err := keys.Refresh(context.Background()); err == nil {
		t.Fatal("refresh with one URL down reported no error")
	}
	check("one down")
	if ok, why := keys.Ready(); !ok {
		t.Fatalf("not ready with keys: %s", why)
	}
	// ES256 is accepted, RS256 is not: JWT_ALGORITHMS narrows.
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(mint(jwt.SigningMethodRS256, rsaKey, "a")); err == nil {
		t.Fatal("RS256 accepted outside JWT_ALGORITHMS")
	}
}
