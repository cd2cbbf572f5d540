package database

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mtdb/mtdb/internal/tenant"
)

// A read replica (DATABASE_READ_URL) is a second pool, to a streaming
// replica of the primary, with its own tenant driver: the same settings
// statement, the same restricted role, READ ONLY transactions, so the same
// policies decide what a request sees there. Driver sends it the
// read-only work of contexts that allow it (tenant.Context.ReplicaOK, GET
// and HEAD requests) while it is usable: reachable, and behind the primary
// by no more than the maximum lag. Everything else, and every read when
// the replica is not usable, goes to the primary; a read the replica fails
// for a reason of its own (down, restarting, a recovery conflict, a tenant
// it does not know yet) runs again on the primary, so the replica never
// turns a request into an error.
//
// Lag is measured by a background probe (Run): each probe reads the
// primary's WAL position, then the replica's replayed position. The
// replica holds everything the primary had committed at the time of the
// newest probe whose primary position it has replayed; its lag is the time
// since then (0 when it has replayed this probe's position). The
// measurement's resolution is the probe interval.

// Replica states (ReplicaStatus.Status).
const (
	ReplicaUp      = "up"      // reachable, lag within the maximum: serving reads
	ReplicaLagging = "lagging" // reachable, lag beyond the maximum (or unknown): reads on the primary
	ReplicaDown    = "down"    // unreachable: reads on the primary
	ReplicaUnknown = "unknown" // not probed yet: reads on the primary
)

// ReplicaStatus is what the last probe (or a failed read) found.
type ReplicaStatus struct {
	Status string `json:"status"`
	// Serving is where the reads of GET requests go now: replica or primary.
	Serving       string   `json:"serving"`
	LagSeconds    *float64 `json:"lag_seconds,omitempty"`
	MaxLagSeconds float64  `json:"max_lag_seconds"`
	InRecovery    bool     `json:"in_recovery"`          // the server is a standby
	Error         string   `json:"error,omitempty"`      // sanitised
	CheckedAt     string   `json:"checked_at,omitempty"` // RFC 3339
}

// ReadCounts are the reads of contexts that allow a replica, by where they
// ran, and how many of them the replica failed and the primary ran.
type ReadCounts struct {
	Primary, Replica, Fallbacks int64
}

// Replica is the read replica's pool and state. Its zero value is not
// usable: Open makes it.
type Replica struct {
	Pool *pgxpool.Pool
	SQL  *sql.DB

	drv      dialect.Driver // tenant driver over SQL
	primary  *pgxpool.Pool
	maxLag   time.Duration
	interval time.Duration

	usable                     atomic.Bool
	primaryReads, replicaReads atomic.Int64
	fallbacks                  atomic.Int64
	mu                         sync.Mutex
	status                     ReplicaStatus
	samples                    []lsnSample // the primary's WAL position over time, oldest first
}

type lsnSample struct {
	at  time.Time
	lsn uint64
}

// Default replica settings.
const (
	DefaultReadMaxLag        = 10 * time.Second
	DefaultReadProbeInterval = time.Second
)

func newReplica(pool *pgxpool.Pool, db *sql.DB, drv dialect.Driver, primary *pgxpool.Pool, maxLag, interval time.Duration) *Replica {
	if maxLag <= 0 {
		maxLag = DefaultReadMaxLag
	}
	if interval <= 0 {
		interval = DefaultReadProbeInterval
	}
	r := &Replica{Pool: pool, SQL: db, drv: drv, primary: primary, maxLag: maxLag, interval: interval}
	r.status = ReplicaStatus{Status: ReplicaUnknown, Serving: "primary", MaxLagSeconds: maxLag.Seconds(), Error: "not probed yet"}
	return r
}

// Usable reports whether reads may go to the replica now.
func (r *Replica) Usable() bool { return r.usable.Load() }

// Status returns the replica's last known state.
func (r *Replica) Status() ReplicaStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Reads returns the read counts so far.
func (r *Replica) Reads() ReadCounts {
	return ReadCounts{Primary: r.primaryReads.Load(), Replica: r.replicaReads.Load(), Fallbacks: r.fallbacks.Load()}
}

