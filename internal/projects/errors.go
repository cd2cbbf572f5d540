package projects

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
)

// translate turns ent and PostgreSQL errors into the errs vocabulary.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	if ent.IsNotFound(err) {
		return errs.NotFound("project")
	}
	var ve *ent.ValidationError
	if errors.As(err, &ve) {
		return &errs.Error{Kind: errs.KindInvalid, Message: ve.Name + " is invalid",
			Fields: map[string]string{ve.Name: "is invalid"}, Err: err}
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "23503": // foreign_key_violation: (tenant_id, owner_id) -> users
			return &errs.Error{Kind: errs.KindInvalid, Message: "owner_id " + badOwner,
				Fields: map[string]string{"owner_id": badOwner}, Err: err}
		case "23505":
			return &errs.Error{Kind: errs.KindConflict, Message: "the project already exists", Err: err}
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
