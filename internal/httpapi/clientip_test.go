package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mtdb/mtdb/internal/config"
)

// TestPerIPLimitOnByDefaultOutsideDevelopment: staging and production
// limit each client IP unless told otherwise; development does not.
func TestPerIPLimitOnByDefaultOutsideDevelopment(t *testing.T) {
	for env, want := range map[string]float64{"production": 200, "staging": 200, "development": 0} {
		cfg := foundationConfig(t, map[string]string{"ENVIRONMENT": env, "JWT_SECRET_KEY": "0123456789abcdef0123456789abcdef",
			"DATABASE_URL": "postgres://mtdb@127.0.0.1:1/none"})
		if got := cfg.RateLimit.RequestsPerSecond; got != want {
			t.Errorf("%s: RATE_LIMIT_REQUESTS_PER_SECOND defaults to %g, want %g", env, got, want)
		}
	}
}

// TestPerIPLimitAttacks: a flood of unauthenticated health requests from
// one address gets 429 beyond the limit while other addresses are served;
// the probes stay exempt; a client cannot pick its bucket by sending
// X-Forwarded-For or X-Real-IP itself; behind a trusted proxy
// (SERVER_TRUSTED_PROXIES) the client the proxy names has the bucket.
func TestPerIPLimitAttacks(t *testing.T) {
	const burst = 5 // and a rate so low that nothing refills during the test
	limits := map[string]string{"RATE_LIMIT_REQUESTS_PER_SECOND": "0.001", "RATE_LIMIT_BURST": "5"}
	serve := func(s *Server, peer, path string, headers ...string) int {
		req := httptest.NewRequest("GET", path, nil)
		req.RemoteAddr = peer + ":40000"
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	flood := func(t *testing.T, s *Server, peer string, headers ...string) {
		t.Helper()
		for i := range burst {
			if code := serve(s, peer, "/api/v1/health", headers...); code != http.StatusOK {
				t.Fatalf("request %d of the burst from %s %v: %d, want 200", i+1, peer, headers, code)
			}
		}
		if code := serve(s, peer, "/api/v1/health", headers...); code != http.StatusTooManyRequests {
			t.Fatalf("request beyond the burst from %s %v: %d, want 429", peer, headers, code)
		}
	}

	t.Run("no trusted proxy", func(t *testing.T) {
		s, _ := newBareServer(t, limits, nil)
		flood(t, s, "203.0.113.7")
		for _, p := range []string{"/api/v1/health/detailed", "/api/v1/health/database", "/metrics", "/api/v1/tenants"} {
			if code := serve(s, "203.0.113.7", p); code != http.StatusTooManyRequests {
				t.Errorf("%s from the flooding address: %d, want 429", p, code)
			}
		}
		for _, p := range []string{"/health", "/api/v1/health/liveness", "/api/v1/health/readiness"} {
			if code := serve(s, "203.0.113.7", p); code == http.StatusTooManyRequests {
				t.Errorf("probe %s from the flooding address: 429, want it exempt", p)
			}
		}
		if code := serve(s, "203.0.113.8", "/api/v1/health"); code != http.StatusOK {
			t.Errorf("another address: %d, want 200", code)
		}
		// Spoofed headers from an untrusted peer change nothing: the
		// flooding peer stays limited, and cannot spend another's bucket.
		for _, h := range []string{"X-Forwarded-For", "X-Real-IP"} {
			if code := serve(s, "203.0.113.7", "/api/v1/health", h, "198.51.100.1"); code != http.StatusTooManyRequests {
				t.Errorf("flooding address with %s of another client: %d, want 429", h, code)
			}
		}
		flood(t, s, "203.0.113.9", "X-Forwarded-For", "203.0.113.8")
		if code := serve(s, "203.0.113.8", "/api/v1/health"); code != http.StatusOK {
			t.Errorf("the address named by a spoofed header lost its requests: %d, want 200", code)
		}
	})

	t.Run("trusted proxy", func(t *testing.T) {
		env := map[string]string{"SERVER_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.10"}
		for k, v := range limits {
			env[k] = v
		}
		s, _ := newBareServer(t, env, nil)
		// Through the proxy, each client has its bucket.
		flood(t, s, "10.1.2.3", "X-Forwarded-For", "198.51.100.1")
		if code := serve(s, "10.1.2.3", "/api/v1/health", "X-Forwarded-For", "198.51.100.2"); code != http.StatusOK {
			t.Errorf("another client through the same proxy: %d, want 200", code)
		}
		// The rightmost address that is not a trusted proxy is the client:
		// what the client itself prepended does not count.
		if code := serve(s, "10.1.2.3", "/api/v1/health", "X-Forwarded-For", "203.0.113.99, 198.51.100.1, 10.9.9.9"); code != http.StatusTooManyRequests {
			t.Errorf("the limited client through two proxies, with a forged first hop: %d, want 429", code)
		}
		if code := serve(s, "192.0.2.10", "/api/v1/health", "X-Real-IP", "198.51.100.1"); code != http.StatusTooManyRequests {
			t.Errorf("the limited client named by X-Real-IP of a trusted proxy: %d, want 429", code)
		}
		// A peer outside the trusted ranges is its own client.
		if code := serve(s, "203.0.113.50", "/api/v1/health", "X-Forwarded-For", "198.51.100.1"); code != http.StatusOK {
			t.Errorf("untrusted peer naming the limited client: %d, want 200 (its own bucket)", code)
		}
		// The proxy itself, without a header, is one more client.
		if code := serve(s, "10.1.2.3", "/api/v1/health"); code != http.StatusOK {
			t.Errorf("the proxy's own request: %d, want 200", code)
		}
	})
}

// TestTrustedProxiesRefusesGarbage: a bad SERVER_TRUSTED_PROXIES entry is
// a configuration error naming the setting.
func TestTrustedProxiesRefusesGarbage(t *testing.T) {
	t.Chdir(t.TempDir())
	env := map[string]string{"SERVER_TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"}
	_, err := config.Load(config.Options{Getenv: func(k string) string { return env[k] }})
	var se *config.SettingError
	if !errors.As(err, &se) || se.Setting != "SERVER_TRUSTED_PROXIES" {
		t.Fatalf("Load: %v, want a SettingError for SERVER_TRUSTED_PROXIES", err)
	}
}
