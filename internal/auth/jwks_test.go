package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/tenant"
)

// provider is an identity provider on loopback: a JWKS document, an OpenID
// configuration, key rotation, outages and broken answers.
type provider struct {
	t   *testing.T
	srv *httptest.Server

	mu           sync.Mutex
	keys         map[string]crypto.Signer // kid → private key
	down         bool                     // answer 503
	body         string                   // when set, served instead of the JWKS
	cacheControl string
	issuer       string        // the discovery document's issuer ("" → the server URL)
	gate         chan struct{} // when set, the JWKS is answered once it is closed
	fetches      atomic.Int32
}

func newProvider(t *testing.T) *provider {
	t.Helper()
	p := &provider{t: t, keys: map[string]crypto.Signer{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		p.mu.Lock()
		gate := p.gate
		p.mu.Unlock()
		if gate != nil {
			<-gate
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if p.cacheControl != "" {
			w.Header().Set("Cache-Control", p.cacheControl)
		}
		if p.body != "" {
			_, _ = w.Write([]byte(p.body))
			return
		}
		var doc jwkset.JWKSMarshal
		for kid, k := range p.keys {
			j, err := jwkset.NewJWKFromKey(k.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, USE: jwkset.UseSig}})
			if err != nil {
				p.t.Error(err)
				return
			}
			doc.Keys = append(doc.Keys, j.Marshal())
		}
		_ = json.NewEncoder(w).Encode(doc)
	})
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		iss := p.issuer
		if iss == "" {
			iss = p.srv.URL
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": p.srv.URL + "/jwks.json"})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) url() string { return p.srv.URL + "/jwks.json" }

func (p *provider) set(fn func(p *provider)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fn(p)
}

// addKey adds a key of the type alg needs under kid and returns it.
func (p *provider) addKey(kid, alg string) crypto.Signer {
	p.t.Helper()
	var (
		k   crypto.Signer
		err error
	)
	switch alg {
	case "RS256", "RS384", "RS512", "PS256":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "EdDSA":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil || k == nil {
		p.t.Fatalf("key for %s: %v", alg, err)
	}
	p.set(func(p *provider) { p.keys[kid] = k })
	return k
}

func (p *provider) keySet(cfg KeySetConfig) *KeySet {
	p.t.Helper()
	if cfg.URLs == nil && !cfg.Discovery {
		cfg.URLs = []string{p.url()}
	}
	ks, err := NewKeySet(cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	return ks
}

// signed mints a token with alg and kid ("" for none) over claims.
func signed(t *testing.T, alg, kid string, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claimsFor(tid uuid.UUID) jwt.MapClaims {
	return jwt.MapClaims{"sub": "alice", "role": "tenant_admin", "tenant_id": tid.String(), "exp": time.Now().Add(time.Hour).Unix()}
}

func jwksVerifier(t *testing.T, ks *KeySet, cfg Config) *Verifier {
	t.Helper()
	cfg.Keys = ks
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestJWKSAlgorithms(t *testing.T) {
	p := newProvider(t)
	algs := []string{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}
	keys := map[string]crypto.Signer{}
	for _, a := range algs {
		keys[a] = p.addKey("k-"+a, a)
	}
	ks := p.keySet(KeySetConfig{})
	if err := ks.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	v := jwksVerifier(t, ks, Config{Secret: []byte(testSecret)})
	tid := uuid.New()
	want := Claims{Subject: "alice", Role: tenant.RoleTenantAdmin, TenantID: tid}
	for _, a := range algs {
		t.Run(a, func(t *testing.T) {
			c, err := v.Verify(signed(t, a, "k-"+a, keys[a], claimsFor(tid)))
			if err != nil || c != want {
				t.Fatalf("Verify = %+v, %v", c, err)
			}
			// Without a kid every key that suits alg is tried.
			if c, err := v.Verify(signed(t, a, "", keys[a], claimsFor(tid))); err != nil || c != want {
				t.Fatalf("without kid: %+v, %v", c, err)
			}
		})
	}
	// HS256 with the secret keeps working beside the JWKS.
	if _, err := v.Verify(signed(t, "HS256", "", []byte(testSecret), claimsFor(tid))); err != nil {
		t.Fatalf("HS256 beside JWKS: %v", err)
	}
	// JWT_ALGORITHMS narrows.
	narrow := jwksVerifier(t, ks, Config{Algorithms: []string{"ES256"}})
	if _, err := narrow.Verify(signed(t, "RS256", "k-RS256", keys["RS256"], claimsFor(tid))); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("RS256 outside JWT_ALGORITHMS: %v", err)
	}
	if _, err := narrow.Verify(signed(t, "ES256", "k-ES256", keys["ES256"], claimsFor(tid))); err != nil {
		t.Fatal(err)
	}
	if _, err := narrow.Verify(signed(t, "HS256", "", []byte(testSecret), claimsFor(tid))); err == nil {
		t.Fatal("HS256 accepted outside JWT_ALGORITHMS")
	}
}

func TestJWKSRejects(t *testing.T) {
	p := newProvider(t)
	rsaKey := p.addKey("rsa", "RS256")
	ecKey := p.addKey("ec", "ES256")
	ks := p.keySet(KeySetConfig{RefetchInterval: time.Hour})
	if err := ks.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	v := jwksVerifier(t, ks, Config{Issuer: "https://idp.example.com/", Audience: "mtdb"})
	tid := uuid.New()
	good := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := claimsFor(tid)
		c["iss"], c["aud"] = "https://idp.example.com/", "mtdb"
		if mod != nil {
			mod(c)
		}
		return c
	}
	if _, err := v.Verify(signed(t, "RS256", "rsa", rsaKey, good(nil))); err != nil {
		t.Fatal(err)
	}
	rsaPub, _ := x509PublicPEM(t, rsaKey)
	for _, tc := range []struct {
		name  string
		token string
		want  error
	}{
		{"expired", signed(t, "RS256", "rsa", rsaKey, good(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })), ErrExpired},
		{"not yet valid", signed(t, "RS256", "rsa", rsaKey, good(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() })), ErrNotYetValid},
		{"wrong issuer", signed(t, "RS256", "rsa", rsaKey, good(func(c jwt.MapClaims) { c["iss"] = "https://evil.example.com/" })), ErrIssuer},
		{"wrong audience", signed(t, "RS256", "rsa", rsaKey, good(func(c jwt.MapClaims) { c["aud"] = "other" })), ErrAudience},
		{"unknown kid", signed(t, "RS256", "nope", rsaKey, good(nil)), ErrUnknownKey},
		{"RS256 naming an EC key", signed(t, "RS256", "ec", rsaKey, good(nil)), ErrKeyMismatch},
		{"ES256 naming an RSA key", signed(t, "ES256", "rsa", ecKey, good(nil)), ErrKeyMismatch},
		{"HS256 keyed with the RSA public key", signed(t, "HS256", "rsa", rsaPub, good(nil)), ErrBadSignature},
		{"alg none", unsignedToken(good(nil)), ErrBadSignature},
		{"signed by another key", signed(t, "RS256", "rsa", mustRSA(t), good(nil)), ErrBadSignature},
		{"oversized", signed(t, "RS256", "rsa", rsaKey, good(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", MaxTokenBytes) })), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(tc.token)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			msg := PublicMessage(err)
			if strings.Contains(msg, "BEGIN") || strings.Contains(msg, tc.token) {
				t.Fatalf("message leaks material: %q", msg)
			}
		})
	}
}

// TestJWKSRotation: a new kid appears (fetched on first sight, at most once
// per interval however many unknown kids arrive), the old key is removed
// (its tokens are refused once the provider has dropped it).
func TestJWKSRotation(t *testing.T) {
	p := newProvider(t)
	old := p.addKey("2026-1", "RS256")
	ks := p.keySet(KeySetConfig{RefetchInterval: 300 * time.Millisecond})
	if err := ks.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	v := jwksVerifier(t, ks, Config{})
	tid := uuid.New()
	if _, err := v.Verify(signed(t, "RS256", "2026-1", old, claimsFor(tid))); err != nil {
		t.Fatal(err)
	}
	// Rotation: the new key is published beside the old, then the old goes.
	newKey := p.addKey("2026-2", "RS256")
	p.set(func(p *provider) { delete(p.keys, "2026-1") })
	before := p.fetches.Load()
	if _, err := v.Verify(signed(t, "RS256", "2026-2", newKey, claimsFor(tid))); err != nil {
		t.Fatalf("new kid after rotation: %v", err)
	}
	if got := p.fetches.Load() - before; got != 1 {
		t.Fatalf("%d fetches for the new kid, want 1", got)
	}
	if _, err := v.Verify(signed(t, "RS256", "2026-1", old, claimsFor(tid))); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("removed key: %v", err)
	}
	// A flood of random kids costs at most one fetch per interval.
	flood := make([]string, 200)
	for i := range flood {
		flood[i] = signed(t, "RS256", uuid.NewString(), newKey, claimsFor(tid))
	}
	time.Sleep(350 * time.Millisecond)
	before = p.fetches.Load()
	start := time.Now()
	for _, tok := range flood {
		if _, err := v.Verify(tok); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("random kid: %v", err)
		}
	}
	allowed := 1 + int32(time.Since(start)/(300*time.Millisecond))
	if got := p.fetches.Load() - before; got > allowed {
		t.Fatalf("%d fetches for a flood of 200 unknown kids, want at most %d (one per interval)", got, allowed)
	}
	time.Sleep(350 * time.Millisecond)
	before = p.fetches.Load()
	_, _ = v.Verify(signed(t, "RS256", uuid.NewString(), newKey, claimsFor(tid)))
	if got := p.fetches.Load() - before; got != 1 {
		t.Fatalf("%d fetches after the interval, want 1", got)
	}
}

