package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/config"
	"github.com/mtdb/mtdb/internal/httpapi"
	"github.com/mtdb/mtdb/internal/pgtest"
	"github.com/mtdb/mtdb/migrations"
)

func fakeEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// runCmd runs the program with args and env and returns its exit code,
// stdout and stderr.
func runCmd(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, fakeEnv(env), &out, &errOut)
	code := exitCode(err, &errOut)
	return code, out.String(), errOut.String()
}

func TestBadConfigurationExitsTwo(t *testing.T) {
	t.Chdir(t.TempDir())
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		setting string
	}{
		{"short secret in production", map[string]string{"ENVIRONMENT": "production", "JWT_SECRET_KEY": "short", "DATABASE_URL": "postgres://db/mtdb"}, []string{"serve"}, "JWT_SECRET_KEY"},
		{"unknown environment", map[string]string{"ENVIRONMENT": "prod"}, []string{"serve"}, "ENVIRONMENT"},
		{"bad port flag", nil, []string{"serve", "--port", "eighty"}, "port"},
		{"port flag out of range", nil, []string{"serve", "--port", "70000"}, "SERVER_PORT"},
		{"unknown flag", nil, []string{"serve", "--bogus"}, "bogus"},
		{"unknown command", nil, []string{"frobnicate"}, "frobnicate"},
		{"no command", nil, nil, "command"},
		{"token with unknown role", nil, []string{"token", "--role", "root"}, "--role"},
		{"token without tenant", nil, []string{"token", "--role", "member"}, "--tenant"},
		{"dev outside development", map[string]string{"ENVIRONMENT": "staging", "JWT_SECRET_KEY": strings.Repeat("k", 32), "DATABASE_URL": "postgres://db/mtdb"}, []string{"dev"}, "ENVIRONMENT"},
		{"migrate without subcommand", nil, []string{"migrate"}, "apply"},
		{"check with an argument", nil, []string{"check", "now"}, `unexpected argument "now"`},
		{"migrate apply with an argument", nil, []string{"migrate", "apply", "everything"}, `unexpected argument "everything"`},
		{"migrate apply with an unparseable --url", nil, []string{"migrate", "apply", "--url", "not a url"}, "--url"},
		{"migrate status with an unparseable --url", nil, []string{"migrate", "status", "--url", "postgres://h:notaport/db"}, "--url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, tc.env, tc.args...)
			if code != 2 {
				t.Fatalf("exit code %d, want 2 (stderr %q)", code, stderr)
			}
			last := strings.TrimSpace(stderr)
			if i := strings.LastIndex(last, "\n"); i >= 0 {
				last = last[i+1:] // the usage text may precede the error line
			}
			if !strings.Contains(last, tc.setting) || strings.Contains(stderr, "goroutine") {
				t.Fatalf("stderr %q must end with one line naming %s", stderr, tc.setting)
			}
		})
	}
}

