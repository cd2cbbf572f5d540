package auth

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/mtdb/mtdb/internal/tenant"
)

// TestStrictClaimsAttack: a token whose payload an attacker could partly
// write (an identity provider letting users set custom claims) must not be
// able to smuggle a role through case-folding or a duplicate name, nor
// through extensions the verifier does not understand or a far-future iat.
func TestStrictClaimsAttack(t *testing.T) {
	v := newVerifier(t, Config{})
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	tid := `"6f1c3f5e-2b7a-4c8e-9d3a-1f2e3d4c5b6a"`
	hs := `{"alg":"HS256","typ":"JWT"}`
	tests := []struct {
		name            string
		header, payload string
	}{
		{"case-folded role alone", hs, `{"sub":"u","Role":"platform_admin","exp":` + exp + `}`},
		{"duplicate role, last wins", hs, `{"sub":"u","role":"member","tenant_id":` + tid + `,"role":"platform_admin","exp":` + exp + `}`},
		{"duplicate role spelled with an escape", hs, `{"sub":"u","role":"member","tenant_id":` + tid + `,"r\u006fle":"platform_admin","exp":` + exp + `}`},
		{"duplicate tenant_id", hs, `{"sub":"u","role":"tenant_admin","tenant_id":` + tid + `,"tenant_id":"00000000-0000-0000-0000-000000000001","exp":` + exp + `}`},
		{"duplicate exp", hs, `{"sub":"u","role":"platform_admin","exp":1,"exp":` + exp + `}`},
		{"duplicate name in a nested object", hs, `{"sub":"u","role":"platform_admin","exp":` + exp + `,"app":{"a":1,"a":2}}`},
		{"duplicate alg in the header", `{"alg":"none","alg":"HS256"}`, `{"sub":"u","role":"platform_admin","exp":` + exp + `}`},
		{"unknown crit header", `{"alg":"HS256","crit":["exp-ext"],"exp-ext":true}`, `{"sub":"u","role":"platform_admin","exp":` + exp + `}`},
		{"empty crit header", `{"alg":"HS256","crit":[]}`, `{"sub":"u","role":"platform_admin","exp":` + exp + `}`},
		{"iat an hour ahead", hs, `{"sub":"u","role":"platform_admin","iat":` + strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) + `,"exp":` + exp + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(signRaw(tt.header, tt.payload, testSecret))
			if err == nil {
				t.Fatalf("accepted, acting as %+v", c)
			}
			if !errors.Is(err, ErrInvalidClaims) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("error of no class: %v", err)
			}
		})
	}

	// "ROLE" is not "role": the token acts as the member it names exactly.
	c, err := v.Verify(signRaw(hs, `{"sub":"u","role":"member","ROLE":"platform_admin","tenant_id":`+tid+`,"exp":`+exp+`}`, testSecret))
	if err != nil || c.Role != tenant.RoleMember {
		t.Errorf(`{"role":"member","ROLE":"platform_admin"}: %+v, %v; want a member`, c, err)
	}

	// The exact names still work, and iat within the leeway is accepted.
	for name, p := range map[string]string{
		"exact names":     `{"sub":"u","role":"member","tenant_id":` + tid + `,"exp":` + exp + `}`,
		"iat just ahead":  `{"sub":"u","role":"member","tenant_id":` + tid + `,"iat":` + strconv.FormatInt(time.Now().Add(30*time.Second).Unix(), 10) + `,"exp":` + exp + `}`,
		"iat in the past": `{"sub":"u","role":"member","tenant_id":` + tid + `,"iat":1,"exp":` + exp + `}`,
	} {
		c, err := v.Verify(signRaw(hs, p, testSecret))
		if err != nil || c.Role != tenant.RoleMember {
			t.Errorf("%s: %+v, %v; want a member", name, c, err)
		}
	}

	// The iat leeway is configurable: with none, 30 s ahead is refused.
	none := newVerifier(t, Config{IssuedAtLeeway: -1})
	p := `{"sub":"u","role":"platform_admin","iat":` + strconv.FormatInt(time.Now().Add(30*time.Second).Unix(), 10) + `,"exp":` + exp + `}`
	if _, err := none.Verify(signRaw(hs, p, testSecret)); !errors.Is(err, ErrInvalidClaims) {
		t.Errorf("iat 30 s ahead with no leeway: %v, want ErrInvalidClaims", err)
	}
}

// FuzzUniqueNames: the duplicate-name scanner never panics, and agrees with
// encoding/json on what is valid JSON (it may refuse more: duplicates,
// deep nesting).
func FuzzUniqueNames(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"a":2}`, `{"a":{"b":[1,{"c":1,"c":2}]}}`, `[1,2]`, `"x"`, `{"a":1}x`,
		`{"r\u006fle":1,"role":2}`, `{"a":`, `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := uniqueNames(b)
		if err == nil && !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
	})
}
