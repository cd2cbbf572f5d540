package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/config"
	"github.com/mtdb/mtdb/internal/health"
	"github.com/mtdb/mtdb/internal/pgtest"
	"github.com/mtdb/mtdb/internal/tenant"
)

// dbServer is a full Server over a real database, as `mtdb serve` wires it.
type dbServer struct {
	srv     *Server
	base    string
	checker *health.Checker
	logs    *lockedBuffer
}

// lockedBuffer collects log output written by concurrent requests.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newDBServer serves the API over databaseURL with the real checks.
func newDBServer(t *testing.T, databaseURL string, env map[string]string) *dbServer {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	env["DATABASE_URL"] = databaseURL
	cfg := foundationConfig(t, env)
	logs := &lockedBuffer{}
	srv := testServer(t, cfg, slog.New(slog.NewJSONHandler(logs, nil)), "test")
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &dbServer{srv: srv, base: ts.URL, checker: srv.Checker(), logs: logs}
}

func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	res, raw := sendRequest(t, buildRequest(t, "GET", url, nil))
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("GET %s: not JSON: %s", url, raw)
	}
	return res.StatusCode, body
}

func TestHealthEndpointsWithDatabase(t *testing.T) {
	db := pgtest.New(t)
	s := newDBServer(t, db.AppURL, nil)

	st, body := getJSON(t, s.base+"/health")
	if st != 200 || body["status"] != "healthy" {
		t.Fatalf("/health: %d %v", st, body)
	}
	for _, p := range []string{"/api/v1/health", "/api/v1/health/"} {
		st, body = getJSON(t, s.base+p)
		ts, _ := body["timestamp"].(string)
		if _, err := time.Parse(time.RFC3339, ts); st != 200 || body["status"] != "healthy" || body["version"] != "test" ||
			body["environment"] != "development" || err != nil || !strings.HasSuffix(ts, "Z") {
			t.Fatalf("%s: %d %v", p, st, body)
		}
	}
	st, body = getJSON(t, s.base+"/api/v1/health/detailed")
	checks, _ := body["checks"].(map[string]any)
	if st != 200 || body["status"] != "healthy" || checks == nil || body["pool"] == nil || body["uptime_seconds"] == nil || body["version"] != "test" {
		t.Fatalf("/detailed: %d %v", st, body)
	}
	for _, name := range []string{"database", "migrations", "rls"} {
		c, _ := checks[name].(map[string]any)
		if want := map[string]string{"database": "up", "migrations": "ok", "rls": "ok"}[name]; c["status"] != want {
			t.Fatalf("/detailed check %s = %v, want %s", name, c, want)
		}
	}
	st, body = getJSON(t, s.base+"/api/v1/health/database")
	if _, ok := body["latency_ms"].(float64); st != 200 || body["status"] != "up" || !ok {
		t.Fatalf("/database: %d %v", st, body)
	}
	st, body = getJSON(t, s.base+"/api/v1/health/readiness")
	if st != 200 || body["status"] != "ready" {
		t.Fatalf("/readiness: %d %v", st, body)
	}
	st, body = getJSON(t, s.base+"/api/v1/health/liveness")
	if st != 200 || body["status"] != "alive" {
		t.Fatalf("/liveness: %d %v", st, body)
	}
	_, raw := sendRequest(t, buildRequest(t, "GET", s.base+"/metrics", nil))
	if !strings.Contains(string(raw), "mtdb_db_pool_max_conns 4") {
		t.Fatalf("/metrics lacks the pool gauges")
	}
}

