// Package config owns mtdb's settings: the typed Config, where each value
// comes from (flag > environment > config file > built-in default), the
// refusal of unsafe or malformed settings, and the masked rendering that is
// safe to log. It is the only package that touches viper.
package config

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// The environments mtdb knows.
const (
	EnvDevelopment = "development"
	EnvStaging     = "staging"
	EnvProduction  = "production"
)

// DevDatabaseURL is the development default for DATABASE_URL: the local
// PostgreSQL server, database mtdb.
const DevDatabaseURL = "postgres://postgres@127.0.0.1:5432/mtdb?sslmode=disable"

// DevJWTSecret is the fixed signing secret used in development when
// JWT_SECRET_KEY is not set. It is public: never use it anywhere else.
const DevJWTSecret = "mtdb-development-secret-DO-NOT-USE-IN-PRODUCTION"

// Config is the effective configuration of one mtdb process.
type Config struct {
	Environment          string // development, staging or production
	DatabaseURL          string // the URL the API connects with
	MigrationDatabaseURL string // owner URL for migrations; DatabaseURL when unset
	AuthRequired         bool   // require a valid JWT on tenant endpoints

	JWT       JWTConfig
	Server    ServerConfig
	CORS      CORSConfig
	Log       LogConfig
	Database  DatabaseConfig
	Health    HealthConfig
	RateLimit RateLimitConfig
	Admission AdmissionConfig
	Audit     AuditConfig
	APIKeys   APIKeysConfig

	Idempotency IdempotencyConfig

	// Warnings are problems that are allowed but must be shouted about at
	// startup (for example the fixed development JWT secret).
	Warnings []string

	// File is the config file that was read, "" when none.
	File string

	explicit map[string]bool // keys set by flag, env or file (not defaulted)
}

// JWTConfig holds the token verification settings.
type JWTConfig struct {
	SecretKey string        // HS256 secret; masked when printed
	Issuer    string        // required iss claim when non-empty
	Audience  string        // required aud claim when non-empty
	IatLeeway time.Duration // how far in the future a token's iat may lie (JWT_IAT_LEEWAY)

	JWKSURLs            []string      // JWKS documents of an identity provider
	OIDCDiscovery       bool          // read jwks_uri from ${Issuer}/.well-known/openid-configuration
	Algorithms          []string      // accepted algs; empty: HS256 (with a secret) + the asymmetric ones (with a JWKS)
	TenantClaim         string        // dotted claim path of the tenant
	RoleClaim           string        // dotted claim path of the role (a string or an array)
	RoleMap             string        // provider_role=mtdb_role,...
	JWKSCacheMin        time.Duration // lower bound of the provider's max-age
	JWKSCacheMax        time.Duration // upper bound of the provider's max-age
	JWKSRefetchInterval time.Duration // least time between refetches for unknown kids
}

// UsesJWKS reports whether tokens may be verified with a provider's keys.
func (j JWTConfig) UsesJWKS() bool { return len(j.JWKSURLs) > 0 || j.OIDCDiscovery }

// APIKeysConfig holds the API key settings.
type APIKeysConfig struct {
	LastUsedInterval time.Duration // how often last_used_at is written, in one batch
}

// ServerConfig holds the HTTP listener settings.
type ServerConfig struct {
	Host            string
	Port            int
	ReadTimeout     time.Duration
	WriteTimeout    time.Duration
	IdleTimeout     time.Duration
	RequestTimeout  time.Duration // per-request context deadline
	ShutdownTimeout time.Duration // how long in-flight requests may take to drain
	ShutdownGrace   time.Duration // after SIGTERM: readiness 503 while still accepting, before draining
	BodyLimit       int64         // maximum request body in bytes
	// TrustedProxies lists the addresses (CIDRs or single IPs) of reverse
	// proxies whose X-Forwarded-For / X-Real-IP name the client; from any
	// other peer those headers are ignored. Empty: the client is the peer.
	TrustedProxies []string
	// OpsPort, when not 0, is a second listener (on Host) serving /metrics,
	// /api/v1/health/detailed and /debug/pprof/; the API port then answers
	// those 404. 0: no ops listener, and no pprof.
	OpsPort int
}

// TrustedProxyNets parses TrustedProxies; a single IP is a /32 or /128.
func (s ServerConfig) TrustedProxyNets() ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, p := range s.TrustedProxies {
		if !strings.Contains(p, "/") {
			ip := net.ParseIP(p)
			if ip == nil {
				return nil, fmt.Errorf("%q is not an IP address or CIDR", p)
			}
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(p)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR", p)
		}
		out = append(out, n)
	}
	return out, nil
}

// Addr returns host:port for net.Listen.
func (s ServerConfig) Addr() string { return fmt.Sprintf("%s:%d", s.Host, s.Port) }

