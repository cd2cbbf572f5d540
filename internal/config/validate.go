package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// MinSecretLen is the shortest JWT_SECRET_KEY accepted outside development.
const MinSecretLen = 32

var identRe = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Validate returns a *SettingError for the first setting that is refused:
// an unknown environment, a missing or short JWT secret, AUTH_REQUIRED=false
// or a missing DATABASE_URL outside development, an unparsable database
// URL, a bad log level or format, a port out of range, inconsistent pool
// sizes, or a health check interval over 30s.
func (c *Config) Validate() error {
	switch c.Environment {
	case EnvDevelopment, EnvStaging, EnvProduction:
	default:
		return settingErr("environment", "%q is not one of development, staging, production", c.Environment)
	}
	dev := c.IsDevelopment()
	if !dev {
		if c.JWT.SecretKey == "" {
			return settingErr("jwt.secret_key", "required in %s", c.Environment)
		}
		if len(c.JWT.SecretKey) < MinSecretLen {
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
	}
	if c.JWT.SecretKey == "" {
		return settingErr("jwt.secret_key", "must not be empty")
	}
	if err := checkDatabaseURL(c.DatabaseURL); err != nil {
		return settingErr("database_url", "%v", err)
	}
	if c.MigrationDatabaseURL != "" {
		if err := checkDatabaseURL(c.MigrationDatabaseURL); err != nil {
			return settingErr("migration_database_url", "%v", err)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return settingErr("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "json":
	case "text":
		if !dev { // outside development every log line is one JSON object
			return settingErr("log.format", "text is only allowed in development")
		}
	default:
		return settingErr("log.format", "%q is not one of json, text", c.Log.Format)
	}
	if c.Server.Port < 1 || c.Server.Port > 65535 {
		return settingErr("server.port", "%d is out of range 1..65535", c.Server.Port)
	}
	if c.Server.BodyLimit <= 0 {
		return settingErr("server.body_limit", "must be positive")
	}
	if c.Database.MaxConns < 1 {
		return settingErr("database.max_conns", "must be at least 1")
	}
	if c.Database.MinConns < 0 || c.Database.MinConns > c.Database.MaxConns {
		return settingErr("database.min_conns", "%d must be between 0 and DATABASE_MAX_CONNS (%d)", c.Database.MinConns, c.Database.MaxConns)
	}
	if !identRe.MatchString(c.Database.AppRole) {
		return settingErr("database.app_role", "%q is not a lower-case SQL identifier", c.Database.AppRole)
	}
	if c.Health.CheckInterval <= 0 || c.Health.CheckInterval.Seconds() > 30 {
		return settingErr("health.check_interval", "%s must be positive and at most 30s (readiness must notice a broken RLS within 30s)", c.Health.CheckInterval)
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

// String renders the configuration with secrets masked.
func (c *Config) String() string {
	return fmt.Sprintf("environment=%s database_url=%s migration_database_url=%s auth_required=%t "+
		"jwt.secret_key=%s jwt.issuer=%q jwt.audience=%q server=%s read_timeout=%s write_timeout=%s "+
		"idle_timeout=%s request_timeout=%s shutdown_timeout=%s shutdown_grace=%s body_limit=%d cors.allowed_origins=%q "+
		"log.level=%s log.format=%s database.max_conns=%d database.min_conns=%d database.app_role=%s "+
		"database.acquire_timeout=%s database.statement_timeout=%s health.check_interval=%s "+
		"rate_limit.requests_per_second=%g rate_limit.burst=%d "+
		"rate_limit.tenant_requests_per_second=%g rate_limit.tenant_burst=%d",
		c.Environment, MaskURL(c.DatabaseURL), MaskURL(c.MigrationDatabaseURL), c.AuthRequired,
		maskSecret(c.JWT.SecretKey), c.JWT.Issuer, c.JWT.Audience, c.Server.Addr(), c.Server.ReadTimeout,
		c.Server.WriteTimeout, c.Server.IdleTimeout, c.Server.RequestTimeout, c.Server.ShutdownTimeout, c.Server.ShutdownGrace,
		c.Server.BodyLimit, strings.Join(c.CORS.AllowedOrigins, ","), c.Log.Level, c.Log.Format,
		c.Database.MaxConns, c.Database.MinConns, c.Database.AppRole, c.Database.AcquireTimeout,
		c.Database.StatementTimeout, c.Health.CheckInterval, c.RateLimit.RequestsPerSecond, c.RateLimit.Burst,
		c.RateLimit.TenantRequestsPerSecond, c.RateLimit.TenantBurst)
}

// LogValue renders the configuration for slog with secrets masked.
func (c *Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("environment", c.Environment),
		slog.String("file", c.File),
		slog.String("database_url", MaskURL(c.DatabaseURL)),
		slog.String("migration_database_url", MaskURL(c.MigrationDatabaseURL)),
		slog.Bool("auth_required", c.AuthRequired),
		slog.Group("jwt", "secret_key", maskSecret(c.JWT.SecretKey), "issuer", c.JWT.Issuer, "audience", c.JWT.Audience),
		slog.Group("server", "addr", c.Server.Addr(), "read_timeout", c.Server.ReadTimeout.String(),
			"write_timeout", c.Server.WriteTimeout.String(), "idle_timeout", c.Server.IdleTimeout.String(),
			"request_timeout", c.Server.RequestTimeout.String(), "shutdown_timeout", c.Server.ShutdownTimeout.String(), "shutdown_grace", c.Server.ShutdownGrace.String(),
			"body_limit", c.Server.BodyLimit),
		slog.String("cors_allowed_origins", strings.Join(c.CORS.AllowedOrigins, ",")),
		slog.Group("log", "level", c.Log.Level, "format", c.Log.Format),
		slog.Group("database", "max_conns", c.Database.MaxConns, "min_conns", c.Database.MinConns,
			"max_conn_lifetime", c.Database.MaxConnLifetime.String(), "max_conn_idle_time", c.Database.MaxConnIdleTime.String(),
			"connect_timeout", c.Database.ConnectTimeout.String(), "acquire_timeout", c.Database.AcquireTimeout.String(),
			"statement_timeout", c.Database.StatementTimeout.String(), "app_role", c.Database.AppRole),
		slog.Group("health", "check_interval", c.Health.CheckInterval.String()),
		slog.Group("rate_limit", "requests_per_second", c.RateLimit.RequestsPerSecond, "burst", c.RateLimit.Burst,
			"tenant_requests_per_second", c.RateLimit.TenantRequestsPerSecond, "tenant_burst", c.RateLimit.TenantBurst),
	)
}
