package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// Keys published by an identity provider as a JSON Web Key Set (JWKS).
//
// JWK parsing and validation (RSA, EC P-256/P-384, Ed25519; x5c) is
// jwkset's, and the kid → key lookup with the JWK "alg" check is keyfunc's
// (github.com/MicahParks/keyfunc/v3, made for golang-jwt/jwt/v5). The
// fetching is ours, because jwkset's HTTP storage reads without a size
// bound, refreshes on a fixed interval, and ignores Cache-Control: here a
// document is read up to MaxJWKSBytes, kept for the provider's max-age
// clamped to [CacheMin, CacheMax], refreshed in the background, and
// refetched early at most once per RefetchInterval when a token names an
// unknown kid. A failed refresh keeps the keys already known.

// Bounds of what is read from an identity provider.
const (
	MaxJWKSBytes      = 1 << 20 // a JWKS or discovery document
	DefaultHTTPTimout = 5 * time.Second
)

// Defaults of KeySetConfig.
const (
	DefaultCacheMin        = 5 * time.Minute
	DefaultCacheMax        = 24 * time.Hour
	DefaultRefetchInterval = 30 * time.Second
	// defaultMaxAge applies when the provider sends no max-age.
	defaultMaxAge = 15 * time.Minute
)

// Errors of key lookup, wrapped by Verify.
var (
	// ErrUnavailable: no usable signing key is known for the token's kind
	// (the provider was never reached, or published nothing usable). The
	// HTTP layer answers 503, not 401: the token may well be good.
	ErrUnavailable = errors.New("no usable token signing key is available")
	// ErrUnknownKey: the token's kid is not among the keys, even after a refetch.
	ErrUnknownKey = errors.New("the token names an unknown signing key")
	// ErrKeyMismatch: the token's alg does not fit its key's type.
	ErrKeyMismatch = errors.New("the token algorithm does not match its signing key")
)

// AsymmetricAlgorithms are the JWKS algorithms mtdb verifies.
var AsymmetricAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}

// KeySetConfig configures a KeySet.
type KeySetConfig struct {
	// URLs of JWKS documents (JWT_JWKS_URL).
	URLs []string
	// Issuer, when Discovery is set, is where
	// ${Issuer}/.well-known/openid-configuration names one more jwks_uri.
	Issuer    string
	Discovery bool
	// CacheMin and CacheMax bound the provider's max-age (0: defaults).
	CacheMin, CacheMax time.Duration
	// RefetchInterval is the least time between two fetches caused by
	// unknown kids (0: DefaultRefetchInterval).
	RefetchInterval time.Duration
	// Client is the HTTP client (nil: one with DefaultHTTPTimout).
	Client *http.Client
	Log    *slog.Logger
}

// KeySet is a cache of the signing keys of one or more JWKS documents. It
// is safe for concurrent use. Run refreshes it in the background.
type KeySet struct {
	cfg     KeySetConfig
	storage *refetchStorage
	kf      keyfunc.Keyfunc
	// generation counts key replacements: a token verified under an older
	// generation is verified again (see verifiedCache).
	generation atomic.Uint64

	mu         sync.Mutex
	sources    []*source     // one per JWKS URL (discovery adds one)
	lastForced time.Time     // last fetch caused by an unknown kid
	forcing    chan struct{} // closed when that fetch ends; nil when none is in flight
	next       time.Time     // next background refresh
	wake       chan struct{} // signals Run that next moved
}

// source is one JWKS document.
type source struct {
	url       string // for discovery: "" until it has named one
	discovery bool   // url comes from the issuer's OpenID configuration
	keys      []jwkset.JWK
	loaded    bool // keys came from a successful fetch at least once
	lastError string
}

