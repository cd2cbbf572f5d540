package auth

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestVerifiedTokensAreRememberedSafely: a verified token is remembered (the
// second verification is a lookup), but never beyond its exp, never for a
// tampered copy, and never for a failed verification.
func TestVerifiedTokensAreRememberedSafely(t *testing.T) {
	v := newVerifier(t, Config{Leeway: -1})
	exp := time.Now().Add(1500 * time.Millisecond).Truncate(time.Second).Add(time.Second)
	tok := mint(t, jwt.SigningMethodHS256, testSecret, payload(func(c jwt.MapClaims) { c["exp"] = exp.Unix() }))

	first, err := v.Verify(tok)
	if err != nil {
		t.Fatalf("first verification: %v", err)
	}
	if _, ok := v.verified.get(tok, 0, time.Now()); !ok {
		t.Fatal("a verified token was not remembered")
	}
	if again, err := v.Verify(tok); err != nil || again != first {
		t.Fatalf("second verification = %+v, %v; want %+v", again, err, first)
	}

	// A copy with another signature is another token: verified in full.
	tampered := tok + "A"
	if _, err := v.Verify(tampered); !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrMalformed) {
		t.Fatalf("tampered copy of a remembered token: %v", err)
	}
	if _, ok := v.verified.get(tampered, 0, time.Now()); ok {
		t.Fatal("a failed verification was remembered")
	}

	// Past exp the verdict is gone and full verification refuses it.
	time.Sleep(time.Until(exp) + 50*time.Millisecond)
	if _, err := v.Verify(tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("remembered token after its exp: %v, want ErrExpired", err)
	}
}

// TestVerifiedCacheIsBounded: however many tokens verify, the cache holds
// at most verifiedMaxTokens, and oversized tokens are not held at all.
func TestVerifiedCacheIsBounded(t *testing.T) {
	var c verifiedCache
	now := time.Now()
	for i := range verifiedMaxTokens + 100 {
		c.put(string(rune('a'+i%26))+time.Duration(i).String(), Claims{}, 0, now.Add(time.Hour), now)
	}
	if n := len(c.m); n > verifiedMaxTokens {
		t.Fatalf("cache holds %d tokens, bound %d", n, verifiedMaxTokens)
	}
	big := string(make([]byte, verifiedMaxBytes+1))
	c.put(big, Claims{}, 0, now.Add(time.Hour), now)
	if _, ok := c.get(big, 0, now); ok {
		t.Fatal("an oversized token was remembered")
	}
	c.put("gen", Claims{}, 1, now.Add(time.Hour), now)
	if _, ok := c.get("gen", 2, now); ok {
		t.Fatal("a verdict of an older key generation was used")
	}
}
