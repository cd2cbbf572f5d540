package database

import "github.com/mtdb/mtdb/internal/errs"

// The bounds of a list page (CONTRACT §6, Lists).
const (
	MinLimit = 1
	MaxLimit = 1000
)

// CheckPage refuses a limit outside 1–1000 and a negative offset, naming
// the parameter.
func CheckPage(limit, offset int) error {
	if limit < MinLimit || limit > MaxLimit {
		return errs.Invalid("limit", "must be an integer from 1 to 1000")
	}
	if offset < 0 {
		return errs.Invalid("offset", "must be an integer of at least 0")
	}
	return nil
}
