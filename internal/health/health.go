// Package health owns the checks behind mtdb's health endpoints: is the
// database reachable, are migrations pending, do the row-level security
// guarantees hold. The slow checks (migrations, RLS) run in a background
// loop and are cached, so readiness answers fast and notices a guarantee
// that breaks later within one check interval.
package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Check statuses.
const (
	StatusUp            = "up"             // database reachable
	StatusDown          = "down"           // database unreachable
	StatusOK            = "ok"             // check passed
	StatusFailing       = "failing"        // check ran and found problems
	StatusUnknown       = "unknown"        // check could not run (database down)
	StatusNotConfigured = "not configured" // no check function supplied
)

// Options configure a Checker.
type Options struct {
	// Ping checks that the database answers (a pool's Ping); nil reports
	// the database down.
	Ping func(ctx context.Context) error
	// Pending returns the number of migration files not yet applied. Nil
	// reports the migrations check "not configured".
	Pending func(ctx context.Context) (int, error)
	// RLS returns one line per violated isolation guarantee (empty: all
	// hold). Nil reports the rls check "not configured".
	RLS func(ctx context.Context) ([]string, error)
	// Interval between background runs of the migrations and RLS checks
	// (default 10s).
	Interval time.Duration
	// Timeout bounds each single check (default 2s).
	Timeout time.Duration
	// PingTTL is how long a database ping answers every caller of
	// Database, Readiness and Status (default 1s): unauthenticated probes
	// at any rate cost at most one ping per PingTTL.
	PingTTL time.Duration
	// RetryInterval is the least time between two refreshes of the slow
	// checks made on demand, when a request finds their status unknown
	// (default 5s); the background loop (Run) refreshes them regardless.
	RetryInterval time.Duration
	Log           *slog.Logger
	// NotReady returns readiness reasons of components outside the
	// database (e.g. "no usable JWT signing key (...)"); nil or empty: none.
	NotReady func() []string
}

// Result is the outcome of one check.
type Result struct {
	Status    string   `json:"status"`
	Error     string   `json:"error,omitempty"`      // sanitised: never driver text
	Problems  []string `json:"problems,omitempty"`   // rls findings
	Pending   *int     `json:"pending,omitempty"`    // migrations not applied
	LatencyMS *float64 `json:"latency_ms,omitempty"` // database round trip
}

// Report holds the cached results of the slow checks.
type Report struct {
	Migrations Result
	RLS        Result
	CheckedAt  time.Time
}

// Checker runs and caches the checks. Its zero value is not usable; call New.
type Checker struct {
	opts     Options
	mu       sync.Mutex
	report   Report
	shutdown atomic.Bool
	// flight collapses concurrent pings ("ping") and on-demand refreshes
	// ("refresh") into one each.
	flight singleflight.Group
	// Under mu: the last ping's result and time, and when the last
	// on-demand refresh started.
	ping     Result
	pingAt   time.Time
	demandAt time.Time
}