// NewKeySet returns an empty KeySet for cfg, or an error naming a bad URL.
// Call Refresh (or Run) to load it.
func NewKeySet(cfg KeySetConfig) (*KeySet, error) {
	if cfg.CacheMin <= 0 {
		cfg.CacheMin = DefaultCacheMin
	}
	if cfg.CacheMax <= 0 {
		cfg.CacheMax = DefaultCacheMax
	}
	if cfg.CacheMax < cfg.CacheMin {
		return nil, fmt.Errorf("auth: JWKS cache max %s is below the min %s", cfg.CacheMax, cfg.CacheMin)
	}
	if cfg.RefetchInterval <= 0 {
		cfg.RefetchInterval = DefaultRefetchInterval
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: DefaultHTTPTimout}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ks := &KeySet{cfg: cfg, wake: make(chan struct{}, 1)}
	for _, u := range cfg.URLs {
		if err := checkURL(u); err != nil {
			return nil, fmt.Errorf("auth: JWKS URL %q: %w", u, err)
		}
		ks.sources = append(ks.sources, &source{url: u})
	}
	if cfg.Discovery {
		if err := checkURL(cfg.Issuer); err != nil {
			return nil, fmt.Errorf("auth: issuer %q for OIDC discovery: %w", cfg.Issuer, err)
		}
		ks.sources = append(ks.sources, &source{discovery: true})
	}
	if len(ks.sources) == 0 {
		return nil, errors.New("auth: no JWKS URL and no OIDC discovery configured")
	}
	ks.storage = &refetchStorage{MemoryJWKSet: jwkset.NewMemoryStorage(), ks: ks}
	kf, err := keyfunc.New(keyfunc.Options{Storage: ks.storage}) // "use" is filtered when fetching: a key without one is fine
	if err != nil {
		return nil, err
	}
	ks.kf = kf
	return ks, nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("not an http(s) URL")
	}
	return nil
}

// Ready reports whether at least one signing key is known, and if not why.
func (ks *KeySet) Ready() (bool, string) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	var problems []string
	for _, s := range ks.sources {
		if len(s.keys) > 0 {
			return true, ""
		}
		what := s.url
		if s.discovery {
			what = "OIDC discovery of " + ks.cfg.Issuer
		}
		switch {
		case s.lastError != "":
			problems = append(problems, what+": "+s.lastError)
		case s.loaded:
			problems = append(problems, what+": no usable signing key in the document")
		default:
			problems = append(problems, what+": not fetched yet")
		}
	}
	return false, "no usable JWT signing key (" + strings.Join(problems, "; ") + ")"
}

// Refresh fetches every source now. It returns the first error; sources
// that fail keep their keys.
func (ks *KeySet) Refresh(ctx context.Context) error {
	var first error
	maxAge := ks.cfg.CacheMax
	for _, s := range ks.snapshotSources() {
		age, err := ks.fetch(ctx, s)
		if err != nil {
			ks.cfg.Log.Warn("JWKS refresh failed; keeping the keys already known", "source", s.url, "issuer", ks.cfg.Issuer, "err", err.Error())
			if first == nil {
				first = err
			}
			age = min(ks.cfg.CacheMin, ks.cfg.RefetchInterval) // retry soon
		}
		maxAge = min(maxAge, age)
	}
	ks.mu.Lock()
	ks.next = time.Now().Add(maxAge)
	ks.mu.Unlock()
	ks.rebuild()
	select {
	case ks.wake <- struct{}{}:
	default:
	}
	return first
}

