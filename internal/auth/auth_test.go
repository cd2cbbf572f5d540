package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/tenant"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func newVerifier(t *testing.T, cfg Config) *Verifier {
	t.Helper()
	if cfg.Secret == nil {
		cfg.Secret = testSecret
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// mint signs arbitrary payload claims with method and key.
func mint(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return s
}

func payload(mods ...func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub":       "alice",
		"role":      "tenant_admin",
		"tenant_id": "6f1c3f5e-2b7a-4c8e-9d3a-1f2e3d4c5b6a",
		"exp":       time.Now().Add(time.Hour).Unix(),
	}
	for _, m := range mods {
		m(c)
	}
	return c
}

func TestVerifyAccepts(t *testing.T) {
	v := newVerifier(t, Config{})
	tid := uuid.MustParse("6f1c3f5e-2b7a-4c8e-9d3a-1f2e3d4c5b6a")
	tests := []struct {
		name string
		tok  string
		want Claims
	}{
		{"tenant admin", mint(t, jwt.SigningMethodHS256, testSecret, payload()),
			Claims{Subject: "alice", Role: tenant.RoleTenantAdmin, TenantID: tid}},
		{"member", mint(t, jwt.SigningMethodHS256, testSecret, payload(func(c jwt.MapClaims) { c["role"] = "member" })),
			Claims{Subject: "alice", Role: tenant.RoleMember, TenantID: tid}},
		{"platform admin without tenant", mint(t, jwt.SigningMethodHS256, testSecret, payload(func(c jwt.MapClaims) {
			c["role"] = "platform_admin"
			delete(c, "tenant_id")
		})), Claims{Subject: "alice", Role: tenant.RolePlatformAdmin}},
		{"expired within leeway", mint(t, jwt.SigningMethodHS256, testSecret, payload(func(c jwt.MapClaims) {
			c["exp"] = time.Now().Add(-2 * time.Second).Unix()
		})), Claims{Subject: "alice", Role: tenant.RoleTenantAdmin, TenantID: tid}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(tt.tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got != tt.want {
				t.Fatalf("claims = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, Config{})
	strict := newVerifier(t, Config{Issuer: "https://issuer.example", Audience: "mtdb"})
	good := func(c jwt.MapClaims) { c["iss"] = "https://issuer.example"; c["aud"] = "mtdb" }
	tests := []struct {
		name string
		v    *Verifier
		tok  string
		want error
	}{
		{"empty", v, "", ErrMissing},
		{"garbage", v, "not-a-jwt", ErrMalformed},
		{"two segments", v, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0", ErrMalformed},
		{"bad base64 header", v, "%%%.eyJzdWIiOiJ4In0.sig", ErrMalformed},
		{"alg none", v, mint(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, payload()), ErrBadSignature},
		{"wrong key", v, mint(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), payload()), ErrBadSignature},
		{"HS384 when only HS256 configured", v, mint(t, jwt.SigningMethodHS384, testSecret, payload()), ErrBadSignature},
		{"RS256", v, mint(t, jwt.SigningMethodRS256, rsaKey, payload()), ErrBadSignature},
		{"tampered payload", v, tamper(t, mint(t, jwt.SigningMethodHS256, testSecret, payload())), ErrBadSignature},
		{"expired", v, mint(t, jwt.SigningMethodHS256, testSecret, payload(func(c jwt.MapClaims) {
			c["exp"] = time.Now().Add(-time.Minute).Unix()
		})), ErrExpired},
		{"missing exp", v, mint(t, jwt.SigningMethodHS256, testSecret, payload(func(c jwt.MapClaims) { delete(c, "exp") })), ErrInvalidClaims},
		{"not yet valid", v, mint(t, jwt.SigningMethodHS256, testSecret, payload(func(c jwt.MapClaims) {
			c["nbf"] = time.Now().Add(time.Hour).Unix()
		})), ErrInvalidClaims},
		{"unknown role", v, mint(t, jwt.SigningMethodHS256, testSecret, payload(func(c jwt.MapClaims) { c["role"] = "root" })), ErrInvalidClaims},
		{"missing role", v, mint(t, jwt.SigningMethodHS256, testSecret, payload(func(c jwt.MapClaims) { delete(c, "role") })), ErrInvalidClaims},
		{"member without tenant", v, mint(t, jwt.SigningMethodHS256, testSecret, payload(func(c jwt.MapClaims) {
			c["role"] = "member"
			delete(c, "tenant_id")
		})), ErrInvalidClaims},
		{"malformed tenant_id", v, mint(t, jwt.SigningMethodHS256, testSecret, payload(func(c jwt.MapClaims) { c["tenant_id"] = "acme" })), ErrInvalidClaims},
		{"nil tenant_id", v, mint(t, jwt.SigningMethodHS256, testSecret, payload(func(c jwt.MapClaims) { c["tenant_id"] = uuid.Nil.String() })), ErrInvalidClaims},
		{"numeric tenant_id", v, mint(t, jwt.SigningMethodHS256, testSecret, payload(func(c jwt.MapClaims) { c["tenant_id"] = 42 })), ErrInvalidClaims},
		{"issuer missing", strict, mint(t, jwt.SigningMethodHS256, testSecret, payload(func(c jwt.MapClaims) { c["aud"] = "mtdb" })), ErrInvalidClaims},
		{"issuer mismatch", strict, mint(t, jwt.SigningMethodHS256, testSecret, payload(good, func(c jwt.MapClaims) { c["iss"] = "evil" })), ErrInvalidClaims},
		{"audience mismatch", strict, mint(t, jwt.SigningMethodHS256, testSecret, payload(good, func(c jwt.MapClaims) { c["aud"] = "other" })), ErrInvalidClaims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.v.Verify(tt.tok)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v (claims %+v)", err, tt.want, got)
			}
		})
	}
	// The strict verifier does accept a token with the right iss and aud.
	if _, err := strict.Verify(mint(t, jwt.SigningMethodHS256, testSecret, payload(good))); err != nil {
		t.Fatalf("strict verifier rejected a matching token: %v", err)
	}
}

// tamper changes the payload of a signed token, keeping its signature.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	other := mint(t, jwt.SigningMethodHS256, []byte("x"), payload(func(c jwt.MapClaims) { c["role"] = "platform_admin" }))
	a, b := strings.Split(tok, "."), strings.Split(other, ".")
	return a[0] + "." + b[1] + "." + a[2]
}

func TestNewVerifierConfigErrors(t *testing.T) {
	for name, cfg := range map[string]Config{
		"empty secret": {},
		"RS256":        {Secret: testSecret, Algorithms: []string{"RS256"}},
		"none":         {Secret: testSecret, Algorithms: []string{"none"}},
	} {
		if _, err := NewVerifier(cfg); err == nil {
			t.Errorf("%s: NewVerifier accepted the config", name)
		}
	}
	v := newVerifier(t, Config{Algorithms: []string{"HS256", "HS384"}})
	if _, err := v.Verify(mint(t, jwt.SigningMethodHS384, testSecret, payload())); err != nil {
		t.Fatalf("HS384 configured but rejected: %v", err)
	}
	if _, err := v.Verify(mint(t, jwt.SigningMethodHS512, testSecret, payload())); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("HS512 not configured, got %v", err)
	}
}

func TestSignRoundTrip(t *testing.T) {
	v := newVerifier(t, Config{Issuer: "iss", Audience: "aud"})
	want := Claims{Subject: "ops", Role: tenant.RoleMember, TenantID: uuid.New()}
	tok, err := Sign(testSecret, want, time.Hour, "iss", "aud")
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got != want {
		t.Fatalf("claims = %+v, want %+v", got, want)
	}
	if _, err := newVerifier(t, Config{Audience: "other"}).Verify(tok); !errors.Is(err, ErrInvalidClaims) {
		t.Fatalf("audience mismatch accepted: %v", err)
	}
	for name, c := range map[string]Claims{
		"unknown role":          {Role: "root"},
		"member without tenant": {Role: tenant.RoleMember},
	} {
		if _, err := Sign(testSecret, c, time.Hour, "", ""); err == nil {
			t.Errorf("Sign accepted %s", name)
		}
	}
	if _, err := Sign(testSecret, want, 0, "", ""); err == nil {
		t.Error("Sign accepted a token that never expires")
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header, want string
		err          error
	}{
		{"", "", ErrMissing},
		{"Bearer abc.def.ghi", "abc.def.ghi", nil},
		{"bearer   abc", "abc", nil},
		{"Basic dXNlcjpwYXNz", "", ErrMalformed},
		{"Bearer", "", ErrMalformed},
		{"Bearer    ", "", ErrMalformed},
		{"abc.def.ghi", "", ErrMalformed},
	}
	for _, tt := range tests {
		got, err := BearerToken(tt.header)
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tt.header, got, err, tt.want, tt.err)
		}
	}
}
