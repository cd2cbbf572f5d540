package httpapi

import (
	"encoding/json"
	"strconv"

	"github.com/mtdb/mtdb/internal/errs"
)

// checkMetadata refuses a metadata object holding a number that JSON
// readers (ent reading the jsonb column back into Go among them) cannot
// represent as a float64, such as 1e999: stored, it would make every later
// read of the tenant fail.
func checkMetadata(md map[string]any) error {
	if !representable(md) {
		return errs.Invalid("metadata", "contains a number out of range")
	}
	return nil
}

func representable(v any) bool {
	switch t := v.(type) {
	case json.Number:
		_, err := strconv.ParseFloat(string(t), 64)
		return err == nil
	case map[string]any:
		for _, e := range t {
			if !representable(e) {
				return false
			}
		}
	case []any:
		for _, e := range t {
			if !representable(e) {
				return false
			}
		}
	}
	return true
}
