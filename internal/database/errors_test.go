package database

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mtdb/mtdb/internal/errs"
)

// connectError builds the error pgconn returns when connecting failed
// because of cause (a FATAL from the server, or a network error).
func connectError(t *testing.T, cause error) error {
	t.Helper()
	// pgconn.ConnectError has no exported constructor: make a real one by
	// connecting to a closed port, then swap its cause for the table's.
	cfg, err := pgconn.ParseConfig("postgres://nobody@127.0.0.1:1/x?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Errorf("database: %w", &connectErr{ConnectError: &pgconn.ConnectError{Config: cfg}, cause: cause})
}

// connectErr is a pgconn.ConnectError whose cause is chosen by the test.
type connectErr struct {
	*pgconn.ConnectError
	cause error
}

func (e *connectErr) Error() string { return "failed to connect: " + e.cause.Error() }
func (e *connectErr) Unwrap() []error {
	return []error{e.ConnectError, e.cause}
}

// The rule, case by case: every way of failing to obtain or keep a
// connection is unavailable (503) with its cause; the caller's deadline and
// statement timeouts are 504; everything else stays as it is (500 unless a
// domain translates it).
func TestClassifyTable(t *testing.T) {
	pg := func(code string) error { return &pgconn.PgError{Severity: "ERROR", Code: code, Message: "m"} }
	fatal := func(code string) error { return &pgconn.PgError{Severity: "FATAL", Code: code, Message: "m"} }
	for _, c := range []struct {
		name  string
		err   error
		kind  errs.Kind
		cause Cause
	}{
		{"pool wait", fmt.Errorf("%w: %w", ErrAcquireTimeout, context.DeadlineExceeded), errs.KindUnavailable, CausePoolTimeout},
		{"connect refused", connectError(t, &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), errs.KindUnavailable, CauseConnect},
		{"connect: no route", connectError(t, &net.OpError{Op: "dial", Err: syscall.EHOSTUNREACH}), errs.KindUnavailable, CauseConnect},
		{"connect: TLS or protocol", connectError(t, errors.New("server refused TLS connection")), errs.KindUnavailable, CauseConnect},
		{"connect: starting up 57P03", connectError(t, fatal("57P03")), errs.KindUnavailable, CauseNotAccepting},
		{"connect: shutting down 57P01", connectError(t, fatal("57P01")), errs.KindUnavailable, CauseShutdown},
		{"connect: too many connections 53300", connectError(t, fatal("53300")), errs.KindUnavailable, CauseTooMany},
		{"connect: database not accepting 55000", connectError(t, fatal("55000")), errs.KindUnavailable, CauseNotAccepting},
		{"connect: password rotated 28P01", connectError(t, fatal("28P01")), errs.KindUnavailable, CauseAuth},
		{"connect: role gone 28000", connectError(t, fatal("28000")), errs.KindUnavailable, CauseAuth},
		{"connect: database gone 3D000", connectError(t, fatal("3D000")), errs.KindUnavailable, CauseNotAccepting},
		{"connect: any other FATAL", connectError(t, fatal("XX000")), errs.KindUnavailable, CauseNotAccepting},
		{"admin shutdown 57P01", pg("57P01"), errs.KindUnavailable, CauseShutdown},
		{"crash shutdown 57P02", pg("57P02"), errs.KindUnavailable, CauseShutdown},
		{"cannot connect now 57P03", pg("57P03"), errs.KindUnavailable, CauseNotAccepting},
		{"connection exception 08006", pg("08006"), errs.KindUnavailable, CauseConnLost},
		{"connection exception 08P01", pg("08P01"), errs.KindUnavailable, CauseConnLost},
		{"too many connections 53300", pg("53300"), errs.KindUnavailable, CauseTooMany},
		{"idle-in-transaction timeout 25P03 (FATAL)", fatal("25P03"), errs.KindUnavailable, CauseShutdown},
		{"idle-session timeout 57P05 (FATAL)", fatal("57P05"), errs.KindUnavailable, CauseShutdown},
		{"database dropped 57P04 (FATAL)", fatal("57P04"), errs.KindUnavailable, CauseShutdown},
		{"any FATAL, localized", &pgconn.PgError{Severity: "SCHWERWIEGEND", SeverityUnlocalized: "FATAL", Code: "XX000"}, errs.KindUnavailable, CauseShutdown},
		{"PANIC", &pgconn.PgError{Severity: "PANIC", Code: "XX000"}, errs.KindUnavailable, CauseShutdown},
		{"FATAL joined with the failed rollback", errors.Join(fatal("25P03"), fmt.Errorf("rolling back: %w", pgconn.ErrConnClosed)), errs.KindUnavailable, CauseShutdown},
		{"read-only server 25006", pg("25006"), errs.KindUnavailable, CauseReadOnly},
		{"serialization failure 40001", pg("40001"), errs.KindUnavailable, CauseContention},
		{"deadlock 40P01", pg("40P01"), errs.KindUnavailable, CauseContention},
		{"EOF mid-statement", fmt.Errorf("ent: %w", io.EOF), errs.KindUnavailable, CauseConnLost},
		{"unexpected EOF", fmt.Errorf("receive message failed: %w", io.ErrUnexpectedEOF), errs.KindUnavailable, CauseConnLost},
		{"reset by peer", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, errs.KindUnavailable, CauseConnLost},
		{"broken pipe", fmt.Errorf("write: %w", syscall.EPIPE), errs.KindUnavailable, CauseConnLost},
		{"closed connection", fmt.Errorf("x: %w", net.ErrClosed), errs.KindUnavailable, CauseConnLost},
		{"pgconn conn closed", fmt.Errorf("x: %w", pgconn.ErrConnClosed), errs.KindUnavailable, CauseConnLost},
		{"database/sql bad connection", driver.ErrBadConn, errs.KindUnavailable, CauseConnLost},
		{"joined with a rollback error", errors.Join(pg("23505"), io.ErrUnexpectedEOF), errs.KindInternal, ""},
		{"request deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), errs.KindTimeout, ""},
		{"statement timeout", &pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}, errs.KindTimeout, ""},
		{"cancelled by the user (57014)", &pgconn.PgError{Code: "57014", Message: "canceling statement due to user request"}, errs.KindInternal, ""},
		{"unique violation stays (the domain translates it)", pg("23505"), errs.KindInternal, ""},
		{"syntax error stays a 500", pg("42601"), errs.KindInternal, ""},
		{"an internal ERROR stays a 500", pg("XX000"), errs.KindInternal, ""},
		{"disk full stays a 500", pg("53100"), errs.KindInternal, ""},
		{"plain error stays a 500", errors.New("boom"), errs.KindInternal, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Classify(c.err)
			if k := errs.KindOf(got); k != c.kind {
				t.Fatalf("kind %v, want %v (%v)", k, c.kind, got)
			}
			if cause := CauseOf(got); cause != c.cause {
				t.Fatalf("cause %q, want %q", cause, c.cause)
			}
			if c.kind != errs.KindInternal && !errors.Is(got, c.err) {
				t.Fatalf("%v lost its cause %v", got, c.err)
			}
			if c.kind == errs.KindInternal && got != c.err {
				t.Fatalf("Classify changed %v into %v", c.err, got)
			}
		})
	}
}

// A COMMIT without an answer is unavailable with an unknown outcome; one
// the server answered (rolled back) is left to Classify.
func TestCommitError(t *testing.T) {
	lost := fmt.Errorf("committing: %w", io.ErrUnexpectedEOF)
	if got := CommitError(lost); errs.KindOf(got) != errs.KindUnavailable || CauseOf(got) != CauseCommitUnknown || !errors.Is(got, io.ErrUnexpectedEOF) {
		t.Fatalf("CommitError(%v) = %v (cause %q)", lost, got, CauseOf(got))
	}
	cut := fmt.Errorf("committing: %w", context.DeadlineExceeded)
	if CauseOf(CommitError(cut)) != CauseCommitUnknown {
		t.Fatal("a COMMIT cut by the deadline has an unknown outcome")
	}
	serial := &pgconn.PgError{Code: "40001"}
	if CommitError(serial) != error(serial) || CommitError(nil) != nil {
		t.Fatal("CommitError changed a server's answer")
	}
}
