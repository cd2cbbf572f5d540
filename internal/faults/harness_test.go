package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mtdb/mtdb/internal/apikeys"
	"github.com/mtdb/mtdb/internal/audit"
	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/config"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/health"
	"github.com/mtdb/mtdb/internal/httpapi"
	"github.com/mtdb/mtdb/internal/migrate"
	"github.com/mtdb/mtdb/internal/projects"
	"github.com/mtdb/mtdb/internal/tenant"
	"github.com/mtdb/mtdb/internal/tenants"
	"github.com/mtdb/mtdb/internal/users"
)

const secret = "a-fault-test-secret-of-at-least-32-bytes"

// long skips t unless the long fault tests were asked for (make test-faults).
func long(t *testing.T) {
	t.Helper()
	if os.Getenv("MTDB_FAULT_TESTS") == "" {
		t.Skip("long fault test: run with MTDB_FAULT_TESTS=1 (make test-faults)")
	}
}

// service is the API wired as `mtdb serve` wires it (database pool, health
// checker with its background loop, HTTP server on a real listener), in
// this process so that goroutines can be counted and Shutdown called.
type service struct {
	t        *testing.T
	base     string
	srv      *httpapi.Server
	db       *database.DB
	checker  *health.Checker
	cfg      *config.Config
	served   chan error
	stopLoop context.CancelFunc
	client   *http.Client
	closed   bool
}

