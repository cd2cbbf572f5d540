package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/internal/errs"
)

// decodeJSON decodes the request body into dst, a pointer to a struct,
// strictly: the body must be exactly one JSON object, with no unknown
// fields, no value of the wrong type and nothing after it. Every failure is
// a KindInvalid error whose Fields name the offending field ("body" for the
// document as a whole). A body over the size limit keeps its reader's error
// (http.MaxBytesError or Echo's 413), which the error handler answers with
// 413. Numbers inside free-form objects (metadata) keep their exact text.
func decodeJSON(c echo.Context, dst any) error {
	raw, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return fmt.Errorf("reading the request body: %w", err)
	}
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	if len(trimmed) == 0 {
		return bodyError("must be a JSON object; the body is empty")
	}
	if trimmed[0] != '{' {
		return bodyError("must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return bodyError("must contain a single JSON object and nothing after it")
	}
	if err := checkDocument(raw, dst); err != nil {
		return err
	}
	return refuseNUL(dst)
}

// decodeError turns an encoding/json error into a KindInvalid error naming
// the field.
func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return bodyError("must be a JSON object")
		}
		return errs.Invalid(typeErr.Field, "must be "+jsonKind(typeErr.Type))
	case errors.As(err, &syntaxErr):
		return bodyError(fmt.Sprintf("is not valid JSON (at byte %d)", syntaxErr.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return bodyError("is not valid JSON (it ends too early)")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return errs.Invalid(strings.Trim(name, `"`), "is not a known field")
	}
	return bodyError("is not valid JSON")
}

func bodyError(problem string) error { return errs.Invalid("body", problem) }

// jsonKind describes the JSON value a Go type accepts, with an article.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "of another type"
}

// optionalUUID parses an optional UUID field of a request body; nil stays
// nil. Ids travel as strings in the wire types so that a bad one is reported
// under its field name.
func optionalUUID(field string, s *string) (*uuid.UUID, error) {
	if s == nil {
		return nil, nil
	}
	id, err := parseID(*s)
	if err != nil {
		return nil, errs.Invalid(field, "must be a UUID")
	}
	return &id, nil
}

// presentString reports whether a raw field was sent, and its string value
// (a JSON null reads as absent). A value that is not a string is Invalid.
func presentString(field string, raw json.RawMessage) (*string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, errs.Invalid(field, "must be a string")
	}
	return &s, nil
}