// Run refreshes the keys when they are due, until ctx is done.
func (ks *KeySet) Run(ctx context.Context) {
	for {
		ks.mu.Lock()
		wait := time.Until(ks.next)
		ks.mu.Unlock()
		t := time.NewTimer(max(wait, time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-ks.wake:
			t.Stop()
			continue
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, 2*DefaultHTTPTimout)
		_ = ks.Refresh(rctx)
		cancel()
	}
}

func (ks *KeySet) snapshotSources() []*source {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return append([]*source(nil), ks.sources...)
}

// fetch loads one source and returns how long its keys may be cached.
func (ks *KeySet) fetch(ctx context.Context, s *source) (time.Duration, error) {
	ks.mu.Lock()
	u := s.url
	ks.mu.Unlock()
	if s.discovery { // jwks_uri may change: read it every time
		var err error
		if u, err = ks.discover(ctx); err != nil {
			ks.setError(s, err)
			return 0, err
		}
	}
	body, header, err := ks.get(ctx, u)
	if err != nil {
		ks.setError(s, err)
		return 0, err
	}
	var doc jwkset.JWKSMarshal
	if err := json.Unmarshal(body, &doc); err != nil {
		err = errors.New("the JWKS document is not JSON")
		ks.setError(s, err)
		return 0, err
	}
	keys := make([]jwkset.JWK, 0, len(doc.Keys))
	skipped := 0
	for _, m := range doc.Keys {
		if m.KTY == jwkset.KtyOct || (m.USE != "" && m.USE != jwkset.UseSig) {
			skipped++ // never a shared secret from a JWKS; never an encryption key
			continue
		}
		j, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{Private: false}, jwkset.JWKValidateOptions{})
		if err != nil {
			skipped++
			continue
		}
		keys = append(keys, j)
	}
	if skipped > 0 {
		ks.cfg.Log.Warn("JWKS: keys skipped (unsupported type, not for signatures, or invalid)", "source", u, "skipped", skipped)
	}
	ks.mu.Lock()
	s.url, s.keys, s.loaded, s.lastError = u, keys, true, ""
	ks.mu.Unlock()
	return ks.maxAge(header), nil
}

func (ks *KeySet) setError(s *source, err error) {
	ks.mu.Lock()
	s.lastError = err.Error()
	ks.mu.Unlock()
}