// TestJWKSRotationUnderLoad: the provider starts signing with a new key
// and many requests carry its kid at once. One fetch serves them all: the
// requests that arrive while it is in flight wait for it instead of
// getting 401.
func TestJWKSRotationUnderLoad(t *testing.T) {
	p := newProvider(t)
	p.addKey("2026-1", "ES256")
	ks := p.keySet(KeySetConfig{RefetchInterval: time.Hour})
	if err := ks.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	v := jwksVerifier(t, ks, Config{})
	newKey := p.addKey("2026-2", "ES256")
	gate := make(chan struct{})
	p.set(func(p *provider) { p.gate = gate })
	before := p.fetches.Load()
	tokens := make([]string, 16)
	for i := range tokens {
		tokens[i] = signed(t, "ES256", "2026-2", newKey, jwt.MapClaims{
			"sub": fmt.Sprint("client-", i), "role": "member", "tenant_id": uuid.NewString(), "exp": time.Now().Add(time.Hour).Unix()})
	}
	errc := make(chan error, len(tokens))
	for _, tok := range tokens {
		go func() {
			_, err := v.Verify(tok)
			errc <- err
		}()
	}
	time.Sleep(200 * time.Millisecond) // let them arrive while the fetch hangs (not an assertion)
	close(gate)
	for range tokens {
		if err := <-errc; err != nil {
			t.Errorf("a token with the new kid during its fetch: %v", err)
		}
	}
	if got := p.fetches.Load() - before; got != 1 {
		t.Fatalf("%d fetches for the new kid, want 1", got)
	}
}

