package tenants

import (
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
)

const duplicateName = "a tenant with this name already exists at this level of the hierarchy"

// codes says what the constraints of tenants mean. Nothing of another
// tenant is echoed: a unique violation only says that the name is taken.
var codes = database.Codes{
	"23505": func(*pgconn.PgError) *errs.Error { return errs.Conflict(duplicateName) },   // no unique name index remains; kept for safety
	"23503": func(*pgconn.PgError) *errs.Error { return errs.NotFound("parent tenant") }, // the parent vanished
	"23514": checkField,                                                                  // check_violation, incl. the depth trigger
	"22001": checkField,                                                                  // value too long
}

// checkField names the field a check constraint of tenants guards.
func checkField(pg *pgconn.PgError) *errs.Error {
	switch pg.ConstraintName {
	case "tenants_name_check":
		return errs.Invalid("name", "must have 1 to 200 characters without surrounding spaces")
	case "tenants_type_check":
		return errs.Invalid("parent_tenant_id", "must be given for a subsidiary and omitted for a parent")
	case "tenants_immutable_check":
		return errs.Invalid("parent_tenant_id", "cannot change: a tenant keeps its type and parent")
	case "tenants_depth_check":
		return errs.Invalid("parent_tenant_id", "is a subsidiary; the hierarchy is at most two levels deep")
	}
	return errs.Invalid("body", "is invalid")
}

// translate turns ent and PostgreSQL errors into the errs vocabulary; what
// names the object for NotFound.
func translate(err error, what string) error { return database.Translate(err, what, codes) }
