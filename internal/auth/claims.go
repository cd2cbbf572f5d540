package auth

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/tenant"
)

// Claim mapping: where an identity provider puts the tenant and the role,
// and how its role names translate to mtdb's (JWT_TENANT_CLAIM,
// JWT_ROLE_CLAIM, JWT_ROLE_MAP).
//
// A claim path is a dotted path into the token's payload. Claim names may
// contain dots themselves (Auth0 namespaces custom claims with a URL such
// as "https://example.com/claims"), so a path is resolved against the keys
// that exist: at each level every prefix of the remaining path that names
// a key is tried, and exactly one complete interpretation must resolve.
// "https://example.com/claims.role" therefore finds
// {"https://example.com/claims": {"role": …}} as well as a flat
// {"https://example.com/claims.role": …}; a payload holding both is
// ambiguous and refused rather than silently picking one (the two could be
// written by different parties, e.g. app_metadata vs user_metadata).
// Names are exact: no case-folding.

// Default claim paths: the contract's own claims.
const (
	DefaultTenantClaim = "tenant_id"
	DefaultRoleClaim   = "role"
)

// Bounds of a claim path: longer or deeper paths are a configuration error.
const (
	maxPathLen  = 256
	maxPathDots = 8
)

// ErrRole is the class of a token that is valid but whose role claim is
// missing or names no mtdb role (after JWT_ROLE_MAP). It also wraps
// ErrInvalidClaims; the HTTP layer answers it with 403, never a default role.
var ErrRole = errors.New("the token carries no role that maps to an mtdb role")

// Mapping says where the tenant and role of a token are and how role names
// translate. The zero value is the contract's: "tenant_id", "role", role
// names as mtdb's own.
type Mapping struct {
	TenantClaim string                 // dotted path; "" means DefaultTenantClaim
	RoleClaim   string                 // dotted path; "" means DefaultRoleClaim
	RoleMap     map[string]tenant.Role // provider role → mtdb role; nil: mtdb names only
}

// ParseRoleMap reads JWT_ROLE_MAP: "admin=tenant_admin,viewer=member".
// Each target must be an mtdb role; a provider name may appear once.
func ParseRoleMap(s string) (map[string]tenant.Role, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	m := map[string]tenant.Role{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		from, to, ok := strings.Cut(pair, "=")
		from, to = strings.TrimSpace(from), strings.TrimSpace(to)
		if !ok || from == "" {
			return nil, fmt.Errorf("%q is not provider_role=mtdb_role", pair)
		}
		r, err := tenant.ParseRole(to)
		if err != nil {
			return nil, fmt.Errorf("%q: %q is not platform_admin, tenant_admin or member", pair, to)
		}
		if _, dup := m[from]; dup {
			return nil, fmt.Errorf("provider role %q is mapped twice", from)
		}
		m[from] = r
	}
	return m, nil
}

// CheckClaimPath returns an error when p cannot be a claim path: empty,
// too long, with an empty segment, or with more than maxPathDots dots.
func CheckClaimPath(p string) error {
	switch {
	case p == "":
		return errors.New("must not be empty")
	case len(p) > maxPathLen:
		return fmt.Errorf("longer than %d bytes", maxPathLen)
	case strings.Count(p, ".") > maxPathDots:
		return fmt.Errorf("more than %d dots", maxPathDots)
	case strings.HasPrefix(p, ".") || strings.HasSuffix(p, ".") || strings.Contains(p, ".."):
		return errors.New("has an empty segment")
	}
	return nil
}

// Validate checks the paths of m (see CheckClaimPath).
func (m Mapping) Validate() error {
	for name, p := range map[string]string{"tenant claim": m.tenantClaim(), "role claim": m.roleClaim()} {
		if err := CheckClaimPath(p); err != nil {
			return fmt.Errorf("%s %q: %w", name, p, err)
		}
	}
	return nil
}

func (m Mapping) tenantClaim() string { return cmpOr(m.TenantClaim, DefaultTenantClaim) }
func (m Mapping) roleClaim() string   { return cmpOr(m.RoleClaim, DefaultRoleClaim) }

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// errAmbiguous reports a path with several interpretations in a payload.
var errAmbiguous = errors.New("the claim path matches more than one claim")

