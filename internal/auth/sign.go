package auth

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Sign mints an HS256 token for c, valid from now for ttl, with iss and aud
// set when issuer and audience are not empty. It refuses incoherent claims
// (see Claims.Validate), an empty secret and a non-positive ttl: every token
// must expire.
func Sign(secret []byte, c Claims, ttl time.Duration, issuer, audience string) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("auth: the JWT secret is empty")
	}
	if ttl <= 0 {
		return "", errors.New("auth: the token lifetime must be positive")
	}
	if err := c.Validate(); err != nil {
		return "", err
	}
	now := time.Now()
	tc := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   c.Subject,
			Issuer:    issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Role: string(c.Role),
	}
	if audience != "" {
		tc.Audience = jwt.ClaimStrings{audience}
	}
	if c.TenantID != uuid.Nil {
		tc.TenantID = c.TenantID.String()
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, tc).SignedString(secret)
}