func TestTokenIsVerifiable(t *testing.T) {
	t.Chdir(t.TempDir())
	secret := strings.Repeat("s", 40)
	env := map[string]string{"JWT_SECRET_KEY": secret, "JWT_ISSUER": "mtdb-test"}
	tenantID := "7d9f4c1e-1111-4222-8333-944445555666"
	code, out, stderr := runCmd(t, env, "token", "--role", "tenant_admin", "--tenant", tenantID, "--sub", "ops", "--ttl", "5m")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	v, err := auth.NewVerifier(auth.Config{Secret: []byte(secret), Issuer: "mtdb-test"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(strings.TrimSpace(out))
	if err != nil || c.Subject != "ops" || string(c.Role) != "tenant_admin" || c.TenantID.String() != tenantID {
		t.Fatalf("token %q: claims %+v, err %v", out, c, err)
	}
}

// freeAddr returns a free loopback port.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestServeDrainsAndReturnsNil(t *testing.T) {
	t.Chdir(t.TempDir())
	db := pgtest.New(t)
	env := map[string]string{"DATABASE_URL": db.AppURL, "SERVER_HOST": "127.0.0.1", "SERVER_PORT": strconv.Itoa(freePort(t)), "LOG_LEVEL": "warn"}
	var stdout, stderr bytes.Buffer
	started := make(chan struct{})
	listening := make(chan net.Addr, 1)
	e := &cmdEnv{getenv: fakeEnv(env), stdout: &stdout, stderr: &stderr, version: "test",
		onServer: func(s *httpapi.Server) {
			s.Echo().GET("/test/slow", func(c echo.Context) error {
				close(started)
				time.Sleep(500 * time.Millisecond)
				return c.String(http.StatusOK, "finished")
			})
		},
		onListen: func(a net.Addr) { listening <- a },
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.dispatch(ctx, "serve", nil) }()
	var addr net.Addr
	select {
	case addr = <-listening:
	case err := <-done:
		t.Fatalf("serve returned before listening: %v; stderr %s", err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	base := "http://" + addr.String()
	body := make(chan string, 1)
	go func() {
		res, err := http.Get(base + "/test/slow")
		if err != nil {
			body <- "error: " + err.Error()
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		body <- strconv.Itoa(res.StatusCode) + " " + string(b)
	}()
	<-started
	cancel() // what SIGTERM does in main
	if got := <-body; got != "200 finished" {
		t.Fatalf("in-flight request got %q", got)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after SIGTERM", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not return after cancel")
	}
	if _, err := http.Get(base + "/health"); err == nil {
		t.Fatal("server still accepting connections after shutdown")
	}
}

func TestRunServeStopsOnCancel(t *testing.T) {
	t.Chdir(t.TempDir())
	db := pgtest.New(t)
	port := freePort(t)
	env := map[string]string{"DATABASE_URL": db.AppURL, "SERVER_HOST": "127.0.0.1", "LOG_LEVEL": "error"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var out, errOut bytes.Buffer
	go func() { done <- run(ctx, []string{"serve", "--port", strconv.Itoa(port)}, fakeEnv(env), &out, &errOut) }()
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/api/v1/health/readiness"
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready on --port %d: %v; stderr %s", port, err, errOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run returned %v", err)
	}
}

func TestServeRefusesBrokenRLS(t *testing.T) {
	t.Chdir(t.TempDir())
	db := pgtest.New(t)
	if _, err := db.OwnerPool(t).Exec(context.Background(), "ALTER TABLE projects NO FORCE ROW LEVEL SECURITY"); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": db.AppURL, "SERVER_HOST": "127.0.0.1", "SERVER_PORT": strconv.Itoa(freePort(t)), "LOG_LEVEL": "error"}
	code, _, stderr := runCmd(t, env, "serve")
	if code != 1 || !strings.Contains(stderr, "projects") {
		t.Fatalf("exit %d, stderr %q: want 1 naming projects", code, stderr)
	}
	code, out, _ := runCmd(t, env, "check")
	if code != 1 || !strings.Contains(out, "projects") {
		t.Fatalf("check: exit %d, stdout %q: want 1 naming projects", code, out)
	}
}

func TestCheckAndMigrate(t *testing.T) {
	t.Chdir(t.TempDir())
	db := pgtest.New(t)
	code, out, stderr := runCmd(t, map[string]string{"DATABASE_URL": db.AppURL}, "check")
	if code != 0 || !strings.HasPrefix(out, "ok") {
		t.Fatalf("check on a migrated database: exit %d, %q %q", code, out, stderr)
	}

	empty := pgtest.Empty(t)
	code, out, stderr = runCmd(t, nil, "migrate", "status", "--url", empty.OwnerURL)
	if code != 0 || !strings.HasPrefix(lastLine(out), "pending: ") || lastLine(out) == "pending: 0" {
		t.Fatalf("status before apply: exit %d, %q %q", code, out, stderr)
	}
	code, _, stderr = runCmd(t, map[string]string{"MIGRATION_DATABASE_URL": empty.OwnerURL}, "migrate", "apply")
	if code != 0 {
		t.Fatalf("apply: exit %d, %q", code, stderr)
	}
	code, out, _ = runCmd(t, map[string]string{"MIGRATION_DATABASE_URL": empty.OwnerURL}, "migrate", "apply")
	if code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("second apply: exit %d, %q", code, out)
	}
	code, out, _ = runCmd(t, nil, "migrate", "status", "--url", empty.OwnerURL)
	if code != 0 || lastLine(out) != "pending: 0" {
		t.Fatalf("status after apply: exit %d, %q", code, out)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func TestMigrateDiffPointsAtTheGenerator(t *testing.T) {
	code, _, stderr := runCmd(t, nil, "migrate", "diff", "add_invoices")
	if code != 2 || !strings.Contains(stderr, "make migration") {
		t.Fatalf("migrate diff: exit %d, stderr %q; want 2 and a pointer to make migration", code, stderr)
	}
}

func TestServeStartsWhileDatabaseUnreachable(t *testing.T) {
	t.Chdir(t.TempDir())
	dead := freePort(t) // nothing listens there
	port := freePort(t)
	env := map[string]string{
		"DATABASE_URL": "postgres://nobody@127.0.0.1:" + strconv.Itoa(dead) + "/mtdb?sslmode=disable",
		"SERVER_HOST":  "127.0.0.1", "SERVER_PORT": strconv.Itoa(port), "LOG_LEVEL": "error",
		"DATABASE_CONNECT_TIMEOUT": "1s",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var out, errOut bytes.Buffer
	go func() { done <- run(ctx, []string{"serve"}, fakeEnv(env), &out, &errOut) }()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(base + "/api/v1/health/liveness")
		if err == nil {
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("liveness %d while the database is down", res.StatusCode)
			}
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited with the database down: %v; %s", err, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not start with the database down")
		}
		time.Sleep(100 * time.Millisecond)
	}
	res, err := http.Get(base + "/api/v1/health/readiness")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 503 {
		t.Fatalf("readiness %d while the database is down, want 503", res.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run returned %v", err)
	}
}

func TestProductionLogsAreJSONAndMasked(t *testing.T) {
	t.Chdir(t.TempDir())
	secret := "prod-secret-" + strings.Repeat("z", 32)
	port := freePort(t)
	env := map[string]string{
		"ENVIRONMENT":    "production",
		"JWT_SECRET_KEY": secret,
		"DATABASE_URL":   "postgres://app:db-password-123@127.0.0.1:" + strconv.Itoa(freePort(t)) + "/mtdb?sslmode=disable",
		"SERVER_HOST":    "127.0.0.1", "SERVER_PORT": strconv.Itoa(port),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut bytes.Buffer
	e := &cmdEnv{getenv: fakeEnv(env), stdout: &out, stderr: &errOut, version: "test"}
	listening := make(chan net.Addr, 1)
	e.onListen = func(a net.Addr) { listening <- a }
	done := make(chan error, 1)
	go func() { done <- e.dispatch(ctx, "serve", nil) }()
	select {
	case a := <-listening:
		res, err := http.Get("http://" + a.String() + "/nope")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	case err := <-done:
		t.Fatalf("serve returned %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	logs := errOut.String()
	for _, secretText := range []string{secret, "db-password-123"} {
		if strings.Contains(logs, secretText) {
			t.Fatalf("logs leak %q", secretText)
		}
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("log line is not one JSON object: %q", line)
		}
		n++
	}
	if n < 3 || !strings.Contains(logs, `"effective configuration"`) || !strings.Contains(logs, `"route":"unmatched"`) {
		t.Fatalf("expected startup, config and access log lines, got:\n%s", logs)
	}
}

// TestProductionRefusalIsJSON checks that outside development the reason
// serve stops is logged as one JSON object like every other line, not
// printed as plain text, and still names each problem.
func TestProductionRefusalIsJSON(t *testing.T) {
	t.Chdir(t.TempDir())
	db := pgtest.New(t)
	if _, err := db.OwnerPool(t).Exec(context.Background(), "ALTER TABLE projects NO FORCE ROW LEVEL SECURITY"); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"ENVIRONMENT": "production", "JWT_SECRET_KEY": strings.Repeat("p", 32),
		"DATABASE_URL": db.AppURL, "SERVER_HOST": "127.0.0.1", "SERVER_PORT": strconv.Itoa(freePort(t)),
	}
	code, _, stderr := runCmd(t, env, "serve")
	if code != 1 || !strings.Contains(stderr, "projects: row level security is not forced") {
		t.Fatalf("exit %d, stderr %q: want 1 naming projects", code, stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("stderr line is not one JSON object: %q", line)
		}
	}
}

// TestCheckFindsRevisionsThroughSearchPath: migrations applied with a URL
// bound to a schema (search_path=public, as the Atlas CLI is often run)
// keep their revisions table there; the pending count of mtdb check (and
// of readiness, the same function) must look there too, not report every
// file pending.
func TestCheckFindsRevisionsThroughSearchPath(t *testing.T) {
	t.Chdir(t.TempDir())
	db := pgtest.Empty(t)
	u, err := url.Parse(db.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", "public")
	u.RawQuery = q.Encode()
	env := map[string]string{"DATABASE_URL": db.AppURL, "MIGRATION_DATABASE_URL": u.String()}
	if code, _, stderr := runCmd(t, env, "migrate", "apply"); code != 0 {
		t.Fatalf("apply: exit %d, %q", code, stderr)
	}
	code, out, stderr := runCmd(t, env, "check")
	if code != 0 || !strings.Contains(out, "migrations up to date") {
		t.Fatalf("check after apply through search_path=public: exit %d, %q %q", code, out, stderr)
	}
}

// TestServeOpsListener: with SERVER_OPS_PORT, serve listens there too:
// /metrics and pprof answer on it and 404 on the API port, readiness stays
// on the API port; both listeners stop on cancel.
func TestServeOpsListener(t *testing.T) {
	t.Chdir(t.TempDir())
	db := pgtest.New(t)
	port, opsPort := freePort(t), freePort(t)
	env := map[string]string{"DATABASE_URL": db.AppURL, "SERVER_HOST": "127.0.0.1", "LOG_LEVEL": "error",
		"SERVER_PORT": strconv.Itoa(port), "SERVER_OPS_PORT": strconv.Itoa(opsPort)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var out, errOut bytes.Buffer
	go func() { done <- run(ctx, []string{"serve"}, fakeEnv(env), &out, &errOut) }()
	status := func(p int, path string) int {
		res, err := http.Get("http://127.0.0.1:" + strconv.Itoa(p) + path)
		if err != nil {
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	deadline := time.Now().Add(30 * time.Second)
	for status(port, "/api/v1/health/readiness") != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("not ready on port %d; stderr %s", port, errOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for path, want := range map[string][2]int{
		"/metrics":            {404, 200},
		"/debug/pprof/":       {404, 200},
		"/api/v1/health/live": {404, 404},
	} {
		if api, ops := status(port, path), status(opsPort, path); api != want[0] || ops != want[1] {
			t.Errorf("%s: API port %d, ops port %d; want %d, %d", path, api, ops, want[0], want[1])
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run returned %v", err)
	}
	if status(opsPort, "/metrics") != 0 {
		t.Error("the ops listener still answers after serve returned")
	}
}

func TestHelpListsEverySetting(t *testing.T) {
	code, out, _ := runCmd(t, nil, "help")
	if code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	for _, s := range config.Docs() {
		if !strings.Contains(out, s.Env) {
			t.Errorf("help does not list %s", s.Env)
		}
	}
}

// A database that has tables but no revisions is refused until
// --baseline names the version its schema is at.
func TestMigrateApplyBaseline(t *testing.T) {
	t.Chdir(t.TempDir())
	db := pgtest.Empty(t)
	if _, err := db.OwnerPool(t).Exec(context.Background(), `CREATE TABLE legacy (id int)`); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCmd(t, nil, "migrate", "apply", "--url", db.OwnerURL); code != 1 || !strings.Contains(stderr, "baseline") {
		t.Fatalf("apply on a database with tables: exit %d, %q; want 1 and a word on --baseline", code, stderr)
	}
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded migrations: %v %v", files, err)
	}
	last, _, _ := strings.Cut(files[len(files)-1], "_")
	if code, out, stderr := runCmd(t, nil, "migrate", "apply", "--url", db.OwnerURL, "--baseline", last); code != 0 {
		t.Fatalf("apply --baseline %s: exit %d, %q %q", last, code, out, stderr)
	}
	if code, out, _ := runCmd(t, nil, "migrate", "status", "--url", db.OwnerURL); code != 0 || lastLine(out) != "pending: 0" {
		t.Fatalf("status after the baseline: exit %d, %q", code, out)
	}
}
