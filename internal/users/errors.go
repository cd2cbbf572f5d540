package users

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
)

// translate turns ent and PostgreSQL errors into the errs vocabulary.
// Nothing of another tenant is echoed: a unique violation only says that the
// e-mail is taken in this tenant.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	if ent.IsNotFound(err) {
		return errs.NotFound("user")
	}
	var ve *ent.ValidationError
	if errors.As(err, &ve) {
		return &errs.Error{Kind: errs.KindInvalid, Message: ve.Name + " is invalid",
			Fields: map[string]string{ve.Name: "is invalid"}, Err: err}
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "23505": // unique_violation: (tenant_id, email)
			return &errs.Error{Kind: errs.KindConflict, Message: "a user with this email already exists in this tenant", Err: err}
		case "23503": // foreign_key_violation: projects still reference the user
			return &errs.Error{Kind: errs.KindConflict, Message: "the user still owns projects; reassign or delete them first", Err: err}
		case "23514", "22001": // check_violation, string_data_right_truncation
			f := pg.ColumnName
			if f == "" {
				f = "body"
			}
			return &errs.Error{Kind: errs.KindInvalid, Message: f + " is invalid", Fields: map[string]string{f: "is invalid"}, Err: err}
		case "42501": // insufficient_privilege, incl. a row-level security refusal
			return &errs.Error{Kind: errs.KindForbidden, Message: "not allowed for this tenant", Err: err}
		}
	}
	return database.Classify(err)
}
