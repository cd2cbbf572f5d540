package database

import (
	"context"
	"database/sql/driver"
	"errors"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mtdb/mtdb/internal/errs"
)

// Classify turns errors that come from the connection rather than from the
// query into the errs vocabulary, keeping err as the cause:
//   - pool exhausted (ErrAcquireTimeout), database unreachable, connection
//     lost, server shutting down or refusing connections: errs.Unavailable (503);
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
	switch {
	case errors.Is(err, ErrAcquireTimeout):
		return errs.Unavailable(err)
	case errors.Is(err, context.DeadlineExceeded):
		return errs.Timeout(err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "57014" && strings.Contains(pgErr.Message, "statement timeout"):
			return errs.Timeout(err)
		case strings.HasPrefix(pgErr.Code, "08"), // connection_exception
			pgErr.Code == "53300", // too_many_connections
			pgErr.Code == "57P01", // admin_shutdown
			pgErr.Code == "57P02", // crash_shutdown
			pgErr.Code == "57P03": // cannot_connect_now
			return errs.Unavailable(err)
		}
		return err
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connErr) || errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) {
		return errs.Unavailable(err)
	}
	return err
}
