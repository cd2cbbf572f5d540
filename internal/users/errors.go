package users

import (
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
)

// codes says what the constraints of users mean. Nothing of another tenant
// is echoed: a unique violation only says that the e-mail is taken in this
// tenant.
var codes = database.Codes{
	"23505": func(*pgconn.PgError) *errs.Error { // unique (tenant_id, email)
		return errs.Conflict("a user with this email already exists in this tenant")
	},
	"23503": func(*pgconn.PgError) *errs.Error { // projects still reference the user
		return errs.Conflict("the user still owns projects; reassign or delete them first")
	},
}

// translate turns ent and PostgreSQL errors into the errs vocabulary.
func translate(err error) error { return database.Translate(err, "user", codes) }
