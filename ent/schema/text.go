package schema

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"entgo.io/ent/dialect"
)

// Ent's MaxLen counts bytes and, on PostgreSQL, still creates an unbounded
// varchar. The contract counts characters, as varchar(n) does, so string
// fields take their column type from varchar(n) and their limit from
// maxChars(n) instead of MaxLen(n).

// varchar returns the schema type varchar(n) (n characters).
func varchar(n int) map[string]string {
	return map[string]string{dialect.Postgres: fmt.Sprintf("varchar(%d)", n)}
}

// maxChars returns a validator refusing invalid UTF-8 and values longer than
// max characters.
func maxChars(max int) func(string) error {
	return func(s string) error {
		if !utf8.ValidString(s) {
			return errors.New("value is not valid UTF-8")
		}
		if n := utf8.RuneCountInString(s); n > max {
			return fmt.Errorf("value has %d characters, more than %d", n, max)
		}
		return nil
	}
}
