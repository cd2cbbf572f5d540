package config

import (
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// A setting is one configuration key, declared once: its key (and so its
// environment variable), its default per environment, how its string is
// parsed into the typed Config field, how it is shown (masked or not) and
// what it means. Load, defaults, String and LogValue all walk this table,
// so a setting cannot be read but forgotten in the log, or vice versa.
type setting struct {
	key    string // config-file key; the environment variable is EnvName(key)
	def    string // built-in default in every environment...
	devDef string // ...except development, when hasDev
	hasDev bool
	desc   string

	// field returns a pointer to the Config field the value is parsed into:
	// *string, *bool, *int, *int32, *float64, *time.Duration, *int64 (a byte
	// size such as 1MiB) or *[]string (comma-separated).
	field  func(c *Config) any
	lo, hi int      // inclusive range of an integer
	zeroOK bool     // a duration of 0 is allowed (off)
	oneOf  []string // allowed values of a string (compared lower-cased)
	mask   masking
}

// masking says how a value is rendered for String and LogValue.
type masking int

const (
	plain     masking = iota
	maskedURL         // password in a URL or key=value string replaced
	secret            // never shown; only its length
)

// dev returns s with a development default.
func (s setting) dev(def string) setting { s.devDef, s.hasDev = def, true; return s }

// settings declares every setting, in the order they are logged.
var settings = []setting{
	{key: "environment", def: EnvDevelopment, oneOf: []string{EnvDevelopment, EnvStaging, EnvProduction},
		desc: "development, staging or production", field: func(c *Config) any { return &c.Environment }},
	setting{key: "database_url", mask: maskedURL, desc: "PostgreSQL URL the API uses; required outside development",
		field: func(c *Config) any { return &c.DatabaseURL }}.dev(DevDatabaseURL),
	{key: "migration_database_url", mask: maskedURL, desc: "owner URL for migrations; DATABASE_URL when unset",
		field: func(c *Config) any { return &c.MigrationDatabaseURL }},
	{key: "auth_required", def: "true", desc: "require a valid JWT on tenant endpoints; false only in development",
		field: func(c *Config) any { return &c.AuthRequired }},

	setting{key: "jwt.secret_key", mask: secret, desc: "HS256 signing secret; at least 32 bytes outside development",
		field: func(c *Config) any { return &c.JWT.SecretKey }}.dev(DevJWTSecret),
	{key: "jwt.issuer", desc: "required iss claim when set", field: func(c *Config) any { return &c.JWT.Issuer }},
	{key: "jwt.audience", desc: "required aud claim when set", field: func(c *Config) any { return &c.JWT.Audience }},
	{key: "jwt.iat_leeway", def: "60s", zeroOK: true, desc: "how far in the future a token's iat may lie; 0 allows no skew",
		field: func(c *Config) any { return &c.JWT.IatLeeway }},
	{key: "jwt.jwks_url", desc: "comma-separated JWKS URLs of an identity provider (RS/PS/ES/EdDSA tokens)",
		field: func(c *Config) any { return &c.JWT.JWKSURLs }},
	{key: "jwt.oidc_discovery", def: "false", desc: "read jwks_uri from ${JWT_ISSUER}/.well-known/openid-configuration",
		field: func(c *Config) any { return &c.JWT.OIDCDiscovery }},
	{key: "jwt.algorithms", desc: "comma-separated accepted algorithms; default HS256 with a secret plus RS256..EdDSA with a JWKS",
		field: func(c *Config) any { return &c.JWT.Algorithms }},
	{key: "jwt.tenant_claim", def: "tenant_id", desc: "dotted claim path of the tenant (e.g. app_metadata.tenant_id)",
		field: func(c *Config) any { return &c.JWT.TenantClaim }},
	{key: "jwt.role_claim", def: "role", desc: "dotted claim path of the role, a string or an array (e.g. realm_access.roles)",
		field: func(c *Config) any { return &c.JWT.RoleClaim }},
	{key: "jwt.role_map", desc: "provider role to mtdb role, e.g. admin=tenant_admin,viewer=member; set, only mapped names count",
		field: func(c *Config) any { return &c.JWT.RoleMap }},
	{key: "jwt.jwks_cache_min", def: "5m", desc: "shortest time JWKS keys are cached (bounds the provider's max-age)",
		field: func(c *Config) any { return &c.JWT.JWKSCacheMin }},
	{key: "jwt.jwks_cache_max", def: "24h", desc: "longest time JWKS keys are cached before a refresh",
		field: func(c *Config) any { return &c.JWT.JWKSCacheMax }},
	{key: "jwt.jwks_refetch_interval", def: "30s", desc: "least time between JWKS refetches caused by an unknown kid",
		field: func(c *Config) any { return &c.JWT.JWKSRefetchInterval }},
	{key: "api_keys.last_used_interval", def: "30s", desc: "how often API keys' last_used_at is written (one batch)",
		field: func(c *Config) any { return &c.APIKeys.LastUsedInterval }},

	{key: "server.host", def: "0.0.0.0", desc: "listen host", field: func(c *Config) any { return &c.Server.Host }},
	{key: "server.port", def: "8000", lo: 1, hi: 65535, desc: "listen port", field: func(c *Config) any { return &c.Server.Port }},
	{key: "server.read_timeout", def: "15s", desc: "reading a whole request", field: func(c *Config) any { return &c.Server.ReadTimeout }},
	{key: "server.write_timeout", def: "30s", desc: "writing a response", field: func(c *Config) any { return &c.Server.WriteTimeout }},
	{key: "server.idle_timeout", def: "60s", desc: "keep-alive idle time", field: func(c *Config) any { return &c.Server.IdleTimeout }},
	{key: "server.request_timeout", def: "15s", desc: "per-request deadline; past it 504",
		field: func(c *Config) any { return &c.Server.RequestTimeout }},
	{key: "server.shutdown_timeout", def: "20s", desc: "drain time after SIGTERM",
		field: func(c *Config) any { return &c.Server.ShutdownTimeout }},
	// Load balancers see readiness 503 before the listener closes.
	setting{key: "server.shutdown_grace", def: "5s", zeroOK: true, desc: "readiness 503 while still accepting, after SIGTERM",
		field: func(c *Config) any { return &c.Server.ShutdownGrace }}.dev("0s"),
	{key: "server.body_limit", def: "1MiB", desc: "largest request body; larger 413",
		field: func(c *Config) any { return &c.Server.BodyLimit }},
	{key: "server.trusted_proxies", desc: "comma-separated CIDRs/IPs of reverse proxies whose X-Forwarded-For or X-Real-IP names the client (for the per-IP limit and logs); other peers' headers are ignored",
		field: func(c *Config) any { return &c.Server.TrustedProxies }},
	{key: "server.ops_port", def: "0", lo: 0, hi: 65535, desc: "second listener (on SERVER_HOST) for /metrics, /api/v1/health/detailed and /debug/pprof/, which the API port then answers 404; 0 is off (no pprof)",
		field: func(c *Config) any { return &c.Server.OpsPort }},

	setting{key: "cors.allowed_origins", desc: "comma-separated browser origins; * allows any",
		field: func(c *Config) any { return &c.CORS.AllowedOrigins }}.dev("*"),

	{key: "log.level", def: "info", oneOf: []string{"debug", "info", "warn", "error"}, desc: "log level",
		field: func(c *Config) any { return &c.Log.Level }},
	setting{key: "log.format", def: "json", oneOf: []string{"json", "text"}, desc: "json or text (text only in development)",
		field: func(c *Config) any { return &c.Log.Format }}.dev("text"),

	{key: "database.max_conns", def: "10", lo: 1, hi: 10000, desc: "pool size",
		field: func(c *Config) any { return &c.Database.MaxConns }},
	{key: "database.min_conns", def: "0", lo: 0, hi: 10000, desc: "connections kept open",
		field: func(c *Config) any { return &c.Database.MinConns }},
	{key: "database.max_conn_lifetime", def: "1h", desc: "connection lifetime",
		field: func(c *Config) any { return &c.Database.MaxConnLifetime }},
	{key: "database.max_conn_idle_time", def: "30m", desc: "idle connection lifetime",
		field: func(c *Config) any { return &c.Database.MaxConnIdleTime }},
	{key: "database.connect_timeout", def: "5s", desc: "opening a connection",
		field: func(c *Config) any { return &c.Database.ConnectTimeout }},
	{key: "database.acquire_timeout", def: "3s", desc: "waiting for a pooled connection; past it 503",
		field: func(c *Config) any { return &c.Database.AcquireTimeout }},
	{key: "database.statement_timeout", def: "10s", desc: "per statement inside a request; past it 504",
		field: func(c *Config) any { return &c.Database.StatementTimeout }},

	{key: "database.read_url", mask: maskedURL, desc: "PostgreSQL URL of a streaming replica for the reads of GET requests; none when unset",
		field: func(c *Config) any { return &c.Database.ReadURL }},
	{key: "database.read_max_lag", def: "10s", desc: "how far the read replica may be behind the primary before reads go to the primary",
		field: func(c *Config) any { return &c.Database.ReadMaxLag }},
	{key: "database.read_probe_interval", def: "1s", desc: "how often the read replica's state and lag are measured",
		field: func(c *Config) any { return &c.Database.ReadProbeInterval }},
	{key: "database.settings_mode", def: "set_config", oneOf: []string{"set_config", "set_local"},
		desc:  "how each transaction's tenant settings are sent: set_config (one bound statement) or set_local (SET LOCAL, forwarded by Citus)",
		field: func(c *Config) any { return &c.Database.SettingsMode }},

	{key: "health.check_interval", def: "10s", desc: "RLS and migrations re-check, at most 30s",
		field: func(c *Config) any { return &c.Health.CheckInterval }},

	{key: "idempotency.key_retention", def: "24h", desc: "how long Idempotency-Key answers are kept, then purged",
		field: func(c *Config) any { return &c.Idempotency.KeyRetention }},

	{key: "audit.retention", def: "0s", zeroOK: true, desc: "serve deletes audit events older than this in the background (as MIGRATION_DATABASE_URL); 0 keeps them",
		field: func(c *Config) any { return &c.Audit.Retention }},

	// Per client IP: off in development; elsewhere on for every request
	// but the probes (liveness, readiness, /health). Behind a reverse
	// proxy every client shares the proxy's address unless
	// SERVER_TRUSTED_PROXIES names it (docs/operations.md).
	setting{key: "rate_limit.requests_per_second", def: "200", desc: "sustained requests per client IP; 0 is off",
		field: func(c *Config) any { return &c.RateLimit.RequestsPerSecond }}.dev("0"),
	{key: "rate_limit.burst", def: "0", lo: 0, hi: 1000000, desc: "per-IP burst; 0 is ceil(requests_per_second)",
		field: func(c *Config) any { return &c.RateLimit.Burst }},
	// Per tenant: off in development; elsewhere a generous ceiling that only
	// a runaway client reaches (tune it per deployment).
	setting{key: "rate_limit.tenant_requests_per_second", def: "1000", desc: "sustained requests per effective tenant; 0 is off",
		field: func(c *Config) any { return &c.RateLimit.TenantRequestsPerSecond }}.dev("0"),
	setting{key: "rate_limit.tenant_burst", def: "2000", lo: 0, hi: 1000000, desc: "per-tenant burst; 0 is ceil(tenant_requests_per_second)",
		field: func(c *Config) any { return &c.RateLimit.TenantBurst }}.dev("0"),

	{key: "admission.enabled", def: "true", desc: "admission control of the tenant endpoints (503 beyond the limit and the queue)",
		field: func(c *Config) any { return &c.Admission.Enabled }},
	{key: "admission.min_limit", def: "0", lo: 0, hi: 100000, desc: "lower bound of the adaptive limit on requests in flight; 0 is DATABASE_MAX_CONNS",
		field: func(c *Config) any { return &c.Admission.MinLimit }},
	{key: "admission.max_limit", def: "0", lo: 0, hi: 100000, desc: "upper bound of the adaptive limit; 0 is 2 × DATABASE_MAX_CONNS",
		field: func(c *Config) any { return &c.Admission.MaxLimit }},
	{key: "admission.latency_tolerance", def: "1.5", desc: "admitted latency over the low-load baseline before the limit shrinks (1-100)",
		field: func(c *Config) any { return &c.Admission.LatencyTolerance }},
	{key: "admission.max_queue", def: "128", lo: 0, hi: 1000000, desc: "requests waiting for a slot; 0 sheds at once at the limit",
		field: func(c *Config) any { return &c.Admission.MaxQueue }},
	{key: "admission.queue_timeout", def: "20ms", desc: "longest wait for a slot (ten times that for a tenant below its fair share)",
		field: func(c *Config) any { return &c.Admission.QueueTimeout }},
	{key: "admission.tenant_weights", desc: "tenant-uuid=weight,... (default weight 1)",
		field: func(c *Config) any { return &c.Admission.TenantWeights }},
}

// SettingDoc is one setting as `mtdb help` lists it.
type SettingDoc struct {
	Env  string // the environment variable (EnvName of the config key)
	Desc string // what it sets
}

// Docs returns every setting, in the order they are logged.
func Docs() []SettingDoc {
	docs := make([]SettingDoc, len(settings))
	for i, s := range settings {
		docs[i] = SettingDoc{Env: EnvName(s.key), Desc: s.desc}
	}
	return docs
}

// defaultFor returns the built-in default of s in environment env.
func (s setting) defaultFor(env string) string {
	if s.hasDev && env == EnvDevelopment {
		return s.devDef
	}
	return s.def
}

// parse stores raw into s's field of c, or returns the setting's error.
func (s setting) parse(c *Config, raw string) error {
	switch f := s.field(c).(type) {
	case *string:
		if s.oneOf != nil {
			raw = strings.ToLower(raw)
			if !contains(s.oneOf, raw) {
				return settingErr(s.key, "%q is not one of %s", raw, strings.Join(s.oneOf, ", "))
			}
		}
		*f = raw
	case *bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return settingErr(s.key, "%q is not a boolean (use true or false)", raw)
		}
		*f = b
	case *int:
		n, err := s.integer(raw)
		*f = n
		return err
	case *int32:
		n, err := s.integer(raw)
		*f = int32(n)
		return err
	case *float64:
		x, err := strconv.ParseFloat(raw, 64)
		if err != nil || x < 0 || x != x {
			return settingErr(s.key, "%q is not a non-negative number", raw)
		}
		*f = x
	case *time.Duration:
		d, err := time.ParseDuration(raw)
		switch {
		case err != nil && s.zeroOK, d < 0 && s.zeroOK:
			return settingErr(s.key, "%q is not a duration of 0 or more (e.g. 0s, 5s)", raw)
		case err != nil:
			return settingErr(s.key, "%q is not a duration (e.g. 5s, 1m30s)", raw)
		case d <= 0 && !s.zeroOK:
			return settingErr(s.key, "must be positive, got %s", d)
		}
		*f = d
	case *int64:
		n, err := parseSize(raw)
		if err != nil {
			return settingErr(s.key, "%v", err)
		}
		*f = n
	case *[]string:
		*f = nil
		for _, e := range strings.Split(raw, ",") {
			if e = strings.TrimSpace(e); e != "" {
				*f = append(*f, e)
			}
		}
	case *map[string]float64:
		w, err := parseWeights(raw)
		if err != nil {
			return settingErr(s.key, "%v", err)
		}
		*f = w
	default:
		panic(fmt.Sprintf("config: setting %s has an unsupported field type %T", s.key, f))
	}
	return nil
}

