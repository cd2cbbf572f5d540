// Package localpg runs a private PostgreSQL cluster from the local
// PostgreSQL installation, under a directory of its own: for `mtdb dev` and
// for tests on machines without a running server.
//
// The cluster listens on 127.0.0.1 only, with trust authentication for the
// superuser "postgres", and keeps its unix socket inside the directory. A
// cluster already running in the directory is reused.
package localpg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Options configure Start.
type Options struct {
	// Dir holds the cluster: its data directory is Dir/data, its socket and
	// log file are in Dir. Created when missing.
	Dir string
	// Port to listen on at 127.0.0.1; 0 picks a free one. Ignored when a
	// cluster is already running in Dir.
	Port int
	// MaxConnections is the server's max_connections (default 200).
	// Ignored when a cluster is already running in Dir.
	MaxConnections int
	// Durable keeps synchronous_commit on, so that an acknowledged commit
	// survives an immediate stop (the default trades that for speed).
	// Ignored when a cluster is already running in Dir.
	Durable bool
	// Log receives progress messages; nil discards them.
	Log *slog.Logger
}

// Cluster is a running private cluster.
type Cluster struct {
	dir  string
	port int
	max  int
	sync bool
	bin  string
	user *osUser
	log  *slog.Logger
}

// ErrNotInstalled is returned when no PostgreSQL server binaries are found.
var ErrNotInstalled = errors.New("localpg: PostgreSQL server binaries (initdb, pg_ctl) not found: install PostgreSQL (e.g. apt-get install postgresql) or put its bin directory on PATH")

// Start initialises the cluster under opts.Dir when needed and starts it,
// or reuses the one already running there. It returns ErrNotInstalled when
// PostgreSQL is not installed.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Dir == "" {
		return nil, errors.New("localpg: Options.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bin, err := findBinDir(ctx)
	if err != nil {
		return nil, err
	}
	user, err := runAs()
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bin: bin, user: user, log: log}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("localpg: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := c.user.own(dir); err != nil {
		return nil, err
	}
	if c.user != nil && c.user.command(ctx, "test", "-w", dir, "-a", "-x", dir).Run() != nil {
		return nil, fmt.Errorf("localpg: user %s cannot write to %s: make its parent directories reachable (chmod o+x)", c.user.name, dir)
	}
	if port, ok := c.running(ctx); ok {
		c.port = port
		log.Info("reusing running PostgreSQL cluster", "dir", dir, "port", port)
		return c, nil
	}
	if _, err := os.Stat(filepath.Join(c.dataDir(), "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		log.Info("initialising PostgreSQL cluster", "dir", c.dataDir())
		if err := c.initdb(ctx); err != nil {
			return nil, err
		}
	}
	c.port, c.max, c.sync = opts.Port, opts.MaxConnections, opts.Durable
	if c.max <= 0 {
		c.max = 200
	}
	if c.port == 0 {
		if c.port, err = freePort(); err != nil {
			return nil, err
		}
	}
	log.Info("starting PostgreSQL cluster", "dir", dir, "port", c.port)
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// URL returns a URL connecting as the superuser to database db.
func (c *Cluster) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port returns the TCP port the cluster listens on.
func (c *Cluster) Port() int { return c.port }

// Stop shuts the cluster down (fast mode), waiting until it has stopped.
func (c *Cluster) Stop(ctx context.Context) error { return c.StopMode(ctx, "fast") }

// StopMode shuts the cluster down in mode ("smart", "fast" or
// "immediate": pg_ctl stop -m), waiting until it has stopped. Start with
// the same Dir and Port starts it again.
func (c *Cluster) StopMode(ctx context.Context, mode string) error {
	c.log.Info("stopping PostgreSQL cluster", "dir", c.dir, "mode", mode)
	return c.pgctl(ctx, "stop", "-w", "-m", mode, "-D", c.dataDir())
}

// HBAFile returns the path of the cluster's pg_hba.conf.
func (c *Cluster) HBAFile() string { return filepath.Join(c.dataDir(), "pg_hba.conf") }

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) logFile() string { return filepath.Join(c.dir, "postgres.log") }

func (c *Cluster) initdb(ctx context.Context) error {
	out, err := c.user.command(ctx, filepath.Join(c.bin, "initdb"),
		"-D", c.dataDir(), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
		"--locale=C", "--no-instructions").CombinedOutput()
	if err != nil {
		return fmt.Errorf("localpg: initdb: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (c *Cluster) start(ctx context.Context) error {
	o := fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories='%s' -c fsync=off -c full_page_writes=off -c synchronous_commit=%s -c max_connections=%d",
		c.port, c.dir, map[bool]string{false: "off", true: "on"}[c.sync], c.max)
	return c.pgctl(ctx, "start", "-w", "-t", "60", "-D", c.dataDir(), "-l", c.logFile(), "-o", o)
}

func (c *Cluster) pgctl(ctx context.Context, args ...string) error {
	out, err := c.user.command(ctx, filepath.Join(c.bin, "pg_ctl"), args...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if tail := tailFile(c.logFile(), 10); tail != "" {
			msg += "\nserver log:\n" + tail
		}
		return fmt.Errorf("localpg: pg_ctl %s: %w: %s", args[0], err, msg)
	}
	return nil
}

// running reports the port of a live postmaster in the data directory.
// postmaster.pid holds the pid on line 1 and the port on line 4.
func (c *Cluster) running(ctx context.Context) (int, bool) {
	b, err := os.ReadFile(filepath.Join(c.dataDir(), "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0, false
	}
	port, err := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err != nil {
		return 0, false
	}
	if err := c.user.command(ctx, filepath.Join(c.bin, "pg_ctl"), "status", "-D", c.dataDir()).Run(); err != nil {
		return 0, false
	}
	return port, true
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("localpg: pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		lines = append(lines, s.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
