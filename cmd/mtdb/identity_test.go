package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/mtdb/mtdb/internal/pgtest"
)

// TestServeWithIdentityProvider runs `mtdb serve` against a Keycloak-like
// provider on loopback that is down at startup: readiness names the
// missing keys and the provider's tokens get 503 while HS256 tokens work;
// once the provider is back its tokens work, an unmapped role is 403, and
// a production configuration without JWT_SECRET_KEY is accepted.
func TestServeWithIdentityProvider(t *testing.T) {
	t.Chdir(t.TempDir())
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "kc-1", USE: jwkset.UseSig}})
	if err != nil {
		t.Fatal(err)
	}
	var up atomic.Bool
	var issuer string
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "maintenance", http.StatusBadGateway)
			return
		}
		switch r.URL.Path {
		case "/realms/mtdb/.well-known/openid-configuration":
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": issuer, "jwks_uri": issuer + "/protocol/openid-connect/certs"})
		case "/realms/mtdb/protocol/openid-connect/certs":
			_ = json.NewEncoder(w).Encode(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
		default:
			http.NotFound(w, r)
		}
	}))
	defer idp.Close()
	issuer = idp.URL + "/realms/mtdb"

	db := pgtest.New(t)
	env := map[string]string{
		"ENVIRONMENT": "production", "DATABASE_URL": db.AppURL, "LOG_LEVEL": "error",
		"SERVER_HOST": "127.0.0.1", "SERVER_PORT": strconv.Itoa(freePort(t)), "SERVER_SHUTDOWN_GRACE": "0s",
		"JWT_OIDC_DISCOVERY": "true", "JWT_ISSUER": issuer, "JWT_JWKS_REFETCH_INTERVAL": "1s",
		"JWT_ROLE_CLAIM": "realm_access.roles", "JWT_ROLE_MAP": "platform=platform_admin,admin=tenant_admin,user=member",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut bytes.Buffer
	e := &cmdEnv{getenv: fakeEnv(env), stdout: &out, stderr: &errOut, version: "test"}
	listening := make(chan net.Addr, 1)
	e.onListen = func(a net.Addr) { listening <- a }
	done := make(chan error, 1)
	go func() { done <- e.dispatch(ctx, "serve", nil) }()
	var base string
	select {
	case a := <-listening:
		base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("serve returned %v; stderr %s", err, errOut.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	get := func(path, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	mint := func(roles ...string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
			"iss": issuer, "sub": "kc-user", "exp": time.Now().Add(time.Hour).Unix(),
			"realm_access": map[string]any{"roles": roles},
		})
		tok.Header["kid"] = "kc-1"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	code, body := get("/api/v1/health/readiness", "")
	if code != 503 || !strings.Contains(body, "no usable JWT signing key") {
		t.Fatalf("readiness while the provider is down: %d %s", code, body)
	}
	code, body = get("/api/v1/tenants", mint("offline_access", "platform"))
	if code != 503 || !strings.Contains(body, "SERVICE_UNAVAILABLE") {
		t.Fatalf("provider token while the provider is down: %d %s", code, body)
	}

	up.Store(true)
	time.Sleep(1100 * time.Millisecond) // past JWT_JWKS_REFETCH_INTERVAL: the next token refetches
	code, body = get("/api/v1/tenants", mint("offline_access", "platform"))
	if code != 200 {
		t.Fatalf("provider token after recovery: %d %s", code, body)
	}
	if code, body = get("/api/v1/health/readiness", ""); code != 200 {
		t.Fatalf("readiness after recovery: %d %s", code, body)
	}
	code, body = get("/api/v1/tenants", mint("offline_access"))
	if code != 403 || !strings.Contains(body, "JWT_ROLE_MAP") {
		t.Fatalf("unmapped role: %d %s", code, body)
	}
	code, body = get("/api/v1/users", mint("user")) // a member without a tenant claim
	if code != 401 {
		t.Fatalf("member without tenant: %d %s", code, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v; stderr %s", err, errOut.String())
	}
}
