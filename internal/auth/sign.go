package auth

import (
	"errors"
	"fmt"
	"slices"
	"sort"
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
	s := Signer{Method: jwt.SigningMethodHS256, Key: secret, Issuer: issuer, Audience: audience}
	return s.Sign(c, ttl)
}

// Signer mints tokens as an identity provider would, for development and
// tests: with Method and Key (a secret for HS*, a private key otherwise),
// an optional kid, and the tenant and role at the Mapping's paths (the role
// translated back through its role map).
type Signer struct {
	Method           jwt.SigningMethod
	Key              any
	KeyID            string
	Issuer, Audience string
	Mapping          Mapping
}

// NewSigner returns a Signer for alg with the PEM private key pemKey
// (RS256/384/512 and PS256: RSA; ES256/384: EC P-256/P-384; EdDSA: Ed25519).
func NewSigner(alg string, pemKey []byte) (Signer, error) {
	if !slices.Contains(AsymmetricAlgorithms, alg) {
		return Signer{}, fmt.Errorf("auth: %q is not one of %v", alg, AsymmetricAlgorithms)
	}
	var (
		key any
		err error
	)
	switch alg[:2] {
	case "RS", "PS":
		key, err = jwt.ParseRSAPrivateKeyFromPEM(pemKey)
	case "ES":
		key, err = jwt.ParseECPrivateKeyFromPEM(pemKey)
	default:
		key, err = jwt.ParseEdPrivateKeyFromPEM(pemKey)
	}
	if err != nil {
		return Signer{}, fmt.Errorf("auth: the key is not a PEM private key for %s: %w", alg, err)
	}
	return Signer{Method: jwt.GetSigningMethod(alg), Key: key}, nil
}

// Sign mints a token for c valid from now for ttl. It refuses incoherent
// claims, a non-positive ttl, and a role the role map cannot express.
func (s Signer) Sign(c Claims, ttl time.Duration) (string, error) {
	if ttl <= 0 {
		return "", errors.New("auth: the token lifetime must be positive")
	}
	if err := c.Validate(); err != nil {
		return "", err
	}
	role := string(c.Role)
	if s.Mapping.RoleMap != nil {
		var names []string
		for name, r := range s.Mapping.RoleMap {
			if r == c.Role {
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			return "", fmt.Errorf("auth: JWT_ROLE_MAP maps no provider role to %s", c.Role)
		}
		sort.Strings(names)
		role = names[0]
	}
	now := time.Now()
	// Claim paths are written as flat keys: Resolve finds a key equal to
	// the whole path first, whatever dots it holds.
	claims := jwt.MapClaims{
		"sub":                 c.Subject,
		"iat":                 now.Unix(),
		"exp":                 now.Add(ttl).Unix(),
		s.Mapping.roleClaim(): role,
	}
	if s.Issuer != "" {
		claims["iss"] = s.Issuer
	}
	if s.Audience != "" {
		claims["aud"] = s.Audience
	}
	if c.TenantID != uuid.Nil {
		claims[s.Mapping.tenantClaim()] = c.TenantID.String()
	}
	tok := jwt.NewWithClaims(s.Method, claims)
	if s.KeyID != "" {
		tok.Header["kid"] = s.KeyID
	}
	return tok.SignedString(s.Key)
}
