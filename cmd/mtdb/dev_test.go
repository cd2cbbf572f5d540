package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"

	"github.com/mtdb/mtdb/internal/pgtest"
)

// TestDevListensOnLoopback: mtdb dev runs with the public development
// secret, so unless told otherwise it listens on 127.0.0.1 only and says so.
func TestDevListensOnLoopback(t *testing.T) {
	t.Chdir(t.TempDir())
	db := pgtest.New(t)
	env := map[string]string{"DATABASE_URL": db.OwnerURL, "SERVER_PORT": strconv.Itoa(freePort(t)), "LOG_LEVEL": "warn"}
	var stdout, stderr bytes.Buffer
	listening := make(chan net.Addr, 1)
	e := &cmdEnv{getenv: fakeEnv(env), stdout: &stdout, stderr: &stderr, version: "test",
		onListen: func(a net.Addr) { listening <- a }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.dispatch(ctx, "dev", nil) }()
	select {
	case a := <-listening:
		if ip := a.(*net.TCPAddr).IP; !ip.IsLoopback() {
			t.Errorf("mtdb dev listens on %s, want 127.0.0.1", a)
		}
	case err := <-done:
		t.Fatalf("dev returned before listening: %v; stderr %s", err, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatal("dev did not start")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("dev returned %v", err)
	}
	if !strings.Contains(stdout.String(), "Listening on 127.0.0.1 only") {
		t.Errorf("mtdb dev does not say where it listens:\n%s", stdout.String())
	}
}

// TestDevPrintsJWKSSignedTokens: with --sign-alg/--sign-key (and the JWKS
// holding the key's public half configured) mtdb dev prints tokens signed
// with that key, which the server it runs accepts; without a JWKS it
// refuses the flag at once rather than print tokens nobody accepts.
func TestDevPrintsJWKSSignedTokens(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "dev-key.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	jwk, err := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "dev-1", USE: jwkset.UseSig}})
	if err != nil {
		t.Fatal(err)
	}
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	}))
	defer idp.Close()
	args := []string{"--sign-alg", "ES256", "--sign-key", keyFile, "--sign-kid", "dev-1"}

	if code, _, stderr := runCmd(t, map[string]string{"LOG_LEVEL": "error"}, append([]string{"dev"}, args...)...); code != 2 || !strings.Contains(stderr, "JWT_JWKS_URL") {
		t.Fatalf("--sign-key without a JWKS: exit %d, %s", code, stderr)
	}

	db := pgtest.New(t)
	env := map[string]string{"DATABASE_URL": db.OwnerURL, "SERVER_PORT": strconv.Itoa(freePort(t)), "LOG_LEVEL": "warn",
		"JWT_JWKS_URL": idp.URL, "JWT_ALGORITHMS": "ES256"} // HS256 off: only the printed tokens' key works
	var stdout, stderr bytes.Buffer
	listening := make(chan net.Addr, 1)
	e := &cmdEnv{getenv: fakeEnv(env), stdout: &stdout, stderr: &stderr, version: "test",
		onListen: func(a net.Addr) { listening <- a }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.dispatch(ctx, "dev", args) }()
	var base string
	select {
	case a := <-listening:
		base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("dev returned before listening: %v; stderr %s", err, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatal("dev did not start")
	}
	var token string
	for _, line := range strings.Split(stdout.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "export PLATFORM_ADMIN_TOKEN="); ok {
			token = v
		}
	}
	if !strings.Contains(stdout.String(), "Tokens (valid 24h, ES256)") || token == "" {
		t.Fatalf("no ES256 tokens printed:\n%s", stdout.String())
	}
	req, _ := http.NewRequest("GET", base+"/api/v1/tenants", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("the printed token: %d %s", res.StatusCode, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("dev returned %v", err)
	}
}
