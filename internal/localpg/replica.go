package localpg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// StartReplica makes a streaming replica of c under dir and starts it:
// pg_basebackup over loopback as the superuser, with -R (standby.signal and
// primary_conninfo pointing at c), WAL streamed during the copy. The
// replica is a hot standby (read-only queries) listening on 127.0.0.1 at a
// free port; Stop it, or start it again with Start and the same Dir and
// Port. A replica already set up in dir is started as it is.
//
// The primary needs wal_level replica or higher and a free WAL sender
// (PostgreSQL's defaults) and to accept replication connections from
// 127.0.0.1 (initdb's pg_hba.conf with trust authentication does).
func (c *Cluster) StartReplica(ctx context.Context, dir string) (*Cluster, error) {
	if dir == "" {
		return nil, errors.New("localpg: StartReplica needs a directory")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	r := &Cluster{dir: dir, bin: c.bin, user: c.user, log: c.log, max: c.max, sync: c.sync}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("localpg: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := r.user.own(dir); err != nil {
		return nil, err
	}
	if port, ok := r.running(ctx); ok {
		r.port = port
		return r, nil
	}
	if _, err := os.Stat(filepath.Join(r.dataDir(), "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		r.log.Info("making a streaming replica", "primary_port", c.port, "dir", r.dataDir())
		out, err := r.user.command(ctx, r.tool("pg_basebackup"),
			"-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-U", "postgres",
			"-D", r.dataDir(), "-R", "-X", "stream", "-c", "fast", "--no-password").CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("localpg: pg_basebackup: %w: %s", err, strings.TrimSpace(string(out)))
		}
	}
	if r.port, err = freePort(); err != nil {
		return nil, err
	}
	if r.max <= 0 {
		r.max = 200
	}
	r.log.Info("starting PostgreSQL replica", "dir", dir, "port", r.port)
	if err := r.start(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// tool returns the path of the server program name: beside initdb, or
// beside the file initdb links to (/usr/local/bin/initdb →
// /usr/lib/postgresql/15/bin/initdb), or on PATH.
func (c *Cluster) tool(name string) string {
	if p := filepath.Join(c.bin, name); isExec(p) {
		return p
	}
	if real, err := filepath.EvalSymlinks(filepath.Join(c.bin, "initdb")); err == nil {
		if p := filepath.Join(filepath.Dir(real), name); isExec(p) {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return filepath.Join(c.bin, name)
}
