package config

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/viper"
)

// Options says where Load looks for values.
type Options struct {
	// Getenv reads the environment; os.Getenv when nil. An empty value
	// counts as unset.
	Getenv func(string) string
	// File is the config file named by --config; when empty CONFIG_FILE is
	// used, else ./config.yaml when it exists.
	File string
	// Flags holds values given on the command line, by config key
	// ("server.port"). Only flags the user actually set belong here.
	Flags map[string]string
}

// Keys lists every configuration key. Each maps to the environment variable
// EnvName(key).
var Keys = []string{
	"environment", "database_url", "migration_database_url", "auth_required",
	"jwt.secret_key", "jwt.issuer", "jwt.audience",
	"server.host", "server.port", "server.read_timeout", "server.write_timeout",
	"server.idle_timeout", "server.request_timeout", "server.shutdown_timeout", "server.shutdown_grace",
	"server.body_limit",
	"cors.allowed_origins",
	"log.level", "log.format",
	"database.max_conns", "database.min_conns", "database.max_conn_lifetime",
	"database.max_conn_idle_time", "database.connect_timeout",
	"database.acquire_timeout", "database.statement_timeout", "database.app_role",
	"health.check_interval",
	"rate_limit.requests_per_second", "rate_limit.burst",
	"rate_limit.tenant_requests_per_second", "rate_limit.tenant_burst",
}

// defaults returns the built-in default of every key for an environment.
func defaults(env string) map[string]string {
	d := map[string]string{
		"environment":                    EnvDevelopment,
		"auth_required":                  "true",
		"server.host":                    "0.0.0.0",
		"server.port":                    "8000",
		"server.read_timeout":            "15s",
		"server.write_timeout":           "30s",
		"server.idle_timeout":            "60s",
		"server.request_timeout":         "15s",
		"server.shutdown_timeout":        "20s",
		"server.shutdown_grace":          "5s", // load balancers see readiness 503 before the listener closes
		"server.body_limit":              "1MiB",
		"log.level":                      "info",
		"log.format":                     "json",
		"database.max_conns":             "10",
		"database.min_conns":             "0",
		"database.max_conn_lifetime":     "1h",
		"database.max_conn_idle_time":    "30m",
		"database.connect_timeout":       "5s",
		"database.acquire_timeout":       "3s",
		"database.statement_timeout":     "10s",
		"database.app_role":              "mtdb_app",
		"health.check_interval":          "10s",
		"rate_limit.requests_per_second": "0",
		"rate_limit.burst":               "0",
		// Per tenant: off in development; elsewhere a generous ceiling that only
		// a runaway client reaches (tune it per deployment).
		"rate_limit.tenant_requests_per_second": "1000",
		"rate_limit.tenant_burst":               "2000",
	}
	if env == EnvDevelopment {
		d["database_url"] = DevDatabaseURL
		d["jwt.secret_key"] = DevJWTSecret
		d["cors.allowed_origins"] = "*"
		d["log.format"] = "text"
		d["rate_limit.tenant_requests_per_second"] = "0"
		d["server.shutdown_grace"] = "0s"
		d["rate_limit.tenant_burst"] = "0"
	}
	return d
}

// Load builds the effective configuration from flags, environment, config
// file and defaults, then validates it. Every returned error that concerns
// a setting is a *SettingError naming it.
func Load(opts Options) (*Config, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	// Environment variables are read through getenv (not viper's
	// AutomaticEnv) so that callers and tests can supply their own.
	v := viper.New()
	file := opts.File
	if file == "" {
		file = getenv("CONFIG_FILE")
	}
	if file != "" {
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return nil, &SettingError{Setting: "CONFIG_FILE", Problem: fmt.Sprintf("cannot read %s: %v", file, err)}
		}
	} else if _, err := os.Stat("config.yaml"); err == nil {
		file = "config.yaml"
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return nil, &SettingError{Setting: "CONFIG_FILE", Problem: fmt.Sprintf("cannot read %s: %v", file, err)}
		}
	}

	explicit := map[string]bool{}
	lookup := func(key string) (string, bool) {
		if s, ok := opts.Flags[key]; ok {
			return s, true
		}
		if s := getenv(EnvName(key)); s != "" {
			return s, true
		}
		if v.IsSet(key) {
			return fileString(v.Get(key)), true
		}
		return "", false
	}
	raw := map[string]string{}
	for _, k := range Keys {
		if s, ok := lookup(k); ok {
			raw[k] = strings.TrimSpace(s)
			explicit[k] = true
		}
	}
	env := raw["environment"]
	if env == "" {
		env = EnvDevelopment
	}
	for k, d := range defaults(env) {
		if _, ok := raw[k]; !ok {
			raw[k] = d
		}
	}
	cfg, err := parse(raw)
	if err != nil {
		return nil, err
	}
	cfg.File = file
	cfg.explicit = explicit
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Warnings = append(warnings(cfg), unknownFileKeys(v, file)...)
	return cfg, nil
}

// unknownFileKeys warns about each key of the config file that names no
// setting (a typo such as "servr.port" would otherwise be ignored without
// a word).
func unknownFileKeys(v *viper.Viper, file string) []string {
	known := make(map[string]bool, len(Keys))
	for _, k := range Keys {
		known[k] = true
	}
	var w []string
	for _, k := range v.AllKeys() {
		if !known[k] {
			w = append(w, fmt.Sprintf("%s: %q is not a known setting; it is ignored", file, k))
		}
	}
	sort.Strings(w)
	return w
}

