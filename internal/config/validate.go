package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mtdb/mtdb/internal/auth"
)

// MinSecretLen is the shortest JWT_SECRET_KEY accepted outside development.
const MinSecretLen = 32

// validate returns a *SettingError for the first setting that is refused
// by a rule beyond its own syntax (which the settings table checks): a
// missing or short JWT secret, AUTH_REQUIRED=false, text logs or a missing
// DATABASE_URL outside development, an unparsable database URL,
// inconsistent pool sizes, a bad app role or a health check interval over
// 30s.
func (c *Config) validate() error {
	dev := c.IsDevelopment()
	if err := c.validateJWT(); err != nil {
		return err
	}
	if !dev {
		if c.JWT.SecretKey == "" && !c.JWT.UsesJWKS() {
			return settingErr("jwt.secret_key", "required in %s (or configure JWT_JWKS_URL / JWT_OIDC_DISCOVERY)", c.Environment)
		}
		if c.JWT.SecretKey != "" && len(c.JWT.SecretKey) < MinSecretLen {
			return settingErr("jwt.secret_key", "must be at least %d bytes in %s (got %d)", MinSecretLen, c.Environment, len(c.JWT.SecretKey))
		}
		if c.JWT.SecretKey == DevJWTSecret {
			return settingErr("jwt.secret_key", "the public development secret is refused in %s", c.Environment)
		}
		if !c.AuthRequired {
			return settingErr("auth_required", "false is only allowed in development")
		}
		if c.DatabaseURL == "" {
			return settingErr("database_url", "required in %s", c.Environment)
		}
		if c.Log.Format == "text" { // outside development every log line is one JSON object
			return settingErr("log.format", "text is only allowed in development")
		}
	}
	if c.JWT.SecretKey == "" && !c.JWT.UsesJWKS() {
		return settingErr("jwt.secret_key", "must not be empty")
	}
	if err := checkDatabaseURL(c.DatabaseURL); err != nil {
		return settingErr("database_url", "%v", err)
	}
	if c.Database.ReadURL != "" {
		if err := checkDatabaseURL(c.Database.ReadURL); err != nil {
			return settingErr("database.read_url", "%v", err)
		}
	}
	if c.MigrationDatabaseURL != "" {
		if err := checkDatabaseURL(c.MigrationDatabaseURL); err != nil {
			return settingErr("migration_database_url", "%v", err)
		}
	}
	if c.Database.MinConns > c.Database.MaxConns {
		return settingErr("database.min_conns", "%d must be between 0 and DATABASE_MAX_CONNS (%d)", c.Database.MinConns, c.Database.MaxConns)
	}
	if lo, hi := c.Admission.Limits(c.Database.MaxConns); lo > hi {
		return settingErr("admission.min_limit", "%d is above ADMISSION_MAX_LIMIT (%d)", lo, hi)
	}
	if t := c.Admission.LatencyTolerance; t < 1 || t > 100 {
		return settingErr("admission.latency_tolerance", "%g must be between 1 and 100", t)
	}
	if _, err := c.Server.TrustedProxyNets(); err != nil {
		return settingErr("server.trusted_proxies", "%v", err)
	}
	if c.Server.OpsPort != 0 && c.Server.OpsPort == c.Server.Port {
		return settingErr("server.ops_port", "%d is SERVER_PORT; the ops listener needs a port of its own", c.Server.OpsPort)
	}
	if c.Health.CheckInterval.Seconds() > 30 {
		return settingErr("health.check_interval", "%s must be at most 30s (readiness must notice a broken RLS within 30s)", c.Health.CheckInterval)
	}
	return nil
}

// validateJWT checks the identity provider settings: URLs, discovery
// with an issuer, algorithms that have a key, claim paths and the role map.
func (c *Config) validateJWT() error {
	j := c.JWT
	for _, u := range j.JWKSURLs {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return settingErr("jwt.jwks_url", "%q is not an http(s) URL", u)
		}
	}
	if j.OIDCDiscovery {
		if p, err := url.Parse(j.Issuer); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return settingErr("jwt.oidc_discovery", "needs JWT_ISSUER set to the issuer's http(s) URL")
		}
	}
	for _, a := range j.Algorithms {
		switch {
		case strings.HasPrefix(a, "HS"):
			if j.SecretKey == "" {
				return settingErr("jwt.algorithms", "%s needs JWT_SECRET_KEY", a)
			}
		case slices.Contains(auth.AsymmetricAlgorithms, a):
			if !j.UsesJWKS() {
				return settingErr("jwt.algorithms", "%s needs JWT_JWKS_URL or JWT_OIDC_DISCOVERY", a)
			}
		}
		if a != "HS256" && a != "HS384" && a != "HS512" && !slices.Contains(auth.AsymmetricAlgorithms, a) {
			return settingErr("jwt.algorithms", "%q is not one of HS256, HS384, HS512, %s", a, strings.Join(auth.AsymmetricAlgorithms, ", "))
		}
	}
	if err := auth.CheckClaimPath(j.TenantClaim); err != nil {
		return settingErr("jwt.tenant_claim", "%q: %v", j.TenantClaim, err)
	}
	if err := auth.CheckClaimPath(j.RoleClaim); err != nil {
		return settingErr("jwt.role_claim", "%q: %v", j.RoleClaim, err)
	}
	if _, err := auth.ParseRoleMap(j.RoleMap); err != nil {
		return settingErr("jwt.role_map", "%v", err)
	}
	if j.JWKSCacheMax < j.JWKSCacheMin {
		return settingErr("jwt.jwks_cache_max", "%s is below JWT_JWKS_CACHE_MIN (%s)", j.JWKSCacheMax, j.JWKSCacheMin)
	}
	return nil
}

// checkDatabaseURL reports whether s is a PostgreSQL connection string pgx
// can parse (it does not connect).
func checkDatabaseURL(s string) error {
	if s == "" {
		return fmt.Errorf("must not be empty")
	}
	if _, err := pgconn.ParseConfig(s); err != nil {
		return fmt.Errorf("cannot be parsed as a PostgreSQL URL")
	}
	return nil
}

// warnings lists what is allowed but dangerous.
func warnings(c *Config) []string {
	var w []string
	if c.JWT.SecretKey == DevJWTSecret {
		w = append(w, "JWT_SECRET_KEY is not set: using the PUBLIC fixed development secret; anyone can mint tokens. NEVER use this outside development")
	} else if len(c.JWT.SecretKey) < MinSecretLen {
		w = append(w, fmt.Sprintf("JWT_SECRET_KEY is shorter than %d bytes; it would be refused outside development", MinSecretLen))
	}
	if !c.AuthRequired {
		w = append(w, "AUTH_REQUIRED=false: tenant endpoints trust the X-Tenant-ID header without a token (development only)")
	}
	return w
}

// MaskURL returns s with any password replaced by "xxxxx". Strings that are
// not URLs are returned with password=... values masked.
func MaskURL(s string) string {
	if s == "" {
		return ""
	}
	if u, err := url.Parse(s); err == nil && u.Scheme != "" {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	fields := strings.Fields(s)
	for i, f := range fields {
		if strings.HasPrefix(strings.ToLower(f), "password=") {
			fields[i] = "password=xxxxx"
		}
	}
	return strings.Join(fields, " ")
}

func maskSecret(s string) string {
	if s == "" {
		return ""
	}
	return fmt.Sprintf("xxxxx (%d bytes)", len(s))
}
