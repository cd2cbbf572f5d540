package tenants

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
)

const duplicateName = "a tenant with this name already exists at this level of the hierarchy"

// translate turns ent and PostgreSQL errors into the errs vocabulary. what
// names the object for NotFound. Nothing of another tenant is echoed: a
// unique violation only says that the name is taken.
func translate(err error, what string) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	if ent.IsNotFound(err) {
		return errs.NotFound(what)
	}
	var ve *ent.ValidationError
	if errors.As(err, &ve) {
		return &errs.Error{Kind: errs.KindInvalid, Message: ve.Name + " is invalid",
			Fields: map[string]string{ve.Name: "is invalid"}, Err: err}
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "23505": // unique_violation: the sibling-name index
			return &errs.Error{Kind: errs.KindConflict, Message: duplicateName, Err: err}
		case "23503": // foreign_key_violation: the parent vanished
			return &errs.Error{Kind: errs.KindNotFound, Message: "parent tenant not found", Err: err}
		case "23514", "22001": // check_violation (incl. the depth trigger), value too long
			f, problem := "body", "is invalid"
			switch pg.ConstraintName {
			case "tenants_name_check":
				f, problem = "name", "must have 1 to 200 characters without surrounding spaces"
			case "tenants_type_check":
				f, problem = "parent_tenant_id", "must be given for a subsidiary and omitted for a parent"
			case "tenants_depth_check":
				f, problem = "parent_tenant_id", "is a subsidiary; the hierarchy is at most two levels deep"
			}
			return &errs.Error{Kind: errs.KindInvalid, Message: f + " " + problem,
				Fields: map[string]string{f: problem}, Err: err}
		case "42501": // insufficient_privilege, incl. a row-level security refusal
			return &errs.Error{Kind: errs.KindForbidden, Message: "not allowed for this tenant", Err: err}
		}
	}
	return database.Classify(err)
}