// fileString renders a value read from the config file as the string an
// environment variable would hold (lists become comma-separated).
func fileString(x any) string {
	switch t := x.(type) {
	case nil:
		return ""
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	case []string:
		return strings.Join(t, ",")
	}
	return fmt.Sprint(x)
}

// parser converts raw strings to typed values, keeping the first error.
type parser struct {
	raw map[string]string
	err error
}

func (p *parser) fail(key, format string, args ...any) {
	if p.err == nil {
		p.err = settingErr(key, format, args...)
	}
}

func (p *parser) str(key string) string { return p.raw[key] }

func (p *parser) boolean(key string) bool {
	b, err := strconv.ParseBool(p.raw[key])
	if err != nil {
		p.fail(key, "%q is not a boolean (use true or false)", p.raw[key])
	}
	return b
}

func (p *parser) integer(key string, lo, hi int) int {
	n, err := strconv.Atoi(p.raw[key])
	if err != nil {
		p.fail(key, "%q is not an integer", p.raw[key])
		return 0
	}
	if n < lo || n > hi {
		p.fail(key, "%d is out of range %d..%d", n, lo, hi)
	}
	return n
}

func (p *parser) float(key string) float64 {
	f, err := strconv.ParseFloat(p.raw[key], 64)
	if err != nil || f < 0 || f != f {
		p.fail(key, "%q is not a non-negative number", p.raw[key])
	}
	return f
}

func (p *parser) duration(key string) time.Duration {
	d, err := time.ParseDuration(p.raw[key])
	if err != nil {
		p.fail(key, "%q is not a duration (e.g. 5s, 1m30s)", p.raw[key])
		return 0
	}
	if d <= 0 {
		p.fail(key, "must be positive, got %s", d)
	}
	return d
}

// nonNegativeDuration is duration that also accepts 0 (off).
func (p *parser) nonNegativeDuration(key string) time.Duration {
	d, err := time.ParseDuration(p.raw[key])
	if err != nil || d < 0 {
		p.fail(key, "%q is not a duration of 0 or more (e.g. 0s, 5s)", p.raw[key])
		return 0
	}
	return d
}

func (p *parser) size(key string) int64 {
	n, err := parseSize(p.raw[key])
	if err != nil {
		p.fail(key, "%v", err)
	}
	return n
}

func (p *parser) list(key string) []string {
	var out []string
	for _, s := range strings.Split(p.raw[key], ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// parseSize reads a byte count: a plain integer or one with a K, M or G
// suffix (KB/KiB etc. are read as powers of 1024).
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, suf := range []struct {
		s string
		m int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(t, suf.s) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, suf.s)), suf.m
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive size (e.g. 1048576, 512K, 1MiB)", s)
	}
	return n * mult, nil
}

func parse(raw map[string]string) (*Config, error) {
	p := &parser{raw: raw}
	c := &Config{
		Environment:          p.str("environment"),
		DatabaseURL:          p.str("database_url"),
		MigrationDatabaseURL: p.str("migration_database_url"),
		AuthRequired:         p.boolean("auth_required"),
		JWT: JWTConfig{
			SecretKey: p.str("jwt.secret_key"),
			Issuer:    p.str("jwt.issuer"),
			Audience:  p.str("jwt.audience"),
		},
		Server: ServerConfig{
			Host:            p.str("server.host"),
			Port:            p.integer("server.port", 1, 65535),
			ReadTimeout:     p.duration("server.read_timeout"),
			WriteTimeout:    p.duration("server.write_timeout"),
			IdleTimeout:     p.duration("server.idle_timeout"),
			RequestTimeout:  p.duration("server.request_timeout"),
			ShutdownTimeout: p.duration("server.shutdown_timeout"),
			ShutdownGrace:   p.nonNegativeDuration("server.shutdown_grace"),
			BodyLimit:       p.size("server.body_limit"),
		},
		CORS: CORSConfig{AllowedOrigins: p.list("cors.allowed_origins")},
		Log:  LogConfig{Level: strings.ToLower(p.str("log.level")), Format: strings.ToLower(p.str("log.format"))},
		Database: DatabaseConfig{
			MaxConns:         int32(p.integer("database.max_conns", 1, 10000)),
			MinConns:         int32(p.integer("database.min_conns", 0, 10000)),
			MaxConnLifetime:  p.duration("database.max_conn_lifetime"),
			MaxConnIdleTime:  p.duration("database.max_conn_idle_time"),
			ConnectTimeout:   p.duration("database.connect_timeout"),
			AcquireTimeout:   p.duration("database.acquire_timeout"),
			StatementTimeout: p.duration("database.statement_timeout"),
			AppRole:          p.str("database.app_role"),
		},
		Health: HealthConfig{CheckInterval: p.duration("health.check_interval")},
		RateLimit: RateLimitConfig{
			RequestsPerSecond: p.float("rate_limit.requests_per_second"),
			Burst:             p.integer("rate_limit.burst", 0, 1000000),

			TenantRequestsPerSecond: p.float("rate_limit.tenant_requests_per_second"),
			TenantBurst:             p.integer("rate_limit.tenant_burst", 0, 1000000),
		},
	}
	if p.err != nil {
		var se *SettingError
		if errors.As(p.err, &se) {
			return nil, se
		}
		return nil, p.err
	}
	return c, nil
}