// Run probes the replica every probe interval until ctx ends, the first
// time at once.
func (r *Replica) Run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		r.Probe(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Probe measures the replica's state once and returns it.
func (r *Replica) Probe(ctx context.Context) ReplicaStatus {
	timeout := min(2*time.Second, max(r.interval, 500*time.Millisecond))
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	at := time.Now()
	var plsn, rlsn string
	perr := r.primary.QueryRow(pctx, `SELECT pg_current_wal_lsn()::text`).Scan(&plsn)
	var recovery bool
	rerr := r.Pool.QueryRow(pctx, `SELECT pg_is_in_recovery(), COALESCE(CASE WHEN pg_is_in_recovery()
		THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END, '0/0')::text`).Scan(&recovery, &rlsn)
	now := time.Now()

	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := parseLSN(plsn); perr == nil && ok {
		r.samples = append(r.samples, lsnSample{at: at, lsn: p})
	}
	st := ReplicaStatus{MaxLagSeconds: r.maxLag.Seconds(), InRecovery: recovery, CheckedAt: now.UTC().Format(time.RFC3339)}
	replayed, ok := parseLSN(rlsn)
	switch {
	case rerr != nil:
		st.Status, st.Error = ReplicaDown, sanitizeReplicaErr(rerr)
	case !ok:
		st.Status, st.Error = ReplicaLagging, "unreadable replay position"
	default:
		lag, known := r.lagLocked(now, replayed)
		if known {
			s := lag.Seconds()
			st.LagSeconds = &s
		}
		switch {
		case !known:
			st.Status, st.Error = ReplicaLagging, "lag unknown: the primary's position could not be read"
		case lag > r.maxLag:
			st.Status = ReplicaLagging
		default:
			st.Status = ReplicaUp
		}
	}
	r.pruneLocked(now)
	r.setLocked(st)
	return st
}

// lagLocked returns how far behind the replica is when it has replayed
// WAL up to replayed: 0 when that covers the newest sample of the
// primary's position, else the age of the newest sample it covers (or at
// least the age of the oldest one kept). Without samples it is unknown.
func (r *Replica) lagLocked(now time.Time, replayed uint64) (time.Duration, bool) {
	n := len(r.samples)
	if n == 0 {
		return 0, false
	}
	if replayed >= r.samples[n-1].lsn {
		return 0, true
	}
	for i := n - 2; i >= 0; i-- {
		if replayed >= r.samples[i].lsn {
			return now.Sub(r.samples[i].at), true
		}
	}
	return now.Sub(r.samples[0].at), true
}

// pruneLocked keeps the samples of the last maxLag plus two intervals (a
// replica behind all of them is lagging anyway), and at least one.
func (r *Replica) pruneLocked(now time.Time) {
	keep := now.Add(-(r.maxLag + 2*r.interval))
	i := 0
	for i < len(r.samples)-1 && r.samples[i].at.Before(keep) {
		i++
	}
	r.samples = append(r.samples[:0], r.samples[i:]...)
}

func (r *Replica) setLocked(st ReplicaStatus) {
	st.Serving = "primary"
	if st.Status == ReplicaUp {
		st.Serving = "replica"
	}
	r.status = st
	r.usable.Store(st.Status == ReplicaUp)
}

// markDown takes the replica out at once after a read found it
// unreachable; the next probe decides when it is back.
func (r *Replica) markDown(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.status
	st.Status, st.Error, st.LagSeconds = ReplicaDown, sanitizeReplicaErr(err), nil
	st.CheckedAt = time.Now().UTC().Format(time.RFC3339)
	r.setLocked(st)
}

// fallback reports whether a read that failed on the replica with err
// should run again on the primary: the replica was unavailable (down,
// starting, too many connections, a recovery conflict) or refused the
// tenant (one created on the primary within the lag; the primary
// decides). It counts the fallback, and takes the replica out when it is
// unreachable. Errors of the request itself (its deadline, a bad query)
// are not retried.
func (r *Replica) fallback(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	cause := Unavailable(err)
	pg := pgError(err)
	switch {
	case errors.Is(err, tenant.ErrUnreachable):
	case cause != "":
		if cause != CauseContention && cause != CauseReadOnly {
			r.markDown(err)
		}
	case pg != nil && (pg.Code == "55000" || pg.Code == "25006" || strings.HasPrefix(pg.Code, "58")):
		// "recovery is in progress" and the like: the primary can.
	default:
		return false
	}
	r.fallbacks.Add(1)
	return true
}

// count records where one read ran.
func (r *Replica) count(onReplica bool) {
	if onReplica {
		r.replicaReads.Add(1)
	} else {
		r.primaryReads.Add(1)
	}
}

// sanitizeReplicaErr describes err without driver text.
func sanitizeReplicaErr(err error) string {
	if c := Unavailable(err); c != "" {
		return "replica unavailable (" + string(c) + ")"
	}
	if pg := pgError(err); pg != nil {
		return "replica error " + pg.Code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "replica probe timed out"
	}
	return "replica unavailable"
}

// parseLSN reads PostgreSQL's text form of a WAL position, "16/B374D848".
func parseLSN(s string) (uint64, bool) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, false
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return h<<32 | l, true
}