// discover reads jwks_uri from the issuer's OpenID configuration.
func (ks *KeySet) discover(ctx context.Context) (string, error) {
	u := strings.TrimSuffix(ks.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	body, _, err := ks.get(ctx, u)
	if err != nil {
		return "", fmt.Errorf("OIDC discovery: %w", err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", errors.New("OIDC discovery: the document is not JSON")
	}
	// OpenID Connect Discovery §4.3: the issuer in the document must be the
	// one it was fetched for.
	if strings.TrimSuffix(doc.Issuer, "/") != strings.TrimSuffix(ks.cfg.Issuer, "/") {
		return "", errors.New("OIDC discovery: the document names another issuer")
	}
	if checkURL(doc.JWKSURI) != nil {
		return "", errors.New("OIDC discovery: jwks_uri is missing or not an http(s) URL")
	}
	return doc.JWKSURI, nil
}

// get fetches u, reading at most MaxJWKSBytes.
func (ks *KeySet) get(ctx context.Context, u string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, errors.New("bad URL")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ks.cfg.Client.Do(req)
	if err != nil {
		return nil, nil, errors.New("unreachable")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, nil, errors.New("read failed")
	}
	if len(body) > MaxJWKSBytes {
		return nil, nil, fmt.Errorf("the document is larger than %d bytes", MaxJWKSBytes)
	}
	return body, resp.Header, nil
}

// maxAge is the provider's Cache-Control max-age clamped to
// [CacheMin, CacheMax]; no-store/no-cache mean CacheMin.
func (ks *KeySet) maxAge(h http.Header) time.Duration {
	age := defaultMaxAge
	for _, d := range strings.Split(h.Get("Cache-Control"), ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "no-store" || d == "no-cache":
			age = 0
		case strings.HasPrefix(d, "max-age="):
			if n, err := strconv.ParseInt(strings.TrimPrefix(d, "max-age="), 10, 64); err == nil && n >= 0 {
				age = time.Duration(min(n, int64(365*24*3600))) * time.Second
			}
		}
	}
	return min(max(age, ks.cfg.CacheMin), ks.cfg.CacheMax)
}

// rebuild replaces the key storage with the union of the sources' keys.
func (ks *KeySet) rebuild() {
	ks.mu.Lock()
	var all []jwkset.JWK
	for _, s := range ks.sources {
		all = append(all, s.keys...)
	}
	ks.mu.Unlock()
	_ = ks.storage.MemoryJWKSet.KeyReplaceAll(context.Background(), all)
	ks.generation.Add(1)
}

// empty reports whether no key at all is known.
func (ks *KeySet) empty() bool {
	all, _ := ks.storage.MemoryJWKSet.KeyReadAll(context.Background())
	return len(all) == 0
}

// refetchForUnknownKID refreshes all sources when the last such refresh is
// at least RefetchInterval old; it reports whether the keys may have
// changed since the caller looked. A caller that arrives while such a
// refresh is in flight waits for it (within ctx) instead of failing: when
// a provider starts signing with a new key, the requests that arrive
// together with the first one carry the new kid too.
func (ks *KeySet) refetchForUnknownKID(ctx context.Context) bool {
	ks.mu.Lock()
	if inFlight := ks.forcing; inFlight != nil {
		ks.mu.Unlock()
		select {
		case <-inFlight:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if time.Since(ks.lastForced) < ks.cfg.RefetchInterval {
		ks.mu.Unlock()
		return false
	}
	ks.lastForced = time.Now()
	done := make(chan struct{})
	ks.forcing = done
	ks.mu.Unlock()
	defer func() {
		ks.mu.Lock()
		ks.forcing = nil
		ks.mu.Unlock()
		close(done)
	}()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*DefaultHTTPTimout)
	defer cancel()
	_ = ks.Refresh(rctx)
	return true
}

// refetchStorage is jwkset's memory storage whose KeyRead refetches the
// documents (rate-limited) when a kid is unknown.
type refetchStorage struct {
	*jwkset.MemoryJWKSet
	ks *KeySet
}

func (r *refetchStorage) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	j, err := r.MemoryJWKSet.KeyRead(ctx, kid)
	if errors.Is(err, jwkset.ErrKeyNotFound) && r.ks.refetchForUnknownKID(ctx) {
		j, err = r.MemoryJWKSet.KeyRead(ctx, kid)
	}
	return j, err
}

// Keyfunc returns the jwt.Keyfunc for asymmetric tokens: the key named by
// kid (every key when there is no kid), which must suit the token's alg.
func (ks *KeySet) Keyfunc(ctx context.Context) jwt.Keyfunc {
	inner := ks.kf.KeyfuncCtx(ctx)
	return func(t *jwt.Token) (any, error) {
		alg := t.Method.Alg()
		key, err := inner(t)
		if err != nil {
			if ks.empty() {
				return nil, ErrUnavailable
			}
			if errors.Is(err, jwkset.ErrKeyNotFound) {
				return nil, ErrUnknownKey
			}
			return nil, ErrKeyMismatch // e.g. the JWK's own alg differs
		}
		switch k := key.(type) {
		case jwt.VerificationKeySet: // no kid: every key that suits alg
			var fit jwt.VerificationKeySet
			for _, c := range k.Keys {
				if suits(alg, c) {
					fit.Keys = append(fit.Keys, c)
				}
			}
			if len(fit.Keys) == 0 {
				if ks.empty() {
					return nil, ErrUnavailable
				}
				return nil, ErrUnknownKey
			}
			return fit, nil
		default:
			if !suits(alg, key) {
				return nil, ErrKeyMismatch
			}
			return key, nil
		}
	}
}

// suits reports whether key is of the type (and curve) alg needs. RSA keys
// shorter than 2048 bits are refused.
func suits(alg string, key any) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return (strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")) && k.N.BitLen() >= 2048
	case *ecdsa.PublicKey:
		return alg == "ES256" && k.Curve == elliptic.P256() || alg == "ES384" && k.Curve == elliptic.P384()
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}
