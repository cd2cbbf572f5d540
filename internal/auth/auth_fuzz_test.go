package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/tenant"
)

// signRaw builds a JWT from raw header and payload JSON, HS256-signed with
// key: the fuzzer controls every byte the verifier parses.
func signRaw(header, payload string, key []byte) string {
	enc := base64.RawURLEncoding
	unsigned := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(unsigned))
	return unsigned + "." + enc.EncodeToString(mac.Sum(nil))
}

// FuzzVerify feeds the verifier correctly signed tokens with arbitrary
// headers and claims, and arbitrary raw tokens. It never panics; an error
// always belongs to one of the package's classes; an accepted token always
// yields coherent claims (known role, a tenant for tenant roles).
func FuzzVerify(f *testing.F) {
	exp := time.Now().Add(time.Hour).Unix()
	hs := `{"alg":"HS256","typ":"JWT"}`
	for _, s := range []struct{ header, payload, raw string }{
		{hs, `{"sub":"u","role":"platform_admin","exp":` + itoa(exp) + `}`, ""},
		{hs, `{"sub":"u","role":"tenant_admin","tenant_id":"` + uuid.NewString() + `","exp":` + itoa(exp) + `}`, ""},
		{hs, `{"sub":"u","role":"member","tenant_id":"00000000-0000-0000-0000-000000000000","exp":` + itoa(exp) + `}`, ""},
		{hs, `{"sub":"u","role":"member","exp":` + itoa(exp) + `}`, ""},
		{hs, `{"sub":"u","role":"root","exp":` + itoa(exp) + `}`, ""},
		{hs, `{"sub":"u","role":"member","tenant_id":"x"}`, ""},
		{hs, `{"sub":"a\u0000b","role":"platform_admin","exp":` + itoa(exp) + `}`, ""},
		{hs, `{"sub":1,"role":["member"],"exp":"soon","nbf":1e400}`, ""},
		{`{"alg":"none"}`, `{"role":"platform_admin"}`, ""},
		{`{"alg":"RS256"}`, `{}`, ""},
		{hs, `not json`, ""},
		{hs, `{"sub":"u","role":"member","ROLE":"platform_admin","tenant_id":"` + uuid.NewString() + `","exp":` + itoa(exp) + `}`, ""},
		{hs, `{"sub":"u","role":"member","role":"platform_admin","exp":` + itoa(exp) + `}`, ""},
		{`{"alg":"HS256","crit":["b64"]}`, `{"sub":"u","role":"platform_admin","exp":` + itoa(exp) + `}`, ""},
		{hs, `{"sub":"u","role":"platform_admin","iat":99999999999,"exp":` + itoa(exp) + `}`, ""},
		{"", "", "a.b.c"},
		{"", "", "...."},
		{"", "", "eyJhbGciOiJub25lIn0.eyJyb2xlIjoicGxhdGZvcm1fYWRtaW4ifQ."},
	} {
		f.Add(s.header, s.payload, s.raw)
	}
	v, err := NewVerifier(Config{Secret: testSecret})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header, payload, raw string) {
		tok := raw
		if tok == "" {
			tok = signRaw(header, payload, testSecret)
		}
		c, err := v.Verify(tok)
		if err != nil {
			for _, class := range []error{ErrMissing, ErrMalformed, ErrExpired, ErrBadSignature, ErrInvalidClaims} {
				if errors.Is(err, class) {
					return
				}
			}
			t.Fatalf("error of no class: %v", err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted incoherent claims %+v: %v", c, err)
		}
		if _, err := tenant.ParseRole(string(c.Role)); err != nil {
			t.Fatalf("accepted role %q", c.Role)
		}
		if c.Role != tenant.RolePlatformAdmin && c.TenantID == uuid.Nil {
			t.Fatalf("accepted a %s without a tenant", c.Role)
		}
		if strings.ContainsRune(c.Subject, 0) {
			t.Fatalf("accepted a subject with NUL (it reaches PostgreSQL as app.user_id): %q", c.Subject)
		}
		if raw != "" {
			return
		}
		// Strict claims: the accepted role is exactly the "role" member of
		// a payload without duplicate names, under a header without crit.
		if err := uniqueNames([]byte(payload)); err != nil {
			t.Fatalf("accepted a payload the strict scanner refuses (%v): %s", err, payload)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(payload), &m); err != nil || m["role"] != string(c.Role) {
			t.Fatalf("accepted role %q, but the exact role claim of %s is %v", c.Role, payload, m["role"])
		}
		var h map[string]any
		if err := json.Unmarshal([]byte(header), &h); err != nil {
			t.Fatalf("accepted header %s: %v", header, err)
		}
		if _, crit := h["crit"]; crit {
			t.Fatalf("accepted a header with crit: %s", header)
		}
	})
}

// FuzzBearerToken: an extracted token is never empty and never carries
// surrounding white space; failures are ErrMissing or ErrMalformed.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  abc ", "Bearer", "Bearer ", "Basic abc", "", " \t", "BEARER a b", "Bearer\tabc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tok, err := BearerToken(header)
		if err != nil {
			if !errors.Is(err, ErrMissing) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error of no class: %v", err)
			}
			return
		}
		if tok == "" || strings.TrimSpace(tok) != tok {
			t.Fatalf("token %q from %q", tok, header)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
