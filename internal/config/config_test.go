package config

import (
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goodSecret = "0123456789abcdef0123456789abcdef"

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// inTempDir runs the test from an empty directory so that a config.yaml of
// the repository is not picked up.
func inTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	return dir
}

func prod(extra map[string]string) map[string]string {
	m := map[string]string{
		"ENVIRONMENT":    "production",
		"JWT_SECRET_KEY": goodSecret,
		"DATABASE_URL":   "postgres://app:pw@db:5432/mtdb",
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestLoadRefuses(t *testing.T) {
	inTempDir(t)
	cases := []struct {
		name    string
		env     map[string]string
		setting string
	}{
		{"unknown environment", map[string]string{"ENVIRONMENT": "prod"}, "ENVIRONMENT"},
		{"missing secret in production", prod(map[string]string{"JWT_SECRET_KEY": ""}), "JWT_SECRET_KEY"},
		{"short secret in production", prod(map[string]string{"JWT_SECRET_KEY": "short"}), "JWT_SECRET_KEY"},
		{"short secret in staging", prod(map[string]string{"ENVIRONMENT": "staging", "JWT_SECRET_KEY": "31bytes-31bytes-31bytes-31bytes"}), "JWT_SECRET_KEY"},
		{"dev secret in production", prod(map[string]string{"JWT_SECRET_KEY": DevJWTSecret}), "JWT_SECRET_KEY"},
		{"auth off in production", prod(map[string]string{"AUTH_REQUIRED": "false"}), "AUTH_REQUIRED"},
		{"missing database url in production", prod(map[string]string{"DATABASE_URL": ""}), "DATABASE_URL"},
		{"unparsable database url", map[string]string{"DATABASE_URL": "postgres://a:b@host:notaport/db"}, "DATABASE_URL"},
		{"unparsable migration url", map[string]string{"MIGRATION_DATABASE_URL": "postgres://%zz"}, "MIGRATION_DATABASE_URL"},
		{"unparsable bool", map[string]string{"AUTH_REQUIRED": "yes please"}, "AUTH_REQUIRED"},
		{"unparsable port", map[string]string{"SERVER_PORT": "eighty"}, "SERVER_PORT"},
		{"port out of range", map[string]string{"SERVER_PORT": "70000"}, "SERVER_PORT"},
		{"port zero", map[string]string{"SERVER_PORT": "0"}, "SERVER_PORT"},
		{"unparsable duration", map[string]string{"SERVER_READ_TIMEOUT": "5 parsecs"}, "SERVER_READ_TIMEOUT"},
		{"negative duration", map[string]string{"SERVER_SHUTDOWN_TIMEOUT": "-1s"}, "SERVER_SHUTDOWN_TIMEOUT"},
		{"unparsable size", map[string]string{"SERVER_BODY_LIMIT": "lots"}, "SERVER_BODY_LIMIT"},
		{"bad log level", map[string]string{"LOG_LEVEL": "verbose"}, "LOG_LEVEL"},
		{"bad log format", map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT"},
		{"text logs in production", prod(map[string]string{"LOG_FORMAT": "text"}), "LOG_FORMAT"},
		{"text logs in staging", prod(map[string]string{"ENVIRONMENT": "staging", "LOG_FORMAT": "text"}), "LOG_FORMAT"},
		{"min conns above max", map[string]string{"DATABASE_MAX_CONNS": "2", "DATABASE_MIN_CONNS": "5"}, "DATABASE_MIN_CONNS"},
		{"unparsable pool size", map[string]string{"DATABASE_MAX_CONNS": "ten"}, "DATABASE_MAX_CONNS"},
		{"health interval over 30s", map[string]string{"HEALTH_CHECK_INTERVAL": "1m"}, "HEALTH_CHECK_INTERVAL"},
		{"negative rate limit", map[string]string{"RATE_LIMIT_REQUESTS_PER_SECOND": "-1"}, "RATE_LIMIT_REQUESTS_PER_SECOND"},
		{"unparsable burst", map[string]string{"RATE_LIMIT_BURST": "many"}, "RATE_LIMIT_BURST"},
		{"missing config file", map[string]string{"CONFIG_FILE": "/nonexistent/mtdb.yaml"}, "CONFIG_FILE"},
		{"JWKS URL not http(s)", map[string]string{"JWT_JWKS_URL": "https://idp.example.com/jwks.json,ftp://idp.example.com/jwks"}, "JWT_JWKS_URL"},
		{"OIDC discovery without issuer", map[string]string{"JWT_OIDC_DISCOVERY": "true"}, "JWT_OIDC_DISCOVERY"},
		{"unparsable OIDC discovery", map[string]string{"JWT_OIDC_DISCOVERY": "sure"}, "JWT_OIDC_DISCOVERY"},
		{"algorithm none", map[string]string{"JWT_ALGORITHMS": "HS256,none"}, "JWT_ALGORITHMS"},
		{"asymmetric algorithm without JWKS", map[string]string{"JWT_ALGORITHMS": "RS256"}, "JWT_ALGORITHMS"},
		{"HS256 without secret beside a JWKS", prod(map[string]string{"JWT_SECRET_KEY": "", "JWT_JWKS_URL": "https://idp.example.com/jwks.json", "JWT_ALGORITHMS": "HS256"}), "JWT_ALGORITHMS"},
		{"empty claim path segment", map[string]string{"JWT_ROLE_CLAIM": "realm_access..roles"}, "JWT_ROLE_CLAIM"},
		{"tenant claim path too deep", map[string]string{"JWT_TENANT_CLAIM": "a.b.c.d.e.f.g.h.i.j"}, "JWT_TENANT_CLAIM"},
		{"role map to an unknown role", map[string]string{"JWT_ROLE_MAP": "admin=owner"}, "JWT_ROLE_MAP"},
		{"role map naming a provider role twice", map[string]string{"JWT_ROLE_MAP": "admin=tenant_admin,admin=member"}, "JWT_ROLE_MAP"},
		{"JWKS cache max below min", map[string]string{"JWT_JWKS_CACHE_MIN": "1h", "JWT_JWKS_CACHE_MAX": "5m"}, "JWT_JWKS_CACHE_MAX"},
		{"zero refetch interval", map[string]string{"JWT_JWKS_REFETCH_INTERVAL": "0s"}, "JWT_JWKS_REFETCH_INTERVAL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(Options{Getenv: envFunc(tc.env)})
			if err == nil {
				t.Fatalf("Load accepted the configuration: %s", cfg)
			}
			var se *SettingError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T) is not a *SettingError", err, err)
			}
			if se.Setting != tc.setting {
				t.Fatalf("error names %s, want %s: %v", se.Setting, tc.setting, err)
			}
			if !strings.Contains(err.Error(), tc.setting) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("message %q must be one line naming %s", err, tc.setting)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	inTempDir(t)
	dev, err := Load(Options{Getenv: envFunc(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if dev.Environment != EnvDevelopment || dev.DatabaseURL != DevDatabaseURL || dev.JWT.SecretKey != DevJWTSecret ||
		dev.Log.Format != "text" || len(dev.CORS.AllowedOrigins) != 1 || dev.CORS.AllowedOrigins[0] != "*" ||
		!dev.AuthRequired || dev.Server.Port != 8000 || dev.Server.Host != "0.0.0.0" {
		t.Fatalf("unexpected development defaults: %s", dev)
	}
	if len(dev.Warnings) == 0 || !strings.Contains(dev.Warnings[0], "JWT_SECRET_KEY") {
		t.Fatalf("development secret must come with a warning, got %q", dev.Warnings)
	}
	if dev.IsSet("database_url") {
		t.Fatal("defaulted database_url reported as set")
	}
	p, err := Load(Options{Getenv: envFunc(prod(nil))})
	if err != nil {
		t.Fatal(err)
	}
	if p.Log.Format != "json" || len(p.CORS.AllowedOrigins) != 0 || len(p.Warnings) != 0 || !p.IsSet("database_url") {
		t.Fatalf("unexpected production defaults: %s warnings=%q", p, p.Warnings)
	}
	if p.MigrationURL() != p.DatabaseURL {
		t.Fatalf("MigrationURL should default to DATABASE_URL")
	}
}

func TestPrecedence(t *testing.T) {
	dir := inTempDir(t)
	file := filepath.Join(dir, "other.yaml")
	writeFile(t, file, "server:\n  port: 7001\n  host: 10.0.0.1\nlog:\n  level: warn\ncors:\n  allowed_origins: [\"https://a.example\", \"https://b.example\"]\n")
	writeFile(t, filepath.Join(dir, "config.yaml"), "server:\n  port: 7002\n  request_timeout: 3s\n")
	env := map[string]string{"SERVER_PORT": "7003", "SERVER_HOST": "127.0.0.2"}
	flags := map[string]string{"server.port": "7004"}

	cases := []struct {
		name     string
		opts     Options
		wantPort int
		wantHost string
	}{
		{"default", Options{Getenv: envFunc(nil), File: filepath.Join(dir, "empty.yaml")}, 8000, "0.0.0.0"},
		{"cwd config.yaml over default", Options{Getenv: envFunc(nil)}, 7002, "0.0.0.0"},
		{"--config file over default", Options{Getenv: envFunc(nil), File: file}, 7001, "10.0.0.1"},
		{"CONFIG_FILE names the file", Options{Getenv: envFunc(map[string]string{"CONFIG_FILE": file})}, 7001, "10.0.0.1"},
		{"env over file", Options{Getenv: envFunc(env), File: file}, 7003, "127.0.0.2"},
		{"flag over env", Options{Getenv: envFunc(env), File: file, Flags: flags}, 7004, "127.0.0.2"},
	}
	writeFile(t, filepath.Join(dir, "empty.yaml"), "{}\n")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Server.Port != tc.wantPort || cfg.Server.Host != tc.wantHost {
				t.Fatalf("got %s, want %s:%d", cfg.Server.Addr(), tc.wantHost, tc.wantPort)
			}
		})
	}
	cfg, err := Load(Options{Getenv: envFunc(nil), File: file})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Log.Level != "warn" || strings.Join(cfg.CORS.AllowedOrigins, " ") != "https://a.example https://b.example" {
		t.Fatalf("file values not read: %s", cfg)
	}
}

func TestProcessEnvironment(t *testing.T) {
	inTempDir(t)
	t.Setenv("SERVER_REQUEST_TIMEOUT", "2s")
	t.Setenv("CORS_ALLOWED_ORIGINS", "https://x.example, https://y.example")
	cfg, err := Load(Options{}) // nil Getenv reads the process environment
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.RequestTimeout != 2*time.Second || len(cfg.CORS.AllowedOrigins) != 2 {
		t.Fatalf("environment not read: %s", cfg)
	}
}

func TestMasking(t *testing.T) {
	inTempDir(t)
	cfg, err := Load(Options{Getenv: envFunc(prod(map[string]string{
		"DATABASE_URL":           "postgres://app:hunter2hunter2@db:5432/mtdb?sslmode=disable",
		"MIGRATION_DATABASE_URL": "host=db user=owner password=s3cr3tpass dbname=mtdb",
	}))})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("config", "config", cfg)
	for _, out := range []string{cfg.String(), b.String()} {
		for _, secret := range []string{goodSecret, "hunter2hunter2", "s3cr3tpass"} {
			if strings.Contains(out, secret) {
				t.Fatalf("secret %q leaked in %s", secret, out)
			}
		}
		if !strings.Contains(out, "db:5432") {
			t.Fatalf("masked output lost the host: %s", out)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownFileKeysWarn(t *testing.T) {
	pkgDir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := inTempDir(t)
	file := filepath.Join(dir, "typo.yaml")
	writeFile(t, file, "servr:\n  port: 7001\nserver:\n  host: 127.0.0.1\n  prot: 9\n")
	cfg, err := Load(Options{Getenv: envFunc(nil), File: file})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(cfg.Warnings, "\n")
	for _, key := range []string{`"servr.port"`, `"server.prot"`} {
		if !strings.Contains(got, key) {
			t.Errorf("no warning names %s: %q", key, cfg.Warnings)
		}
	}
	if strings.Contains(got, "server.host") || cfg.Server.Host != "127.0.0.1" {
		t.Errorf("a known key is reported or not read: %q, host %s", cfg.Warnings, cfg.Server.Host)
	}
	// The repository's own config.yaml names only known settings.
	repo, err := Load(Options{Getenv: envFunc(nil), File: filepath.Join(pkgDir, "..", "..", "config.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range repo.Warnings {
		if strings.Contains(w, "not a known setting") {
			t.Errorf("config.yaml: %s", w)
		}
	}
}

// TestEverySettingShownSecretsNever guards the settings table against the
// drift it replaced: every declared setting appears in String and in the
// JSON log line, and no secret value does.
func TestEverySettingShownSecretsNever(t *testing.T) {
	inTempDir(t)
	env := prod(map[string]string{
		"DATABASE_URL":           "postgres://app:hunter2hunter2@db:5432/mtdb",
		"MIGRATION_DATABASE_URL": "postgres://owner:ownerpass99@db:5432/mtdb?password=querypass77",
		"JWT_SECRET_KEY":         "a-very-secret-signing-key-of-40-bytes-xx",
	})
	cfg, err := Load(Options{Getenv: envFunc(env)})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("config", "config", cfg)
	var logged struct{ Config map[string]any }
	if err := json.Unmarshal([]byte(b.String()), &logged); err != nil {
		t.Fatal(err)
	}
	str := cfg.String()
	for _, s := range settings {
		if !strings.Contains(str, s.key+"=") {
			t.Errorf("String lacks %s: %s", s.key, str)
		}
		var v any = logged.Config
		for _, part := range strings.Split(s.key, ".") {
			m, _ := v.(map[string]any)
			v = m[part]
		}
		if v == nil {
			t.Errorf("the log line lacks %s: %s", s.key, b.String())
		}
	}
	for _, leak := range []string{"hunter2hunter2", "ownerpass99", "querypass77", env["JWT_SECRET_KEY"]} {
		if strings.Contains(str, leak) || strings.Contains(b.String(), leak) {
			t.Errorf("secret %q leaked:\n%s\n%s", leak, str, b.String())
		}
	}
}

// TestEverySettingDocumented: the README's configuration table names every
// setting's environment variable.
func TestEverySettingDocumented(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		if !strings.Contains(string(readme), "`"+EnvName(s.key)+"`") {
			t.Errorf("README.md does not document %s (%s)", EnvName(s.key), s.desc)
		}
	}
}

func TestCommandDefaults(t *testing.T) {
	dir := inTempDir(t)
	opts := Options{Getenv: envFunc(nil), Defaults: map[string]string{"server.host": "127.0.0.1"}}
	cfg, err := Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Host != "127.0.0.1" || cfg.IsSet("server.host") {
		t.Fatalf("command default not used: host %s, set %t", cfg.Server.Host, cfg.IsSet("server.host"))
	}
	writeFile(t, filepath.Join(dir, "config.yaml"), "server:\n  host: 10.1.1.1\n")
	if cfg, err = Load(opts); err != nil || cfg.Server.Host != "10.1.1.1" {
		t.Fatalf("the config file must rank above a command default: %v %v", cfg, err)
	}
}

// TestIdentitySettings: the identity provider settings under the names the
// README gives them; a JWKS alone suffices outside development.
func TestIdentitySettings(t *testing.T) {
	inTempDir(t)
	cfg, err := Load(Options{Getenv: envFunc(prod(map[string]string{
		"JWT_SECRET_KEY":            "",
		"JWT_JWKS_URL":              " https://a.example.com/jwks.json , https://b.example.com/jwks.json,",
		"JWT_OIDC_DISCOVERY":        "true",
		"JWT_ISSUER":                "https://idp.example.com/",
		"JWT_ALGORITHMS":            "RS256,ES256,EdDSA",
		"JWT_TENANT_CLAIM":          "https://example.com/claims.tenant_id",
		"JWT_ROLE_CLAIM":            "realm_access.roles",
		"JWT_ROLE_MAP":              "admin=tenant_admin,viewer=member",
		"JWT_JWKS_CACHE_MIN":        "1m",
		"JWT_JWKS_CACHE_MAX":        "1h",
		"JWT_JWKS_REFETCH_INTERVAL": "10s",
	}))})
	if err != nil {
		t.Fatal(err)
	}
	j := cfg.JWT
	if strings.Join(j.JWKSURLs, " ") != "https://a.example.com/jwks.json https://b.example.com/jwks.json" ||
		!j.OIDCDiscovery || j.Issuer != "https://idp.example.com/" || strings.Join(j.Algorithms, " ") != "RS256 ES256 EdDSA" ||
		j.TenantClaim != "https://example.com/claims.tenant_id" || j.RoleClaim != "realm_access.roles" ||
		j.RoleMap != "admin=tenant_admin,viewer=member" || j.JWKSCacheMin != time.Minute || j.JWKSCacheMax != time.Hour ||
		j.JWKSRefetchInterval != 10*time.Second || !j.UsesJWKS() {
		t.Fatalf("JWT settings read as %+v", j)
	}
}
