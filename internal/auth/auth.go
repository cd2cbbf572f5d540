// Package auth verifies and mints the bearer tokens (JWT) of mtdb. A token
// names its subject, its role and, for tenant roles, its tenant; only the
// configured HMAC algorithms are accepted, exp is required, iss/aud are
// checked when configured. Every failure is one of a few classified errors,
// all of which the HTTP layer answers with 401.
package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/tenant"
)

// The classes of verification failure. Verify and BearerToken wrap one of
// them; test with errors.Is.
var (
	ErrMissing       = errors.New("missing bearer token")
	ErrMalformed     = errors.New("malformed token")
	ErrExpired       = errors.New("token expired")
	ErrBadSignature  = errors.New("token signature is invalid or its algorithm is not accepted")
	ErrInvalidClaims = errors.New("token claims are invalid")
	ErrNotYetValid   = errors.New("token is not valid yet")
	ErrIssuer        = errors.New("token issuer is not accepted")
	ErrAudience      = errors.New("token audience is not accepted")
)

// DefaultLeeway is the clock skew allowed on exp and nbf when Config.Leeway is 0.
const DefaultLeeway = 5 * time.Second

// DefaultIssuedAtLeeway is how far in the future iat may lie when
// Config.IssuedAtLeeway is 0 (JWT_IAT_LEEWAY).
const DefaultIssuedAtLeeway = 60 * time.Second

// Config configures a Verifier.
type Config struct {
	// Secret is the HMAC key (JWT_SECRET_KEY). At least one of Secret and
	// Keys is required.
	Secret []byte
	// Keys are an identity provider's published keys (JWT_JWKS_URL,
	// JWT_OIDC_DISCOVERY).
	Keys *KeySet
	// Issuer and Audience, when not empty, must match the iss and aud claims.
	Issuer, Audience string
	// Algorithms accepted (JWT_ALGORITHMS). The default is HS256 when
	// Secret is set plus AsymmetricAlgorithms when Keys is. HS* need
	// Secret, the others Keys; anything else is a config error.
	Algorithms []string
	// Mapping says where the tenant and role claims are (zero: the
	// contract's tenant_id and role).
	Mapping Mapping
	// Leeway is the clock skew allowed on exp/nbf: 0 means DefaultLeeway,
	// a negative value none.
	Leeway time.Duration
	// IssuedAtLeeway is how far in the future a token's iat may lie (the
	// issuer's clock running ahead): 0 means DefaultIssuedAtLeeway, a
	// negative value none. A token issued later than that is refused.
	IssuedAtLeeway time.Duration
}

// Claims is the verified identity a token carries.
//
// TenantID is the token's tenant_id claim, uuid.Nil when absent. It is
// required for tenant_admin and member. For platform_admin the contract has
// it absent; a platform_admin token that does carry one is accepted and the
// tenant only serves as the lowest-precedence default tenant of a request
// (after the X-Tenant-ID header and the tenant_id cookie): it grants nothing,
// since a platform_admin may name any tenant anyway.
type Claims struct {
	Subject  string
	Role     tenant.Role
	TenantID uuid.UUID
}

// Validate returns an error wrapping ErrInvalidClaims when c is not a
// coherent identity: unknown role, or a tenant role without a tenant.
func (c Claims) Validate() error {
	if !c.Role.Valid() {
		return fmt.Errorf("%w: unknown role %q", ErrInvalidClaims, c.Role)
	}
	if c.Role != tenant.RolePlatformAdmin && c.TenantID == uuid.Nil {
		return fmt.Errorf("%w: role %s requires a tenant_id", ErrInvalidClaims, c.Role)
	}
	return nil
}

// tokenClaims is the JSON form of a token's registered claims. The tenant
// and the role are not among them: they are read from the payload through
// the Mapping, wherever it says they are and in whatever shape it allows
// (a role claim may be an array), so a "role" or "tenant_id" claim of
// another shape is no reason to refuse a token.
type tokenClaims struct {
	jwt.RegisteredClaims
}

// Verifier checks bearer tokens. It is safe for concurrent use.
type Verifier struct {
	secret    []byte
	keys      *KeySet
	mapping   Mapping
	parser    *jwt.Parser
	iatLeeway time.Duration
	verified  verifiedCache
}

var hmacAlgorithms = map[string]bool{"HS256": true, "HS384": true, "HS512": true}

// NewVerifier returns a Verifier for cfg, or an error naming the bad setting
// (empty secret, unsupported algorithm).
func NewVerifier(cfg Config) (*Verifier, error) {
	if len(cfg.Secret) == 0 && cfg.Keys == nil {
		return nil, errors.New("auth: the JWT secret is empty and no JWKS is configured")
	}
	if err := cfg.Mapping.Validate(); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	algs, err := algorithms(cfg)
	if err != nil {
		return nil, err
	}
	leeway := cfg.Leeway
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0:
		leeway = 0
	}
	iatLeeway := cfg.IssuedAtLeeway
	switch {
	case iatLeeway == 0:
		iatLeeway = DefaultIssuedAtLeeway
	case iatLeeway < 0:
		iatLeeway = 0
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(append([]string(nil), algs...)),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &Verifier{
		secret:    append([]byte(nil), cfg.Secret...),
		keys:      cfg.Keys,
		mapping:   cfg.Mapping,
		parser:    jwt.NewParser(opts...),
		iatLeeway: iatLeeway,
	}, nil
}

// Verify is VerifyContext with a background context.
func (v *Verifier) Verify(token string) (Claims, error) {
	return v.VerifyContext(context.Background(), token)
}

