package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// benchRole is the API's login role: no superuser, no BYPASSRLS, a member of
// mtdb_app, so every request really goes through row-level security.
const benchRole = "mtdb_bench"

// benchDB is the fresh database of one run.
type benchDB struct {
	name     string
	ownerURL string // the server's superuser: migrations, seeding, EXPLAIN setup
	appURL   string // benchRole
	drop     func()
}

// createDB creates a fresh database on the server of adminURL, and the
// login role benchRole if missing (roles are cluster-wide).
func createDB(ctx context.Context, adminURL string) (*benchDB, error) {
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", redactURL(adminURL), err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "mtdb_bench_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		admin.Close(ctx)
		return nil, err
	}
	_, err = admin.Exec(ctx, `DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '`+benchRole+`') THEN
    CREATE ROLE `+benchRole+` LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD '`+benchRole+`';
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$`)
	if err != nil {
		admin.Close(ctx)
		return nil, fmt.Errorf("create role %s: %w", benchRole, err)
	}
	d := &benchDB{
		name:     name,
		ownerURL: withDB(adminURL, name, "", ""),
		appURL:   withDB(adminURL, name, benchRole, benchRole),
		drop: func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
			admin.Close(ctx)
		},
	}
	return d, nil
}

// grantApp makes benchRole a member of mtdb_app (which the migrations create).
func grantApp(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.Exec(ctx, "GRANT mtdb_app TO "+benchRole)
	return err
}

func withDB(raw, name, user, password string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + name
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid URL>"
	}
	return u.Redacted()
}

// freeAddr returns a loopback address with a free port.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// server is a server subprocess.
type server struct {
	name   string
	base   string // http://127.0.0.1:port
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

// startServer runs bin with args and env on a free loopback port (passed
// in by portEnv/addrFlag) and waits until GET /health answers 200.
func startServer(ctx context.Context, name, bin string, args []string, env []string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "SERVER_HOST="+host, "SERVER_PORT="+port, "BENCH_ADDR="+addr)
	stderr := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = nil, stderr // access log lines are discarded
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s := &server{name: name, base: "http://" + addr, cmd: cmd, stderr: stderr}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get(s.base + "/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("%s did not become healthy: %s", name, stderr.String())
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
