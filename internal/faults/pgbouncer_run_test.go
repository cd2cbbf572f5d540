package faults

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// PgBouncerOptions configure StartPgBouncer.
type PgBouncerOptions struct {
	// Dir holds the configuration and auth files (a test's temp dir).
	Dir string
	// Server is the PostgreSQL host:port every database is forwarded to.
	Server string
	// Users maps each login role clients may use to its password (also
	// used to log in to Server, which may require one).
	Users map[string]string
	// PoolSize is default_pool_size: server connections per user and
	// database. Small values make tenants share connections.
	PoolSize int
}

// PgBouncer is a private PgBouncer in transaction pooling mode.
type PgBouncer struct {
	// Addr is the host:port clients connect to.
	Addr string

	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	log  bytes.Buffer
}

// PgBouncerBinary returns the path of the pgbouncer executable, or an
// error when it is not installed (Debian: apt-get install pgbouncer).
func PgBouncerBinary() (string, error) {
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("pgbouncer is not installed")
}

// StartPgBouncer writes a configuration for pool_mode=transaction on a free
// loopback port and starts pgbouncer with it; it returns once the port
// accepts connections. Stop it with Stop.
//
// PgBouncer refuses to run as root: when started as root it switches to
// the postgres user (setting `user`).
func StartPgBouncer(ctx context.Context, opts PgBouncerOptions) (*PgBouncer, error) {
	bin, err := PgBouncerBinary()
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(opts.Server)
	if err != nil {
		return nil, fmt.Errorf("pgbouncer: server %q: %w", opts.Server, err)
	}
	listen, err := freePort()
	if err != nil {
		return nil, err
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = 2
	}
	var users []string
	for u, pw := range opts.Users {
		users = append(users, fmt.Sprintf("%q %q", u, pw))
	}
	sort.Strings(users)
	auth := filepath.Join(opts.Dir, "userlist.txt")
	ini := filepath.Join(opts.Dir, "pgbouncer.ini")
	conf := strings.Join([]string{
		"[databases]",
		fmt.Sprintf("* = host=%s port=%s", host, port),
		"[pgbouncer]",
		"listen_addr = 127.0.0.1",
		fmt.Sprintf("listen_port = %d", listen),
		"unix_socket_dir =",
		"auth_type = trust",
		"auth_file = " + auth,
		"pool_mode = transaction",
		fmt.Sprintf("default_pool_size = %d", opts.PoolSize),
		"max_client_conn = 200",
		"server_reset_query =",
		"ignore_startup_parameters = extra_float_digits",
		"admin_users = ",
	}, "\n") + "\n"
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			return nil, errors.New("pgbouncer: running as root and there is no postgres user to switch to")
		}
		conf += "user = postgres\n"
		if err := os.Chmod(opts.Dir, 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(auth, []byte(strings.Join(users, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(ini, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	b := &PgBouncer{Addr: fmt.Sprintf("127.0.0.1:%d", listen), done: make(chan struct{})}
	b.cmd = exec.Command(bin, ini)
	b.cmd.Stdout, b.cmd.Stderr = b, b
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("pgbouncer: %w", err)
	}
	go func() { _ = b.cmd.Wait(); close(b.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", b.Addr, time.Second)
		if err == nil {
			_ = c.Close()
			return b, nil
		}
		select {
		case <-b.done:
			return nil, fmt.Errorf("pgbouncer exited: %s", b.Log())
		case <-ctx.Done():
			b.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.Stop()
			return nil, fmt.Errorf("pgbouncer did not listen on %s: %s", b.Addr, b.Log())
		}
	}
}

// Write collects pgbouncer's output (io.Writer).
func (b *PgBouncer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.log.Write(p)
}

// Log returns what pgbouncer printed so far.
func (b *PgBouncer) Log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.log.String()
}

// Stop terminates pgbouncer (SIGTERM, then SIGKILL after 5 s) and waits.
func (b *PgBouncer) Stop() {
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