// Resolve returns the value at the dotted path p in payload; ok is false
// when nothing is there. A path with two complete interpretations is an
// error (errAmbiguous).
func Resolve(payload map[string]any, p string) (v any, ok bool, err error) {
	if CheckClaimPath(p) != nil {
		return nil, false, nil
	}
	var found []any
	resolveInto(payload, p, &found)
	switch len(found) {
	case 0:
		return nil, false, nil
	case 1:
		return found[0], true, nil
	}
	return nil, false, errAmbiguous
}

// resolveInto appends to found every value that a complete interpretation
// of p reaches in obj. At most maxPathDots+1 levels and 2^maxPathDots
// interpretations exist, and only keys present are followed.
func resolveInto(obj map[string]any, p string, found *[]any) {
	if v, ok := obj[p]; ok {
		*found = append(*found, v)
	}
	for i := len(p) - 1; i > 0; i-- {
		if p[i] != '.' {
			continue
		}
		child, ok := obj[p[:i]].(map[string]any)
		if ok {
			resolveInto(child, p[i+1:], found)
		}
	}
}

// claims maps a verified payload to Claims: sub, the tenant at the tenant
// path, the role at the role path (a string or an array of strings) through
// the role map. An array may name several roles: those that map to nothing
// are ignored (Keycloak lists offline_access and the like) and the
// strongest mapped role wins. No mapped role is ErrRole.
func (m Mapping) claims(payload map[string]any) (Claims, error) {
	sub, _ := payload["sub"].(string)
	if strings.ContainsRune(sub, 0) { // it becomes app.user_id; PostgreSQL text refuses NUL
		return Claims{}, fmt.Errorf("%w: sub contains a NUL character", ErrInvalidClaims)
	}
	c := Claims{Subject: sub}
	role, err := m.role(payload)
	if err != nil {
		return Claims{}, err
	}
	c.Role = role
	raw, ok, err := Resolve(payload, m.tenantClaim())
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %s: %w", ErrInvalidClaims, m.tenantClaim(), err)
	}
	if ok && raw != nil {
		s, isStr := raw.(string)
		id, perr := uuid.Parse(s)
		if !isStr || len(s) != 36 || perr != nil || id == uuid.Nil {
			return Claims{}, fmt.Errorf("%w: %s is not a valid UUID", ErrInvalidClaims, m.tenantClaim())
		}
		c.TenantID = id
	}
	if err := c.Validate(); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// roleRank orders roles by privilege, for picking the strongest of several.
var roleRank = map[tenant.Role]int{tenant.RoleMember: 1, tenant.RoleTenantAdmin: 2, tenant.RolePlatformAdmin: 3}

func (m Mapping) role(payload map[string]any) (tenant.Role, error) {
	path := m.roleClaim()
	raw, ok, err := Resolve(payload, path)
	if err != nil {
		return "", fmt.Errorf("%w: %w: %s: %w", ErrRole, ErrInvalidClaims, path, err)
	}
	var names []string
	switch t := raw.(type) {
	case string:
		names = []string{t}
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok {
				names = append(names, s)
			}
		}
	}
	if !ok || len(names) == 0 {
		return "", fmt.Errorf("%w: %w: claim %s is missing or not a string or an array of strings", ErrRole, ErrInvalidClaims, path)
	}
	var best tenant.Role
	for _, n := range names {
		r, ok := m.mapRole(n)
		if ok && roleRank[r] > roleRank[best] {
			best = r
		}
	}
	if best == "" {
		sort.Strings(names)
		return "", fmt.Errorf("%w: %w: claim %s names no role that JWT_ROLE_MAP maps", ErrRole, ErrInvalidClaims, path)
	}
	return best, nil
}

// mapRole translates one provider role name: through the role map when one
// is configured, else mtdb's own names only.
func (m Mapping) mapRole(name string) (tenant.Role, bool) {
	if m.RoleMap != nil {
		r, ok := m.RoleMap[name]
		return r, ok
	}
	r, err := tenant.ParseRole(name)
	return r, err == nil
}
