package main

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mtdb/mtdb/internal/pgtest"
)

// TestDevListensOnLoopback: mtdb dev runs with the public development
// secret, so unless told otherwise it listens on 127.0.0.1 only and says so.
func TestDevListensOnLoopback(t *testing.T) {
	t.Chdir(t.TempDir())
	db := pgtest.New(t)
	env := map[string]string{"DATABASE_URL": db.OwnerURL, "SERVER_PORT": strconv.Itoa(freePort(t)), "LOG_LEVEL": "warn"}
	var stdout, stderr bytes.Buffer
	listening := make(chan net.Addr, 1)
	e := &cmdEnv{getenv: fakeEnv(env), stdout: &stdout, stderr: &stderr, version: "test",
		onListen: func(a net.Addr) { listening <- a }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.dispatch(ctx, "dev", nil) }()
	select {
	case a := <-listening:
		if ip := a.(*net.TCPAddr).IP; !ip.IsLoopback() {
			t.Errorf("mtdb dev listens on %s, want 127.0.0.1", a)
		}
	case err := <-done:
		t.Fatalf("dev returned before listening: %v; stderr %s", err, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatal("dev did not start")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("dev returned %v", err)
	}
	if !strings.Contains(stdout.String(), "Listening on 127.0.0.1 only") {
		t.Errorf("mtdb dev does not say where it listens:\n%s", stdout.String())
	}
}
