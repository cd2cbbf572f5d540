package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// APIKeyPrefix starts every mtdb API key; a bearer credential with it is
// an API key, anything else a JWT.
const APIKeyPrefix = "mtdb_"

// APIKeyHeader is the other header an API key may come in.
const APIKeyHeader = "X-API-Key"

// Errors of API keys.
var (
	ErrAPIKeyInvalid = errors.New("the API key is unknown or revoked")
	ErrAPIKeyExpired = errors.New("the API key has expired")
)

// Authenticator turns a presented credential (a JWT or an API key) into
// verified claims. Errors wrap the package's classes (ErrUnavailable, or an
// *errs.Error of the database, for what is not the caller's fault).
type Authenticator interface {
	Authenticate(ctx context.Context, credential string) (Claims, error)
}

// Authenticate verifies a JWT; see VerifyContext.
func (v *Verifier) Authenticate(ctx context.Context, token string) (Claims, error) {
	return v.VerifyContext(ctx, token)
}

// Credentials authenticates both kinds of credential: API keys (by their
// prefix) with APIKeys, JWTs with Tokens. A nil member refuses its kind.
type Credentials struct {
	Tokens  *Verifier
	APIKeys Authenticator
}

// Authenticate dispatches credential by its kind.
func (c Credentials) Authenticate(ctx context.Context, credential string) (Claims, error) {
	if strings.HasPrefix(credential, APIKeyPrefix) {
		if c.APIKeys == nil {
			return Claims{}, ErrAPIKeyInvalid
		}
		return c.APIKeys.Authenticate(ctx, credential)
	}
	if c.Tokens == nil {
		return Claims{}, fmt.Errorf("%w: only API keys are accepted", ErrMalformed)
	}
	return c.Tokens.VerifyContext(ctx, credential)
}

// Credential returns the one credential of a request: the bearer token of
// its Authorization header, or its X-API-Key. None wraps ErrMissing; two
// (either header repeated, or both headers) wrap ErrMalformed, since a
// proxy or a log may have looked at another one than the one served.
func Credential(h http.Header) (string, error) {
	auths, keys := h.Values("Authorization"), h.Values(APIKeyHeader)
	switch {
	case len(auths) > 1 || len(keys) > 1:
		return "", fmt.Errorf("%w: send exactly one Authorization or X-API-Key header", ErrMalformed)
	case len(auths) == 1 && len(keys) == 1:
		return "", fmt.Errorf("%w: send either Authorization or X-API-Key, not both", ErrMalformed)
	case len(keys) == 1:
		k := strings.TrimSpace(keys[0])
		if k == "" {
			return "", ErrMissing
		}
		if !strings.HasPrefix(k, APIKeyPrefix) {
			return "", fmt.Errorf("%w: X-API-Key must hold an mtdb API key (mtdb_…)", ErrMalformed)
		}
		return k, nil
	}
	return BearerToken(h.Get("Authorization"))
}

// PublicMessage is the client-safe message for an authentication error:
// its problem class, never key material or token content.
func PublicMessage(err error) string {
	switch {
	case errors.Is(err, ErrMissing):
		return "authentication required: send Authorization: Bearer <token or API key>, or X-API-Key"
	case errors.Is(err, ErrUnavailable):
		return "token signing keys are unavailable, retry later"
	case errors.Is(err, ErrAPIKeyExpired):
		return "the API key has expired"
	case errors.Is(err, ErrAPIKeyInvalid):
		return "the API key is invalid or revoked"
	case errors.Is(err, ErrRole):
		return "the token carries no role that maps to an mtdb role (check JWT_ROLE_CLAIM and JWT_ROLE_MAP)"
	case errors.Is(err, ErrExpired):
		return "the token has expired"
	case errors.Is(err, ErrNotYetValid):
		return "the token is not valid yet"
	case errors.Is(err, ErrIssuer):
		return "the token issuer is not accepted"
	case errors.Is(err, ErrAudience):
		return "the token audience is not accepted"
	case errors.Is(err, ErrUnknownKey):
		return "the token names an unknown signing key"
	case errors.Is(err, ErrKeyMismatch):
		return "the token algorithm does not match its signing key"
	case errors.Is(err, ErrBadSignature):
		return "the token signature is invalid"
	case errors.Is(err, ErrInvalidClaims):
		return "the token claims are invalid"
	default:
		return "the token is malformed"
	}
}