// TestJWKSOutage: cached keys keep working while the provider is down; a
// provider never reached means 503 (ErrUnavailable) and not ready, while
// HS256 tokens still work; recovery needs no restart.
func TestJWKSOutage(t *testing.T) {
	p := newProvider(t)
	key := p.addKey("k1", "ES256")
	ks := p.keySet(KeySetConfig{RefetchInterval: 50 * time.Millisecond})
	if err := ks.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	v := jwksVerifier(t, ks, Config{Secret: []byte(testSecret)})
	tid := uuid.New()
	p.set(func(p *provider) { p.down = true })
	if err := ks.Refresh(context.Background()); err == nil {
		t.Fatal("refresh against a down provider succeeded")
	}
	if _, err := v.Verify(signed(t, "ES256", "k1", key, claimsFor(tid))); err != nil {
		t.Fatalf("cached key during the outage: %v", err)
	}
	if ok, why := ks.Ready(); !ok {
		t.Fatalf("not ready with cached keys: %s", why)
	}

	// Down from the start.
	cold := p.keySet(KeySetConfig{RefetchInterval: 50 * time.Millisecond})
	_ = cold.Refresh(context.Background())
	cv := jwksVerifier(t, cold, Config{Secret: []byte(testSecret)})
	if _, err := cv.Verify(signed(t, "ES256", "k1", key, claimsFor(tid))); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("no keys at all: %v, want ErrUnavailable", err)
	}
	ok, why := cold.Ready()
	if ok || !strings.Contains(why, "HTTP status 503") {
		t.Fatalf("Ready = %v %q", ok, why)
	}
	if _, err := cv.Verify(signed(t, "HS256", "", []byte(testSecret), claimsFor(tid))); err != nil {
		t.Fatalf("HS256 while the provider is down: %v", err)
	}
	// Back: the next token (past the refetch interval) loads the keys.
	p.set(func(p *provider) { p.down = false })
	time.Sleep(60 * time.Millisecond)
	if _, err := cv.Verify(signed(t, "ES256", "k1", key, claimsFor(tid))); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestJWKSBadDocuments(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"not JSON", "<html>login</html>", "not JSON"},
		{"oversized", `{"keys":[` + strings.Repeat(" ", MaxJWKSBytes) + `]}`, "larger than"},
		{"no usable key", `{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"s"},{"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"}]}`, "no usable signing key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(t)
			p.set(func(p *provider) { p.body = tc.body })
			ks := p.keySet(KeySetConfig{})
			_ = ks.Refresh(context.Background())
			ok, why := ks.Ready()
			if ok || !strings.Contains(why, tc.want) {
				t.Fatalf("Ready = %v %q, want it to say %q", ok, why, tc.want)
			}
			v := jwksVerifier(t, ks, Config{})
			if _, err := v.Verify(signed(t, "RS256", "s", mustRSA(t), claimsFor(uuid.New()))); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("token: %v, want ErrUnavailable", err)
			}
		})
	}
}

