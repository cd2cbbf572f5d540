package projects

import (
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
)

// codes says what the constraints of projects mean.
var codes = database.Codes{
	"23503": func(*pgconn.PgError) *errs.Error { // (tenant_id, owner_id) -> users
		return errs.Invalid("owner_id", badOwner)
	},
	"23505": func(*pgconn.PgError) *errs.Error { return errs.Conflict("the project already exists") },
}

// translate turns ent and PostgreSQL errors into the errs vocabulary.
func translate(err error) error { return database.Translate(err, "project", codes) }