// startService serves the API connected to dbURL. env adds configuration
// (environment variables); it is stopped when t ends.
func startService(t *testing.T, dbURL string, env map[string]string) *service {
	t.Helper()
	all := map[string]string{
		"ENVIRONMENT":    "development",
		"DATABASE_URL":   dbURL,
		"JWT_SECRET_KEY": secret,
		"LOG_LEVEL":      "error",
	}
	for k, v := range env {
		all[k] = v
	}
	t.Chdir(t.TempDir()) // no stray config.yaml
	cfg, err := config.Load(config.Options{Getenv: func(k string) string { return all[k] }})
	if err != nil {
		t.Fatal(err)
	}
	db, err := database.Open(context.Background(), database.Options{
		URL: cfg.DatabaseURL, MaxConns: cfg.Database.MaxConns, MinConns: cfg.Database.MinConns,
		MaxConnLifetime: cfg.Database.MaxConnLifetime, MaxConnIdleTime: cfg.Database.MaxConnIdleTime,
		ConnectTimeout: cfg.Database.ConnectTimeout, AcquireTimeout: cfg.Database.AcquireTimeout,
		StatementTimeout: cfg.Database.StatementTimeout,
		SettingsMode:     tenant.SettingsMode(cfg.Database.SettingsMode),
		ReadURL:          cfg.Database.ReadURL, ReadMaxLag: cfg.Database.ReadMaxLag, ReadProbeInterval: cfg.Database.ReadProbeInterval,
	})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() && os.Getenv("MTDB_FAULT_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	checker := health.New(health.Options{
		Ping:     db.Pool.Ping,
		Pending:  func(ctx context.Context) (int, error) { return migrate.PendingFrom(ctx, db.SQL, "") },
		RLS:      health.RLSCheck(db.SQL, tenant.AppRole, migrate.TenantScopedTables()),
		Interval: cfg.Health.CheckInterval,
		Log:      log,
	})
	v, err := auth.NewVerifier(auth.Config{Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.NewServer(cfg, log, httpapi.Deps{Health: checker, Pool: db.Pool, Replica: db.Replica, Ent: db.Ent, Verifier: v, Version: "faults",
		Tenants: tenants.NewService(db.Ent), Users: users.NewService(db.Ent), Projects: projects.NewService(db.Ent), Audit: audit.NewService(db.Ent),
		APIKeys: apikeys.NewService(db.Ent), APIKeyAuth: apikeys.NewAuthenticator(db.Ent, log)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	loopCtx, stopLoop := context.WithCancel(context.Background())
	go checker.Run(loopCtx)
	if db.Replica != nil {
		go db.Replica.Run(loopCtx)
	}
	s := &service{
		t: t, base: "http://" + ln.Addr().String(), srv: srv, db: db, checker: checker, cfg: cfg,
		served: make(chan error, 1), stopLoop: stopLoop,
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
	}
	go func() { s.served <- srv.Serve(ln) }()
	t.Cleanup(s.stop)
	return s
}

// shutdown is what `mtdb serve` does on SIGTERM: Shutdown within the
// configured timeout, then the Serve result. It returns Shutdown's error,
// else Serve's.
func (s *service) shutdown() error {
	s.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		return err
	}
	return <-s.served
}

func (s *service) stop() {
	if !s.closed {
		_ = s.shutdown()
	}
	s.stopLoop()
	s.client.CloseIdleConnections()
	s.db.Close()
}

// result is one HTTP exchange.
type result struct {
	Start    time.Time
	Took     time.Duration
	Method   string
	Path     string
	Status   int // 0: transport error
	Err      error
	Code     string // error envelope code
	Retry    string // Retry-After
	Body     []byte
	Location string
	Replayed bool // Idempotent-Replayed: true
}

// do sends one request (body JSON-encoded unless nil) with token.
func (s *service) do(token, method, path string, body any, headers ...string) result {
	var r io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(buf)
	}
	res := result{Start: time.Now(), Method: method, Path: path}
	req, err := http.NewRequest(method, s.base+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.client.Do(req)
	res.Took = time.Since(res.Start)
	if err != nil {
		res.Err = err
		return res
	}
	defer resp.Body.Close()
	res.Status = resp.StatusCode
	res.Body, _ = io.ReadAll(resp.Body)
	res.Retry = resp.Header.Get("Retry-After")
	res.Location = resp.Header.Get("Location")
	res.Replayed = resp.Header.Get("Idempotent-Replayed") == "true"
	if res.Status >= 400 {
		var env struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(res.Body, &env)
		res.Code = env.Error.Code
	}
	return res
}

// must fails the test unless r has status want, and decodes the body into out.
func (r result) must(t *testing.T, want int, out any) result {
	t.Helper()
	if r.Status != want {
		t.Fatalf("%s %s: status %d (%v), want %d: %s", r.Method, r.Path, r.Status, r.Err, want, r.Body)
	}
	if out != nil {
		if err := json.Unmarshal(r.Body, out); err != nil {
			t.Fatalf("decoding %s: %v", r.Body, err)
		}
	}
	return r
}

func token(t *testing.T, role tenant.Role, id uuid.UUID) string {
	t.Helper()
	tok, err := auth.Sign([]byte(secret), auth.Claims{Subject: "faults", Role: role, TenantID: id}, time.Hour, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// tenantFixture is one parent tenant with an admin token and a user who
// can own projects.
type tenantFixture struct {
	ID    uuid.UUID
	Admin string
	Owner string // user id
}

func newTenant(t *testing.T, s *service, name string) tenantFixture {
	t.Helper()
	platform := token(t, tenant.RolePlatformAdmin, uuid.Nil)
	var ten struct {
		TenantID uuid.UUID `json:"tenant_id"`
	}
	s.do(platform, "POST", "/api/v1/tenants", map[string]any{"name": name, "tenant_type": "parent"}).must(t, 201, &ten)
	f := tenantFixture{ID: ten.TenantID, Admin: token(t, tenant.RoleTenantAdmin, ten.TenantID)}
	var u struct {
		ID string `json:"id"`
	}
	s.do(f.Admin, "POST", "/api/v1/users", map[string]any{"email": "owner@" + name + ".example", "display_name": "Owner"}).must(t, 201, &u)
	f.Owner = u.ID
	return f
}

// withHost returns dbURL with its host:port replaced by hostport, plus the
// query parameters in extra.
func withHost(t *testing.T, dbURL, hostport string, extra ...string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = hostport
	q := u.Query()
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// serverAddr returns the host:port of a PostgreSQL URL.
func serverAddr(t *testing.T, dbURL string) string {
	t.Helper()
	c, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port)))
}

// recorder collects results from concurrent workers.
type recorder struct {
	mu  sync.Mutex
	all []result
}

func (r *recorder) add(x result) {
	r.mu.Lock()
	r.all = append(r.all, x)
	r.mu.Unlock()
}

func (r *recorder) results() []result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]result(nil), r.all...)
}

// probeHealth probes liveness and readiness every 100 ms into probes
// until stop is closed (wg counts the two probers).
func probeHealth(svc *service, stop <-chan struct{}, wg *sync.WaitGroup, probes *recorder) {
	probe := func(path string) {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			probes.add(svc.do("", "GET", path, nil))
		}
	}
	wg.Add(2)
	go probe("/api/v1/health/liveness")
	go probe("/api/v1/health/readiness")
}
