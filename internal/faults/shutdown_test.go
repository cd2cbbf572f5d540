package faults_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mtdb/mtdb/internal/pgtest"
)

// buildBinary builds ./cmd/mtdb into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mtdb")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/mtdb/mtdb/cmd/mtdb").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// syncBuffer is a bytes.Buffer safe for a child process and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// SIGTERM to `mtdb serve` during a load run: readiness 503 at once while
// connections are still accepted for the grace period, in-flight requests
// complete, new connections are refused after the grace period, exit code
// 0, and every acknowledged write is in the database.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	long(t)
	const grace = 2 * time.Second
	pg := pgtest.New(t)
	bin := buildBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	cmd := exec.Command(bin, "serve")
	cmd.Dir = t.TempDir()
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "ENVIRONMENT=development", "DATABASE_URL=" + pg.AppURL,
		"JWT_SECRET_KEY=" + secret, "SERVER_HOST=127.0.0.1", "SERVER_PORT=" + strconv.Itoa(port),
		"SERVER_SHUTDOWN_GRACE=" + grace.String(), "SERVER_SHUTDOWN_TIMEOUT=20s", "LOG_LEVEL=info",
	}
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("mtdb serve output:\n%s", logs.String())
		}
	})
	svc := &service{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port),
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	if !settle(func() bool { return svc.do("", "GET", "/api/v1/health/readiness", nil).Status == 200 }) {
		t.Fatalf("mtdb serve did not become ready:\n%s", logs.String())
	}
	fx := newTenant(t, svc, "shutdown")

	// In flight across the whole shutdown: writes waiting on a lock that
	// is released only after the listener has closed.
	release := lockTable(t, pg.OwnerPool(t), "projects")
	var load, inflight recorder
	var wg, loadWG sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inflight.add(svc.do(fx.Admin, "POST", "/api/v1/projects",
				map[string]any{"name": fmt.Sprintf("inflight-%d", i), "description": "", "owner_id": fx.Owner}))
		}()
	}
	stopLoad := make(chan struct{})
	for w := range 3 {
		loadWG.Add(1)
		go func() {
			defer loadWG.Done()
			for i := 0; ; i++ {
				select {
				case <-stopLoad:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if i%2 == 0 {
					load.add(svc.do(fx.Admin, "POST", "/api/v1/users",
						map[string]any{"email": fmt.Sprintf("u%d-%d@shutdown.example", w, i), "display_name": "load"}))
				} else {
					load.add(svc.do(fx.Admin, "GET", "/api/v1/users?limit=5", nil))
				}
			}
		}()
	}
	time.Sleep(time.Second)

	fresh := &service{t: t, base: svc.base, client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	sigAt := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var notReady time.Duration
	for time.Since(sigAt) < grace-500*time.Millisecond {
		r := fresh.do("", "GET", "/api/v1/health/readiness", nil)
		if r.Status == 503 && strings.Contains(string(r.Body), "shutting down") && notReady == 0 {
			notReady = time.Since(sigAt)
		}
		if notReady > 0 && r.Status != 503 {
			t.Errorf("readiness %d after it turned 503", r.Status)
		}
		fresh.do("", "GET", "/api/v1/health/liveness", nil).must(t, 200, nil)
		time.Sleep(50 * time.Millisecond)
	}
	close(stopLoad)
	loadWG.Wait()
	if notReady == 0 || notReady > 500*time.Millisecond {
		t.Errorf("readiness turned 503 %s after SIGTERM (0: never), want at once", notReady)
	}
	// After the grace period: new connections are refused.
	var refused time.Duration
	for time.Since(sigAt) < grace+3*time.Second {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(svc.base, "http://"), time.Second)
		if err != nil {
			refused = time.Since(sigAt)
			break
		}
		_ = c.Close()
		time.Sleep(50 * time.Millisecond)
	}
	if refused < grace || refused > grace+time.Second {
		t.Errorf("new connections refused %s after SIGTERM, want right after the %s grace period", refused, grace)
	}
	time.Sleep(500 * time.Millisecond)
	select {
	case err := <-exited:
		t.Fatalf("mtdb exited (%v) with requests in flight", err)
	default:
	}
	release()
	wg.Wait()
	var exitCode int
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			exitCode = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("mtdb serve did not exit within 20s of the in-flight requests finishing")
	}
	exitAfter := time.Since(sigAt)
	if exitCode != 0 {
		t.Errorf("exit code %d, want 0", exitCode)
	}

	ackedUsers, ackedProjects := 0, 0
	owner := pg.OwnerPool(t)
	exists := func(table, location string) bool {
		var n int
		id := location[strings.LastIndex(location, "/")+1:]
		if err := owner.QueryRow(context.Background(), "SELECT count(*) FROM "+table+" WHERE id = $1", id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	for _, r := range inflight.results() {
		if r.Status != 201 {
			t.Errorf("in-flight write: %d %v %s", r.Status, r.Err, r.Body)
			continue
		}
		ackedProjects++
		if !exists("projects", r.Location) {
			t.Errorf("acknowledged project %s missing", r.Location)
		}
	}
	statuses := map[int]int{}
	for _, r := range load.results() {
		statuses[r.Status]++
		if r.Err != nil || r.Status >= 500 {
			t.Errorf("load during the grace period: %s %s: %d %v", r.Method, r.Path, r.Status, r.Err)
		}
		if r.Status == 201 {
			ackedUsers++
			if !exists("users", r.Location) {
				t.Errorf("acknowledged user %s missing", r.Location)
			}
		}
	}
	t.Logf("SIGTERM: readiness 503 after %s; new connections refused after %s (grace %s); exit code %d after %s",
		notReady.Round(time.Millisecond), refused.Round(time.Millisecond), grace, exitCode, exitAfter.Round(time.Millisecond))
	t.Logf("load statuses %v; in-flight writes acknowledged %d/3; acknowledged writes found: users %d, projects %d",
		statuses, ackedProjects, ackedUsers, ackedProjects)
}
