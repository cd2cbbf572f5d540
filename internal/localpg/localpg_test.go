package localpg_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mtdb/mtdb/internal/localpg"
)

func TestStartConnectReuseStop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Not t.TempDir: its parents are private to the test's user, and as
	// root the server runs as another user that must reach the directory.
	dir, err := os.MkdirTemp("", "localpg-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	c, err := localpg.Start(ctx, localpg.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = c.Stop(context.Background())
		}
	})
	if got := query(t, ctx, c.URL("postgres"), `SHOW server_encoding`); got != "UTF8" {
		t.Fatalf("server_encoding %q, want UTF8", got)
	}

	again, err := localpg.Start(ctx, localpg.Options{Dir: dir})
	if err != nil {
		t.Fatalf("second Start on a running cluster: %v", err)
	}
	if again.Port() != c.Port() {
		t.Fatalf("second Start uses port %d, running cluster is on %d", again.Port(), c.Port())
	}

	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	stopped = true
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err == nil {
		conn.Close(ctx)
		t.Fatal("cluster still answers after Stop")
	}
}

func query(t *testing.T, ctx context.Context, url, sql string) string {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer conn.Close(ctx)
	var s string
	if err := conn.QueryRow(ctx, sql).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}