// MaxTokenBytes bounds a bearer token; a longer one is malformed.
const MaxTokenBytes = 16 << 10

// VerifyContext checks token (the part after "Bearer ") and returns its
// claims, found through the Mapping. HS* tokens are checked with the
// secret, the others with the KeySet (which may refetch for an unknown kid
// within ctx). Claim names are exact; a header or payload repeating a
// member name, a header with "crit", and an iat further in the future than
// the iat leeway are refused. The error wraps one of ErrMissing,
// ErrMalformed, ErrExpired,
// ErrNotYetValid, ErrBadSignature, ErrKeyMismatch, ErrUnknownKey,
// ErrInvalidClaims (ErrRole for a missing or unmapped role) or
// ErrUnavailable.
func (v *Verifier) VerifyContext(ctx context.Context, token string) (Claims, error) {
	if token == "" {
		return Claims{}, ErrMissing
	}
	if len(token) > MaxTokenBytes {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxTokenBytes)
	}
	now, generation := time.Now(), v.keyGeneration()
	if c, ok := v.verified.get(token, generation, now); ok {
		return c, nil
	}
	var tc tokenClaims
	_, err := v.parser.ParseWithClaims(token, &tc, v.keyfunc(ctx))
	if err != nil {
		return Claims{}, classify(err)
	}
	// Signed by a trusted issuer; now the JSON itself must be unambiguous.
	if err := checkSegments(token); err != nil {
		return Claims{}, err
	}
	if tc.IssuedAt != nil && tc.IssuedAt.After(time.Now().Add(v.iatLeeway)) {
		return Claims{}, fmt.Errorf("%w: iat lies in the future", ErrInvalidClaims)
	}
	payload, err := decodePayload(token)
	if err != nil {
		return Claims{}, err
	}
	c, err := v.mapping.claims(payload)
	if err != nil {
		return Claims{}, err
	}
	if tc.ExpiresAt != nil { // required by the parser; checked all the same
		v.verified.put(token, c, generation, tc.ExpiresAt.Time, now)
	}
	return c, nil
}

// keyGeneration is the generation of the JWKS keys (0 without a KeySet).
func (v *Verifier) keyGeneration() uint64 {
	if v.keys == nil {
		return 0
	}
	return v.keys.generation.Load()
}

// keyfunc picks the key for a token by its alg's family: the secret for
// HMAC, the KeySet for the rest (which checks the key's type against alg).
func (v *Verifier) keyfunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		if _, ok := t.Method.(*jwt.SigningMethodHMAC); ok {
			if len(v.secret) == 0 {
				return nil, ErrKeyMismatch
			}
			return v.secret, nil
		}
		if v.keys == nil {
			return nil, ErrKeyMismatch
		}
		return v.keys.Keyfunc(ctx)(t)
	}
}

// decodePayload returns the payload of a compact JWS whose signature has
// been checked, numbers kept exact.
func decodePayload(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: not three segments", ErrMalformed)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, fmt.Errorf("%w: payload is not a JSON object", ErrMalformed)
	}
	return m, nil
}

// algorithms returns the accepted algorithms of cfg, or an error naming
// one that is unknown or has no key to verify it.
func algorithms(cfg Config) ([]string, error) {
	algs := cfg.Algorithms
	if len(algs) == 0 {
		if len(cfg.Secret) > 0 {
			algs = append(algs, "HS256")
		}
		if cfg.Keys != nil {
			algs = append(algs, AsymmetricAlgorithms...)
		}
	}
	for _, a := range algs {
		switch {
		case hmacAlgorithms[a]:
			if len(cfg.Secret) == 0 {
				return nil, fmt.Errorf("auth: JWT algorithm %s needs JWT_SECRET_KEY", a)
			}
		case slices.Contains(AsymmetricAlgorithms, a):
			if cfg.Keys == nil {
				return nil, fmt.Errorf("auth: JWT algorithm %s needs JWT_JWKS_URL or JWT_OIDC_DISCOVERY", a)
			}
		default:
			return nil, fmt.Errorf("auth: JWT algorithm %q is not supported (use HS256, HS384, HS512, %s)", a, strings.Join(AsymmetricAlgorithms, ", "))
		}
	}
	return slices.Clone(algs), nil
}

// classify maps a jwt error to one of the package's classes.
func classify(err error) error {
	var class error
	switch {
	case errors.Is(err, ErrUnavailable):
		class = ErrUnavailable
	case errors.Is(err, ErrUnknownKey):
		class = ErrUnknownKey
	case errors.Is(err, ErrKeyMismatch):
		class = ErrKeyMismatch
	case errors.Is(err, jwt.ErrTokenExpired):
		class = ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		class = ErrNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		class = ErrIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		class = ErrAudience
	case errors.Is(err, jwt.ErrTokenMalformed):
		class = ErrMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		class = ErrBadSignature
	default:
		class = ErrInvalidClaims
	}
	if class == ErrNotYetValid || class == ErrIssuer || class == ErrAudience {
		return fmt.Errorf("%w: %w: %w", class, ErrInvalidClaims, err) // finer classes of invalid claims
	}
	return fmt.Errorf("%w: %w", class, err)
}

// BearerToken extracts the token from an Authorization header value. The
// scheme is matched case-insensitively. An empty header wraps ErrMissing;
// another scheme or an empty token wraps ErrMalformed.
func BearerToken(header string) (string, error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return "", ErrMissing
	}
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("%w: the Authorization header must be \"Bearer <token>\"", ErrMalformed)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", fmt.Errorf("%w: empty bearer token", ErrMalformed)
	}
	return token, nil
}