func TestOIDCDiscovery(t *testing.T) {
	p := newProvider(t)
	key := p.addKey("k", "EdDSA")
	ks := p.keySet(KeySetConfig{Issuer: p.srv.URL, Discovery: true})
	if err := ks.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	v := jwksVerifier(t, ks, Config{Issuer: p.srv.URL})
	c := claimsFor(uuid.New())
	c["iss"] = p.srv.URL
	if _, err := v.Verify(signed(t, "EdDSA", "k", key, c)); err != nil {
		t.Fatal(err)
	}
	// A discovery document naming another issuer is refused.
	p.set(func(p *provider) { p.issuer = "https://evil.example.com" })
	other := p.keySet(KeySetConfig{Issuer: p.srv.URL, Discovery: true})
	if err := other.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "another issuer") {
		t.Fatalf("issuer mismatch: %v", err)
	}
}

func TestCacheControl(t *testing.T) {
	ks := &KeySet{cfg: KeySetConfig{CacheMin: time.Minute, CacheMax: time.Hour}}
	for cc, want := range map[string]time.Duration{
		"":                         defaultMaxAge,
		"public, max-age=600":      10 * time.Minute,
		"max-age=1":                time.Minute, // clamped up
		"max-age=99999999":         time.Hour,   // clamped down
		"no-store":                 time.Minute,
		"max-age=-5":               defaultMaxAge,
		"max-age=abc, no-cache":    time.Minute,
		"private, MAX-AGE=120":     2 * time.Minute,
		"must-revalidate, max-age": defaultMaxAge,
	} {
		h := http.Header{}
		h.Set("Cache-Control", cc)
		if got := ks.maxAge(h); got != want {
			t.Errorf("Cache-Control %q: %s, want %s", cc, got, want)
		}
	}
}

// TestJWKSRunRefreshes: the background loop follows max-age.
func TestJWKSRunRefreshes(t *testing.T) {
	p := newProvider(t)
	p.addKey("k", "RS256")
	p.set(func(p *provider) { p.cacheControl = "max-age=1" })
	ks := p.keySet(KeySetConfig{CacheMin: time.Second, CacheMax: time.Second})
	if err := ks.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ks.Run(ctx); close(done) }()
	before := p.fetches.Load()
	deadline := time.Now().Add(5 * time.Second)
	for p.fetches.Load() == before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	if p.fetches.Load() == before {
		t.Fatal("Run did not refresh within 5s of a 1s max-age")
	}
}

func mustRSA(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// x509PublicPEM returns the PEM of k's public key: what an attacker would
// use as an HMAC secret in the classic RS256→HS256 confusion.
func x509PublicPEM(t *testing.T, k crypto.Signer) ([]byte, error) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// unsignedToken is an alg "none" token.
func unsignedToken(c jwt.MapClaims) string {
	s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
	return s
}