func (s setting) integer(raw string) (int, error) {
	n, err := strconv.Atoi(raw)
	if err != nil {
		return 0, settingErr(s.key, "%q is not an integer", raw)
	}
	if n < s.lo || n > s.hi {
		return n, settingErr(s.key, "%d is out of range %d..%d", n, s.lo, s.hi)
	}
	return n, nil
}

// show renders s's value in c, masked as declared.
func (s setting) show(c *Config) string {
	var v string
	switch f := s.field(c).(type) {
	case *string:
		v = *f
	case *[]string:
		v = strings.Join(*f, ",")
	case *time.Duration:
		v = f.String()
	case *float64:
		v = strconv.FormatFloat(*f, 'g', -1, 64)
	case *bool:
		v = strconv.FormatBool(*f)
	case *int:
		v = strconv.Itoa(*f)
	case *int32:
		v = strconv.Itoa(int(*f))
	case *int64:
		v = strconv.FormatInt(*f, 10)
	case *map[string]float64:
		keys := make([]string, 0, len(*f))
		for k := range *f {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			keys[i] = k + "=" + strconv.FormatFloat((*f)[k], 'g', -1, 64)
		}
		v = strings.Join(keys, ",")
	}
	switch s.mask {
	case maskedURL:
		return MaskURL(v)
	case secret:
		return maskSecret(v)
	}
	return v
}

