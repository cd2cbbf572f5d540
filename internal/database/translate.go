package database

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/internal/errs"
)

// Codes maps a PostgreSQL error code (SQLSTATE) to a domain's own answer for
// it, e.g. what a unique violation means for users. The answer must not
// echo anything of the violating row: it may belong to another tenant.
type Codes map[string]func(*pgconn.PgError) *errs.Error

// Translate turns the error of an ent call into the errs vocabulary, for
// the domain package that made the call:
//   - an *errs.Error is returned as is;
//   - ent's not-found is errs.NotFound(what);
//   - ent's validation error is Invalid on its field;
//   - a PostgreSQL error whose code is in codes gets that answer;
//   - otherwise check_violation and every data exception (class 22:
//     numeric out of range, value too long, malformed text, ...) are
//     Invalid on the column (or "body"): the value came from the caller;
//     insufficient_privilege (which includes a row-level security refusal)
//     is Forbidden;
//   - everything else goes through Classify (503, 504, or unchanged: 500).
//
// The original error is kept as the cause, for the log only.
func Translate(err error, what string, codes Codes) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	if ent.IsNotFound(err) {
		return withCause(errs.NotFound(what), err)
	}
	var ve *ent.ValidationError
	if errors.As(err, &ve) {
		return withCause(errs.Invalid(ve.Name, "is invalid"), err)
	}
	var pg *pgconn.PgError
	if !errors.As(err, &pg) {
		return Classify(err)
	}
	if answer, ok := codes[pg.Code]; ok {
		return withCause(answer(pg), err)
	}
	f := pg.ColumnName
	if f == "" {
		f = "body"
	}
	switch {
	case pg.Code == "23514", pg.Code == "22001": // check_violation, string_data_right_truncation
		return withCause(errs.Invalid(f, "is invalid"), err)
	case strings.HasPrefix(pg.Code, "22"): // data_exception: numeric overflow (22003), bad text (22P02, 22P05), ...
		return withCause(errs.Invalid(f, "is out of range or malformed"), err)
	case pg.Code == "42501": // insufficient_privilege, incl. a row-level security refusal
		return withCause(errs.Forbidden("not allowed for this tenant"), err)
	}
	return Classify(err)
}

func withCause(e *errs.Error, cause error) *errs.Error {
	e.Err = cause
	return e
}
