package httpapi

import (
	"reflect"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/internal/errs"
)

// refuseNUL returns a KindInvalid error naming the first field of v (a
// decoded request body) holding a string with a NUL character, nil when
// there is none. JSON allows "\u0000"; PostgreSQL text and jsonb do not,
// and would fail the statement (a 500 rather than this 400).
func refuseNUL(v any) error {
	if field, ok := findNUL(reflect.ValueOf(v), "body"); ok {
		return errs.Invalid(field, "must not contain NUL characters")
	}
	return nil
}

func findNUL(v reflect.Value, field string) (string, bool) {
	switch v.Kind() {
	case reflect.String:
		return field, strings.ContainsRune(v.String(), 0)
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return findNUL(v.Elem(), field)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			name, ok := jsonName(t.Field(i))
			if !t.Field(i).IsExported() || !ok {
				continue // not decoded from JSON
			}
			if f, ok := findNUL(v.Field(i), name); ok {
				return f, true
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			if _, ok := findNUL(iter.Key(), field); ok {
				return field, true
			}
			if _, ok := findNUL(iter.Value(), field); ok {
				return field, true
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return field, strings.ContainsRune(string(v.Bytes()), 0) // json.RawMessage
		}
		for i := range v.Len() {
			if f, ok := findNUL(v.Index(i), field); ok {
				return f, true
			}
		}
	}
	return "", false
}

// refuseNULQuery is refuseNUL for the query parameters of a request.
func refuseNULQuery(c echo.Context) error {
	for name, values := range c.QueryParams() {
		for _, v := range values {
			if strings.ContainsRune(v, 0) || strings.ContainsRune(name, 0) {
				if name = strings.ReplaceAll(name, "\x00", ""); name == "" {
					name = "query"
				}
				return errs.Invalid(name, "must not contain NUL characters")
			}
		}
	}
	return nil
}
