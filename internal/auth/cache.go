package auth

import (
	"sync"
	"time"
)

// Verified tokens are remembered for a short while, so that a client
// presenting the same token on every request (the usual case) pays for the
// signature check and the strict JSON checks once, not on every request,
// and so that the two places that read a request's token (admission and
// authentication) cost one verification.
//
// An entry is the verdict "valid, with these claims" for one exact token
// string (signature included: a tampered token is another string). It lasts
// until the token's exp or verifiedTTL, whichever comes first; after exp
// the token goes through full verification again, which applies the
// leeway and refuses it. Failures are never remembered. Every replacement
// of the JWKS keys starts a new generation, and a verdict of an older
// generation is not used: a key removed from the JWKS refuses its tokens at
// once.
const (
	verifiedTTL       = 30 * time.Second
	verifiedMaxTokens = 8192
	// Longer tokens are verified every time: the cache is for the usual
	// few-hundred-byte tokens, not a place to hold 16 KiB strings.
	verifiedMaxBytes = 2048
)

type verified struct {
	claims     Claims
	until      time.Time
	generation uint64
}

// verifiedCache is a bounded map of verified tokens; safe for concurrent use.
type verifiedCache struct {
	mu sync.Mutex
	m  map[string]verified
}

func (c *verifiedCache) get(token string, generation uint64, now time.Time) (Claims, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[token]
	if !ok {
		return Claims{}, false
	}
	if !now.Before(v.until) || v.generation != generation {
		delete(c.m, token)
		return Claims{}, false
	}
	return v.claims, true
}

func (c *verifiedCache) put(token string, claims Claims, generation uint64, exp, now time.Time) {
	if len(token) > verifiedMaxBytes {
		return
	}
	until := now.Add(verifiedTTL)
	if exp.Before(until) {
		until = exp
	}
	if !now.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]verified)
	}
	if len(c.m) >= verifiedMaxTokens {
		// Full: drop one entry (map order is arbitrary), an expired one
		// when the first few looked at include one.
		n := 0
		for k, e := range c.m {
			n++
			if !now.Before(e.until) || n == 8 {
				delete(c.m, k)
				break
			}
		}
	}
	c.m[token] = verified{claims: claims, until: until, generation: generation}
}
