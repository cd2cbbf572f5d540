// Package auth verifies and mints the bearer tokens (JWT) of mtdb. A token
// names its subject, its role and, for tenant roles, its tenant; only the
// configured HMAC algorithms are accepted, exp is required, iss/aud are
// checked when configured. Every failure is one of a few classified errors,
// all of which the HTTP layer answers with 401.
package auth

import (
	"errors"
	"fmt"
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
)

// DefaultLeeway is the clock skew allowed on exp and nbf when Config.Leeway is 0.
const DefaultLeeway = 5 * time.Second

// DefaultIssuedAtLeeway is how far in the future iat may lie when
// Config.IssuedAtLeeway is 0 (JWT_IAT_LEEWAY).
const DefaultIssuedAtLeeway = 60 * time.Second

// Config configures a Verifier.
type Config struct {
	// Secret is the HMAC key (JWT_SECRET_KEY). Required.
	Secret []byte
	// Issuer and Audience, when not empty, must match the iss and aud claims.
	Issuer, Audience string
	// Algorithms accepted; default ["HS256"]. Only HS256, HS384 and HS512
	// can be verified with a shared secret; anything else is a config error.
	Algorithms []string
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

// tokenClaims is the JSON form of a token's payload.
type tokenClaims struct {
	jwt.RegisteredClaims
	Role     string `json:"role"`
	TenantID string `json:"tenant_id,omitempty"`
}

// Verifier checks bearer tokens. It is safe for concurrent use.
type Verifier struct {
	secret    []byte
	parser    *jwt.Parser
	iatLeeway time.Duration
}

var hmacAlgorithms = map[string]bool{"HS256": true, "HS384": true, "HS512": true}

// NewVerifier returns a Verifier for cfg, or an error naming the bad setting
// (empty secret, unsupported algorithm).
func NewVerifier(cfg Config) (*Verifier, error) {
	if len(cfg.Secret) == 0 {
		return nil, errors.New("auth: the JWT secret is empty")
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = []string{"HS256"}
	}
	for _, a := range algs {
		if !hmacAlgorithms[a] {
			return nil, fmt.Errorf("auth: JWT algorithm %q is not supported (use HS256, HS384 or HS512)", a)
		}
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
		parser:    jwt.NewParser(opts...),
		iatLeeway: iatLeeway,
	}, nil
}

// Verify checks token (the part after "Bearer ") and returns its claims.
// Claim names are exact; a header or payload repeating a member name, a
// header with "crit", and an iat further in the future than the iat leeway
// are refused. The error wraps one of ErrMissing, ErrMalformed,
// ErrExpired, ErrBadSignature or ErrInvalidClaims.
func (v *Verifier) Verify(token string) (Claims, error) {
	if token == "" {
		return Claims{}, ErrMissing
	}
	var tc tokenClaims
	_, err := v.parser.ParseWithClaims(token, &tc, func(t *jwt.Token) (any, error) {
		if _, ok := t.Method.(*jwt.SigningMethodHMAC); !ok {
			return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
		}
		return v.secret, nil
	})
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
	role, err := tenant.ParseRole(tc.Role)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidClaims, err)
	}
	if strings.ContainsRune(tc.Subject, 0) { // it becomes app.user_id; PostgreSQL text refuses NUL
		return Claims{}, fmt.Errorf("%w: sub contains a NUL character", ErrInvalidClaims)
	}
	c := Claims{Subject: tc.Subject, Role: role}
	if tc.TenantID != "" {
		id, err := uuid.Parse(tc.TenantID)
		if err != nil || id == uuid.Nil {
			return Claims{}, fmt.Errorf("%w: tenant_id is not a valid UUID", ErrInvalidClaims)
		}
		c.TenantID = id
	}
	if err := c.Validate(); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// classify maps a jwt error to one of the package's classes.
func classify(err error) error {
	var class error
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		class = ErrExpired
	case errors.Is(err, jwt.ErrTokenMalformed):
		class = ErrMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		class = ErrBadSignature
	default:
		class = ErrInvalidClaims
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
