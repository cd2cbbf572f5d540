package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/MicahParks/jwkset"

	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/tenant"
)

// TestTokenWithPEMKey mints ES256 (PKCS#8) and RS256 (PKCS#1) tokens from PEM keys with a claim
// mapping, and verifies them as the server would: through a JWKS on loopback.
func TestTokenWithPEMKey(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	jwk, err := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "dev-1"}})
	if err != nil {
		t.Fatal(err)
	}
	// An RSA key as PKCS#1 PEM ("RSA PRIVATE KEY"), for RS256.
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaFile := filepath.Join(dir, "rsa.pem")
	if err := os.WriteFile(rsaFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), 0o600); err != nil {
		t.Fatal(err)
	}
	rsaJWK, err := jwkset.NewJWKFromKey(&rsaKey.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "dev-rsa"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal(), rsaJWK.Marshal()}})
	}))
	defer srv.Close()

	env := map[string]string{"JWT_TENANT_CLAIM": "app_metadata.tenant_id", "JWT_ROLE_CLAIM": "app_metadata.roles", "JWT_ROLE_MAP": "viewer=member,admin=tenant_admin"}
	tenantID := "7d9f4c1e-1111-4222-8333-944445555666"
	code, out, stderr := runCmd(t, env, "token", "--alg", "ES256", "--key", keyFile, "--kid", "dev-1", "--role", "member", "--tenant", tenantID)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	ks, err := auth.NewKeySet(auth.KeySetConfig{URLs: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	roleMap, _ := auth.ParseRoleMap(env["JWT_ROLE_MAP"])
	v, err := auth.NewVerifier(auth.Config{Keys: ks, Mapping: auth.Mapping{TenantClaim: "app_metadata.tenant_id", RoleClaim: "app_metadata.roles", RoleMap: roleMap}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(strings.TrimSpace(out))
	if err != nil || string(c.Role) != "member" || c.TenantID.String() != tenantID {
		t.Fatalf("token %q: claims %+v, err %v", out, c, err)
	}
	code, out, stderr = runCmd(t, env, "token", "--alg", "RS256", "--key", rsaFile, "--kid", "dev-rsa", "--role", "tenant_admin", "--tenant", tenantID, "--sub", "ops")
	if code != 0 {
		t.Fatalf("RS256: exit %d: %s", code, stderr)
	}
	c, err = v.Verify(strings.TrimSpace(out))
	if err != nil || c.Role != tenant.RoleTenantAdmin || c.TenantID.String() != tenantID || c.Subject != "ops" {
		t.Fatalf("RS256 token %q: claims %+v, err %v", out, c, err)
	}

	for name, args := range map[string][]string{
		"asymmetric without --key": {"token", "--alg", "RS256", "--role", "platform_admin"},
		"key of another type":      {"token", "--alg", "RS256", "--key", keyFile, "--role", "platform_admin"},
		"unknown alg":              {"token", "--alg", "none", "--key", keyFile, "--role", "platform_admin"},
		"--key with HS256":         {"token", "--key", keyFile, "--role", "platform_admin"},
	} {
		if code, _, stderr := runCmd(t, nil, args...); code == 0 {
			t.Errorf("%s: exit 0 (%s)", name, stderr)
		}
	}
}
