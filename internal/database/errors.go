package database

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/tenant"
)

// Cause names why the database is unavailable, for the log and the
// mtdb_database_unavailable_total metric. The set is closed: Causes lists it.
type Cause string

// The causes of unavailability.
const (
	CausePoolTimeout   Cause = "pool_timeout"         // no pooled connection became free in time
	CauseConnect       Cause = "connect"              // a new connection failed: refused, unreachable, DNS, TLS, protocol
	CauseAuth          Cause = "auth"                 // the server refused the login (28xxx: credentials rotated)
	CauseTooMany       Cause = "too_many_connections" // 53300 (at connect or later)
	CauseNotAccepting  Cause = "not_accepting"        // the server or database accepts no connections: 57P03, 55000, 3D000 at connect
	CauseShutdown      Cause = "shutdown"             // the server ended the session: 57P01 admin, 57P02 crash shutdown, any other FATAL (idle timeouts 25P03, 57P05; 57P04 database dropped)
	CauseConnLost      Cause = "connection_lost"      // the connection broke mid-statement: EOF, reset, broken pipe, closed, class 08
	CauseReadOnly      Cause = "read_only"            // a write on a read-only server (25006, e.g. after a failover)
	CauseContention    Cause = "contention"           // serialization failures or deadlocks persisted through the retries
	CauseCommitUnknown Cause = "commit_unknown"       // COMMIT was sent but no answer came back: the write may or may not be committed
)

// Causes is the closed set of causes, in a stable order.
var Causes = []Cause{CausePoolTimeout, CauseConnect, CauseAuth, CauseTooMany, CauseNotAccepting,
	CauseShutdown, CauseConnLost, CauseReadOnly, CauseContention, CauseCommitUnknown}

// UnavailableError is the cause an errs.Unavailable produced by Classify
// wraps: why, and the error the database layer returned.
type UnavailableError struct {
	Cause Cause
	Err   error
}

func (e *UnavailableError) Error() string { return string(e.Cause) + ": " + e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }

// CauseOf returns the cause of an unavailability that Classify recognised
// in err's chain, or "".
func CauseOf(err error) Cause {
	var u *UnavailableError
	if errors.As(err, &u) {
		return u.Cause
	}
	return ""
}

// ErrTenantUnreachable is the one answer (403) for a tenant that is
// unknown, deleted or out of the credentials' reach, so that the three
// cannot be told apart. cause is kept for the log.
func ErrTenantUnreachable(cause error) *errs.Error {
	return withCause(errs.Forbidden("the tenant does not exist or is not accessible with these credentials"), cause)
}

// Classify turns errors that come from the connection rather than from the
// query into the errs vocabulary, keeping err as the cause:
//   - the settings statement refused the tenant (tenant.ErrUnreachable):
//     errs.Forbidden (403), ErrTenantUnreachable;
//   - the database is unavailable (errs.Unavailable, 503) by one rule: any
//     failure to obtain a connection (pool wait, any connect error,
//     including the server's FATAL at startup), any failure to keep one
//     (the connection broke or was closed mid-statement, the server ended
//     the session: any FATAL or PANIC, whatever its code; or it reports a
//     connection exception), a write refused by a
//     read-only server, and serialization failures or deadlocks that were
//     still failing after the transaction retries (see Unavailable);
//   - statement_timeout fired (SQLSTATE 57014) or the context's deadline
//     passed: errs.Timeout (504).
//
// Any other error (nil included) is returned unchanged; an err that already
// is an *errs.Error is returned as is.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, tenant.ErrUnreachable) {
		return ErrTenantUnreachable(err)
	}
	if cause := Unavailable(err); cause != "" {
		return errs.Unavailable(&UnavailableError{Cause: cause, Err: err})
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errs.Timeout(err)
	}
	if pg := pgError(err); pg != nil && pg.Code == "57014" && strings.Contains(pg.Message, "statement timeout") {
		return errs.Timeout(err)
	}
	return err
}

// Unavailable returns why err means the database is unavailable, or ""
// when it does not (the query itself failed, or the caller's deadline
// passed first).
func Unavailable(err error) Cause {
	if err == nil {
		return ""
	}
	if errors.Is(err, ErrAcquireTimeout) {
		return CausePoolTimeout
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		// Obtaining a connection failed: whatever the reason, the
		// database is not available to this request.
		if pg := pgError(err); pg != nil {
			switch {
			case strings.HasPrefix(pg.Code, "28"):
				return CauseAuth
			case pg.Code == "53300":
				return CauseTooMany
			case pg.Code == "57P01", pg.Code == "57P02":
				return CauseShutdown
			}
			return CauseNotAccepting // 57P03, 55000, 3D000 and any other FATAL at startup
		}
		return CauseConnect
	}
	if pg := pgError(err); pg != nil {
		switch {
		case strings.HasPrefix(pg.Code, "08"):
			return CauseConnLost
		case pg.Code == "57P01", pg.Code == "57P02":
			return CauseShutdown
		case pg.Code == "57P03":
			return CauseNotAccepting
		case pg.Code == "53300":
			return CauseTooMany
		case pg.Code == "25006":
			return CauseReadOnly
		case sessionEnded(pg):
			// Any other FATAL (or PANIC): the server ended the session,
			// e.g. idle_in_transaction_session_timeout (25P03),
			// idle_session_timeout (57P05), database dropped (57P04).
			return CauseShutdown
		case Retryable(err):
			return CauseContention // still failing after the retries (WithTx)
		}
		return ""
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return "" // the request's own budget, not the database
	}
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, net.ErrClosed), errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, driver.ErrBadConn):
		return CauseConnLost
	}
	var netErr net.Error
	if errors.As(err, &netErr) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return CauseConnLost
	}
	return ""
}

// sessionEnded reports whether the server ended the session with pg: its
// severity (unlocalized when the server sent it) is FATAL or PANIC.
func sessionEnded(pg *pgconn.PgError) bool {
	sev := pg.SeverityUnlocalized
	if sev == "" {
		sev = pg.Severity
	}
	return sev == "FATAL" || sev == "PANIC"
}

// pgError returns the first PostgreSQL error in err's chain, or nil.
func pgError(err error) *pgconn.PgError {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg
	}
	return nil
}

// CommitError classifies the error of a COMMIT that was sent while ctx
// was live. When the server answered (a PostgreSQL error), the
// transaction was rolled back and err is returned for Classify. Any other
// failure (the connection broke, the deadline cut the wait) leaves the
// outcome unknown: the write may have been committed. That is unavailable
// (CauseCommitUnknown, 503): the client retries, with its Idempotency-Key
// to learn the definitive answer.
func CommitError(err error) error {
	if err == nil || pgError(err) != nil {
		return err
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	return errs.Unavailable(&UnavailableError{Cause: CauseCommitUnknown, Err: err})
}
