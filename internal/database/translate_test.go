package database

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/internal/errs"
)

func TestTranslate(t *testing.T) {
	codes := Codes{"23505": func(*pgconn.PgError) *errs.Error { return errs.Conflict("taken") }}
	known := errs.Forbidden("already translated")
	for _, c := range []struct {
		name  string
		err   error
		kind  errs.Kind
		field string
	}{
		{"an errs.Error passes through", known, errs.KindForbidden, ""},
		{"ent not found", &ent.NotFoundError{}, errs.KindNotFound, ""},
		{"ent validation names the field", &ent.ValidationError{Name: "email"}, errs.KindInvalid, "email"},
		{"the domain's answer for a code", &pgconn.PgError{Code: "23505"}, errs.KindConflict, ""},
		{"check violation on a column", &pgconn.PgError{Code: "23514", ColumnName: "name"}, errs.KindInvalid, "name"},
		{"value too long without a column", &pgconn.PgError{Code: "22001"}, errs.KindInvalid, "body"},
		{"numeric overflow is the caller's value", &pgconn.PgError{Code: "22003"}, errs.KindInvalid, "body"},
		{"malformed text on a column", &pgconn.PgError{Code: "22P02", ColumnName: "metadata"}, errs.KindInvalid, "metadata"},
		{"unsupported unicode escape", &pgconn.PgError{Code: "22P05"}, errs.KindInvalid, "body"},
		{"row-level security refusal", &pgconn.PgError{Code: "42501"}, errs.KindForbidden, ""},
		{"statement timeout", &pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}, errs.KindTimeout, ""},
		{"anything else stays internal", &pgconn.PgError{Code: "XX000"}, errs.KindInternal, ""},
		{"a plain error stays internal", errors.New("boom"), errs.KindInternal, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Translate(c.err, "user", codes)
			if k := errs.KindOf(got); k != c.kind {
				t.Fatalf("kind %v, want %v (%v)", k, c.kind, got)
			}
			var e *errs.Error
			if c.field != "" && (!errors.As(got, &e) || e.Fields[c.field] == "") {
				t.Fatalf("%v does not name field %q", got, c.field)
			}
			if c.kind != errs.KindInternal && !errors.Is(got, c.err) {
				t.Fatalf("%v lost its cause %v", got, c.err)
			}
		})
	}
	if Translate(nil, "user", codes) != nil {
		t.Fatal("nil must stay nil")
	}
}