// New returns a Checker; nothing runs until Refresh or Run is called.
func New(opts Options) *Checker {
	if opts.Interval <= 0 {
		opts.Interval = 10 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.PingTTL <= 0 {
		opts.PingTTL = time.Second
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = 5 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	unknown := Result{Status: StatusUnknown, Error: "not checked yet"}
	return &Checker{opts: opts, report: Report{Migrations: unknown, RLS: unknown}}
}

// SetShuttingDown makes readiness fail from now on.
func (c *Checker) SetShuttingDown() { c.shutdown.Store(true) }

// ShuttingDown reports whether SetShuttingDown was called.
func (c *Checker) ShuttingDown() bool { return c.shutdown.Load() }

// DatabaseFailed tells the checker that a request found the database
// unavailable: the shared ping is forgotten, so the next readiness probe
// pings afresh instead of repeating an "up" up to PingTTL old. Under load
// an outage then shows in readiness at once, not a PingTTL later.
func (c *Checker) DatabaseFailed() {
	c.mu.Lock()
	c.pingAt = time.Time{}
	c.mu.Unlock()
}

// Database returns the result of a database ping no older than PingTTL: up
// with latency_ms, or down with a sanitised error. Concurrent callers
// share one ping, which runs apart from their contexts (one caller
// leaving does not fail the others), within the check timeout.
func (c *Checker) Database(ctx context.Context) Result {
	c.mu.Lock()
	r, at := c.ping, c.pingAt
	c.mu.Unlock()
	if !at.IsZero() && time.Since(at) < c.opts.PingTTL {
		return r
	}
	ch := c.flight.DoChan("ping", func() (any, error) {
		c.mu.Lock()
		if r, at := c.ping, c.pingAt; !at.IsZero() && time.Since(at) < c.opts.PingTTL {
			c.mu.Unlock()
			return r, nil // pinged while this caller was on its way
		}
		c.mu.Unlock()
		r := c.livePing(context.WithoutCancel(ctx))
		c.mu.Lock()
		c.ping, c.pingAt = r, time.Now()
		c.mu.Unlock()
		return r, nil
	})
	select {
	case res := <-ch:
		return res.Val.(Result)
	case <-ctx.Done():
		return Result{Status: StatusDown, Error: Sanitize(ctx.Err())}
	}
}

// livePing pings the database now, within the check timeout.
func (c *Checker) livePing(ctx context.Context) Result {
	if c.opts.Ping == nil {
		return Result{Status: StatusDown, Error: "database not configured"}
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	start := time.Now()
	err := c.opts.Ping(ctx)
	if err != nil {
		return Result{Status: StatusDown, Error: Sanitize(err)}
	}
	ms := float64(time.Since(start).Microseconds()) / 1000
	return Result{Status: StatusUp, LatencyMS: &ms}
}

// Sanitize describes a database error without driver text, host names or
// SQL: what an unauthenticated caller may see.
func Sanitize(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return "database did not answer in time"
	case errors.Is(err, context.Canceled):
		return "check cancelled"
	}
	return "database unreachable"
}

// Snapshot returns the cached results of the slow checks.
func (c *Checker) Snapshot() Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.report
}

// Refresh runs the migrations and RLS checks now, caches and returns them.
// When the database is down both report "unknown".
func (c *Checker) Refresh(ctx context.Context) Report {
	r := Report{CheckedAt: time.Now()}
	db := c.livePing(ctx)
	c.mu.Lock()
	c.ping, c.pingAt = db, time.Now()
	c.mu.Unlock()
	switch {
	case db.Status != StatusUp:
		r.Migrations = Result{Status: StatusUnknown, Error: "database unreachable"}
		r.RLS = r.Migrations
	default:
		r.Migrations = c.migrations(ctx)
		r.RLS = c.rls(ctx)
	}
	c.mu.Lock()
	prev := c.report
	c.report = r
	c.mu.Unlock()
	if r.RLS.Status != prev.RLS.Status || r.Migrations.Status != prev.Migrations.Status {
		c.opts.Log.Info("health checks changed", "rls", r.RLS.Status, "rls_problems", r.RLS.Problems,
			"migrations", r.Migrations.Status, "database", db.Status)
	}
	return r
}

func (c *Checker) migrations(ctx context.Context) Result {
	if c.opts.Pending == nil {
		return Result{Status: StatusNotConfigured}
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	n, err := c.opts.Pending(ctx)
	if err != nil {
		c.opts.Log.Warn("migrations check failed", "err", err)
		return Result{Status: StatusUnknown, Error: "could not read the migration status"}
	}
	if n > 0 {
		return Result{Status: StatusFailing, Pending: &n, Error: fmt.Sprintf("%d migration(s) pending", n)}
	}
	return Result{Status: StatusOK, Pending: &n}
}

func (c *Checker) rls(ctx context.Context) Result {
	if c.opts.RLS == nil {
		return Result{Status: StatusNotConfigured}
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	problems, err := c.opts.RLS(ctx)
	if err != nil {
		c.opts.Log.Warn("rls check failed", "err", err)
		return Result{Status: StatusUnknown, Error: "could not run the row-level security check"}
	}
	if len(problems) > 0 {
		return Result{Status: StatusFailing, Problems: problems, Error: "row-level security guarantees do not hold"}
	}
	return Result{Status: StatusOK}
}

// Run refreshes the slow checks every interval until ctx is done. It runs
// one refresh at once.
func (c *Checker) Run(ctx context.Context) {
	t := time.NewTicker(c.opts.Interval)
	defer t.Stop()
	for {
		c.Refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Current returns the database's state (Database) and the slow checks'
// cached results: the one "refresh the slow checks if unknown". Requests call it, unauthenticated ones included, so it
// does no database work of its own beyond the shared ping: when the
// database is up but a slow check's status is unknown (it could not run
// at its last run, or has not run yet) the checks are refreshed once for
// all concurrent callers, and at most once per RetryInterval, so that
// readiness recovers soon after the database is back without a flood of
// probes running one catalog check each.
func (c *Checker) Current(ctx context.Context) (Result, Report) {
	db := c.Database(ctx)
	r := c.Snapshot()
	if db.Status != StatusUp || (r.Migrations.Status != StatusUnknown && r.RLS.Status != StatusUnknown) {
		return db, r
	}
	// Callers arriving during a refresh wait for it; those arriving later,
	// within RetryInterval of its start, take the cached report.
	ch := c.flight.DoChan("refresh", func() (any, error) {
		c.mu.Lock()
		if !c.demandAt.IsZero() && time.Since(c.demandAt) < c.opts.RetryInterval {
			r := c.report
			c.mu.Unlock()
			return r, nil
		}
		c.demandAt = time.Now()
		c.mu.Unlock()
		return c.Refresh(context.WithoutCancel(ctx)), nil
	})
	select {
	case res := <-ch:
		return db, res.Val.(Report)
	case <-ctx.Done():
		return db, r
	}
}

// Readiness reports whether the service should receive traffic, and if not
// why: shutting down, database unreachable, migrations pending, RLS failing
// (see Current for what it costs).
func (c *Checker) Readiness(ctx context.Context) (bool, []string) {
	var reasons []string
	if c.ShuttingDown() {
		reasons = append(reasons, "shutting down")
	}
	if c.opts.NotReady != nil {
		reasons = append(reasons, c.opts.NotReady()...)
	}
	db, r := c.Current(ctx)
	if db.Status != StatusUp {
		return false, append(reasons, "database unreachable")
	}
	switch r.Migrations.Status {
	case StatusFailing:
		reasons = append(reasons, "migrations pending")
	case StatusUnknown:
		reasons = append(reasons, "migration status unknown")
	}
	switch r.RLS.Status {
	case StatusFailing:
		reasons = append(reasons, "rls check failing")
	case StatusUnknown:
		reasons = append(reasons, "rls check could not run")
	}
	return len(reasons) == 0, reasons
}