func TestMethodNotAllowedAndNotFoundOnResourceRoutes(t *testing.T) {
	db := pgtest.New(t)
	s := newDBServer(t, db.AppURL, nil)
	cases := []struct {
		method, path string
		status       int
		code         string
	}{
		{"DELETE", "/api/v1/tenants", 405, "METHOD_NOT_ALLOWED"},
		{"PUT", "/api/v1/users", 405, "METHOD_NOT_ALLOWED"},
		{"POST", "/api/v1/projects/00000000-0000-0000-0000-000000000001", 405, "METHOD_NOT_ALLOWED"},
		{"GET", "/api/v1/no-such-resource", 404, "NOT_FOUND"},
		{"GET", "/api/v1/tenants", 401, "UNAUTHORIZED"},
	}
	for _, tc := range cases {
		res, raw := sendRequest(t, buildRequest(t, tc.method, s.base+tc.path, nil))
		if res.StatusCode != tc.status || !strings.Contains(string(raw), `"`+tc.code+`"`) {
			t.Errorf("%s %s: %d %s, want %d %s", tc.method, tc.path, res.StatusCode, raw, tc.status, tc.code)
		}
	}
	// With a valid token the tenant endpoints work and 405/404 are unchanged.
	tok, err := auth.Sign([]byte(config.DevJWTSecret), auth.Claims{Subject: "t", Role: tenant.RolePlatformAdmin}, time.Minute, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path string
		status       int
	}{{"GET", "/api/v1/tenants", 200}, {"DELETE", "/api/v1/tenants", 405}, {"GET", "/api/v1/nope", 404}} {
		req := buildRequest(t, tc.method, s.base+tc.path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if res, raw := sendRequest(t, req); res.StatusCode != tc.status {
			t.Errorf("with token %s %s: %d %s, want %d", tc.method, tc.path, res.StatusCode, raw, tc.status)
		}
	}

	// The access log names the effective tenant.
	req := buildRequest(t, "POST", s.base+"/api/v1/tenants", strings.NewReader(`{"name":"Logged Org","tenant_type":"parent"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	res, raw := sendRequest(t, req)
	var created struct {
		TenantID string `json:"tenant_id"`
	}
	if err := json.Unmarshal(raw, &created); res.StatusCode != 201 || err != nil || created.TenantID == "" {
		t.Fatalf("create tenant: %d %s", res.StatusCode, raw)
	}
	req = buildRequest(t, "GET", s.base+"/api/v1/users", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-Tenant-ID", created.TenantID)
	req.Header.Set("X-Request-ID", "tenant-log-check")
	if res, raw := sendRequest(t, req); res.StatusCode != 200 {
		t.Fatalf("list users: %d %s", res.StatusCode, raw)
	}
	found := false
	for _, line := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(line, `"request_id":"tenant-log-check"`) && strings.Contains(line, `"route":"/api/v1/users"`) {
			found = strings.Contains(line, `"tenant_id":"`+created.TenantID+`"`)
		}
	}
	if !found {
		t.Fatalf("access log line lacks tenant_id %s:\n%s", created.TenantID, s.logs.String())
	}
}

// TestReadinessFollowsRLS breaks the isolation guarantees under a running
// server, one way per case (row-level security, the audit trail): readiness
// turns 503 and the detailed health names the table and the problem.
func TestReadinessFollowsRLS(t *testing.T) {
	for _, c := range []struct{ name, stmt, problem string }{
		{"row-level security not forced", "ALTER TABLE users NO FORCE ROW LEVEL SECURITY", "users: row level security is not forced"},
		{"audit trigger disabled", "ALTER TABLE users DISABLE TRIGGER users_audit", "users: audit trigger users_audit is disabled"},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := pgtest.New(t)
			s := newDBServer(t, db.AppURL, map[string]string{"HEALTH_CHECK_INTERVAL": "200ms"})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go s.checker.Run(ctx)
			if st, body := getJSON(t, s.base+"/api/v1/health/readiness"); st != 200 {
				t.Fatalf("readiness before: %d %v", st, body)
			}
			if _, err := db.OwnerPool(t).Exec(ctx, c.stmt); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				st, body := getJSON(t, s.base+"/api/v1/health/readiness")
				if st == 503 && strings.Contains(jsonString(body["reasons"]), "rls") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("readiness did not notice: %d %v", st, body)
				}
				time.Sleep(100 * time.Millisecond)
			}
			st, body := getJSON(t, s.base+"/api/v1/health/detailed")
			if st != 503 || body["status"] != "unhealthy" || !strings.Contains(jsonString(body["failing"]), "rls") ||
				!strings.Contains(jsonString(body["checks"]), c.problem) {
				t.Fatalf("detailed: %d %v, want 503 naming %q", st, body, c.problem)
			}
		})
	}
}

func TestHealthWhileDatabaseUnreachable(t *testing.T) {
	db := pgtest.New(t)
	u, err := url.Parse(db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, u.Host)
	proxy.cut()
	u.Host = proxy.addr
	s := newDBServer(t, u.String(), nil)

	for path, want := range map[string]int{"/api/v1/health/readiness": 503, "/api/v1/health/database": 503, "/api/v1/health/detailed": 503, "/api/v1/health/liveness": 200, "/health": 200} {
		res, raw := sendRequest(t, buildRequest(t, "GET", s.base+path, nil))
		if res.StatusCode != want {
			t.Fatalf("%s while down: %d %s, want %d", path, res.StatusCode, raw, want)
		}
		if strings.Contains(string(raw), "127.0.0.1") || strings.Contains(string(raw), "refused") {
			t.Fatalf("%s leaks driver text: %s", path, raw)
		}
	}
	_, body := getJSON(t, s.base+"/api/v1/health/readiness")
	if body["status"] != "not_ready" || !strings.Contains(jsonString(body["reasons"]), "database unreachable") {
		t.Fatalf("readiness body while down: %v", body)
	}
	_, body = getJSON(t, s.base+"/api/v1/health/database")
	if body["status"] != "down" || body["error"] == "" {
		t.Fatalf("database body while down: %v", body)
	}

	proxy.restore()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, body := getJSON(t, s.base+"/api/v1/health/readiness")
		if st == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness did not recover: %d %v", st, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st, body := getJSON(t, s.base+"/api/v1/health/database"); st != 200 || body["status"] != "up" {
		t.Fatalf("database after recovery: %d %v", st, body)
	}
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

// proxy is a TCP forwarder to target that can be cut (listener and every
// connection closed) and restored on the same address.
type proxy struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	p := &proxy{t: t, target: target, conns: map[net.Conn]bool{}}
	p.listen("127.0.0.1:0")
	p.addr = p.ln.Addr().String()
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("proxy listen: %v", err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
}

func (p *proxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

func (p *proxy) restore() { p.listen(p.addr) }