// CORSConfig holds the allowed browser origins.
type CORSConfig struct {
	AllowedOrigins []string // "*" allows any origin; empty allows none
}

// LogConfig holds the logger settings.
type LogConfig struct {
	Level  string // debug, info, warn or error
	Format string // json or text
}

// DatabaseConfig holds the connection pool and role settings.
type DatabaseConfig struct {
	MaxConns         int32
	MinConns         int32
	MaxConnLifetime  time.Duration
	MaxConnIdleTime  time.Duration
	ConnectTimeout   time.Duration
	AcquireTimeout   time.Duration // waiting for a pooled connection; past it → 503
	StatementTimeout time.Duration // per-statement budget inside request transactions
	SettingsMode     string        // set_config or set_local (DATABASE_SETTINGS_MODE)

	ReadURL           string        // streaming replica for GET requests' reads (DATABASE_READ_URL); "" none
	ReadMaxLag        time.Duration // replica lag beyond which reads go to the primary
	ReadProbeInterval time.Duration // how often the replica's lag is measured
}

// HealthConfig holds the background self-check settings.
type HealthConfig struct {
	CheckInterval time.Duration // how often RLS and migrations are re-checked
}

// IdempotencyConfig holds the Idempotency-Key settings.
type IdempotencyConfig struct {
	KeyRetention time.Duration // how long stored answers are replayed; older ones are purged
}

// AuditConfig holds the audit trail's retention.
type AuditConfig struct {
	// Retention: serve prunes events older than this in the background, as
	// the migration owner; 0 keeps every event.
	Retention time.Duration
}

// RateLimitConfig holds the per-client and per-tenant request rate limits.
type RateLimitConfig struct {
	RequestsPerSecond float64 // sustained rate per client IP; 0 disables the limit
	Burst             int     // requests allowed at once; 0 means ceil(RequestsPerSecond)

	TenantRequestsPerSecond float64 // sustained rate per effective tenant; 0 disables the limit
	TenantBurst             int     // per-tenant burst; 0 means ceil(TenantRequestsPerSecond)
}

// AdmissionConfig holds the overload protection in front of the database
// work (internal/admission): a limit on tenant requests in flight that
// adapts between MinLimit and MaxLimit, a bounded queue with a short
// timeout, and a fair share per tenant for the waiting requests.
type AdmissionConfig struct {
	Enabled          bool
	MinLimit         int                // lower bound of the adaptive limit; 0: see Limits
	MaxLimit         int                // upper bound; 0: see Limits
	LatencyTolerance float64            // admitted latency over the low-load latency before the limit shrinks
	MaxQueue         int                // requests waiting for a slot; 0 sheds at once at the limit
	QueueTimeout     time.Duration      // longest wait for a slot; past it → 503
	TenantWeights    map[string]float64 // tenant id (canonical UUID) → share weight; default 1
}

// Limits returns the bounds of the adaptive limit for a pool of maxConns
// connections: MinLimit, or maxConns when 0 (admitting fewer would leave
// pooled connections idle); MaxLimit, or twice maxConns (at least the
// lower bound) when 0.
func (a AdmissionConfig) Limits(maxConns int32) (lo, hi int) {
	lo, hi = a.MinLimit, a.MaxLimit
	if lo == 0 {
		lo = int(maxConns)
	}
	if hi == 0 {
		hi = max(2*int(maxConns), lo)
	}
	return lo, hi
}

// IsDevelopment reports whether the environment is development.
func (c *Config) IsDevelopment() bool { return c.Environment == EnvDevelopment }

// IsSet reports whether key (e.g. "database_url") was given by a flag, the
// environment or the config file rather than defaulted.
func (c *Config) IsSet(key string) bool { return c.explicit[key] }

// MigrationURL returns the URL migrations run with: MIGRATION_DATABASE_URL,
// else DATABASE_URL.
func (c *Config) MigrationURL() string {
	if c.MigrationDatabaseURL != "" {
		return c.MigrationDatabaseURL
	}
	return c.DatabaseURL
}

// EnvName returns the environment variable for a config key:
// upper-cased with "." replaced by "_" (server.port → SERVER_PORT).
func EnvName(key string) string {
	return strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// SettingError is a refused setting. Setting is the environment variable
// name, which is also how flags and file keys are documented.
type SettingError struct {
	Setting string
	Problem string
}

func (e *SettingError) Error() string {
	return fmt.Sprintf("invalid configuration: %s: %s", e.Setting, e.Problem)
}

func settingErr(key, format string, args ...any) *SettingError {
	return &SettingError{Setting: EnvName(key), Problem: fmt.Sprintf(format, args...)}
}