// parseWeights reads "tenant-uuid=weight,..." (canonical UUIDs, positive
// weights) into a map keyed by the lower-case UUID.
func parseWeights(raw string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, item := range strings.Split(raw, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		id, w, ok := strings.Cut(item, "=")
		id = strings.TrimSpace(id)
		u, err := uuid.Parse(id)
		f, ferr := strconv.ParseFloat(strings.TrimSpace(w), 64)
		if !ok || err != nil || len(id) != 36 || ferr != nil || !(f > 0) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%q is not tenant-uuid=weight with a positive weight", item)
		}
		out[u.String()] = f
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// String renders every setting as key=value, secrets masked.
func (c *Config) String() string {
	var b strings.Builder
	for i, s := range settings {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s", s.key, strconv.Quote(s.show(c)))
	}
	return b.String()
}

// LogValue renders every setting for slog, grouped by the key's prefix
// ("server.port" → server: {port: …}), secrets masked.
func (c *Config) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("file", c.File)}
	groups := map[string]int{} // group name → index in attrs
	for _, s := range settings {
		group, name, ok := strings.Cut(s.key, ".")
		if !ok {
			attrs = append(attrs, slog.String(s.key, s.show(c)))
			continue
		}
		i, seen := groups[group]
		if !seen {
			i = len(attrs)
			groups[group] = i
			attrs = append(attrs, slog.Group(group))
		}
		g := attrs[i].Value.Group()
		attrs[i] = slog.Attr{Key: group, Value: slog.GroupValue(append(g, slog.String(name, s.show(c)))...)}
	}
	return slog.GroupValue(attrs...)
}
