// Package errs is the small error vocabulary that domain services return and
// that the HTTP layer maps to the contract's error envelope. Domain packages
// translate driver and ent errors into these kinds where the call is made;
// anything that is not an *Error becomes a 500 with nothing internal shown.
package errs

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Kind classifies an error for the client.
type Kind int

// The kinds, each with one HTTP status and code.
const (
	KindInternal         Kind = iota // 500 INTERNAL_ERROR
	KindInvalid                      // 400 VALIDATION_ERROR
	KindUnauthorized                 // 401 UNAUTHORIZED
	KindForbidden                    // 403 FORBIDDEN
	KindNotFound                     // 404 NOT_FOUND
	KindConflict                     // 409 CONFLICT
	KindUnavailable                  // 503 SERVICE_UNAVAILABLE
	KindTimeout                      // 504 TIMEOUT
	KindRateLimited                  // 429 RATE_LIMITED
	KindTooLarge                     // 413 PAYLOAD_TOO_LARGE
	KindMethodNotAllowed             // 405 METHOD_NOT_ALLOWED
	KindUnprocessable                // 422 UNPROCESSABLE
)

// Error is a client-safe error: Message and Fields may be shown to the
// caller; Err (the cause) never is, it is only logged.
type Error struct {
	Kind    Kind
	Message string
	Fields  map[string]string // field -> problem, for KindInvalid
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Message, e.Err)
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of err: the Kind of the first *Error in its chain,
// KindInternal otherwise.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// NotFound returns a KindNotFound error: "<what> not found".
func NotFound(what string) *Error {
	return &Error{Kind: KindNotFound, Message: what + " not found"}
}

// Conflict returns a KindConflict error with msg.
func Conflict(msg string) *Error { return &Error{Kind: KindConflict, Message: msg} }

// Unprocessable returns a KindUnprocessable error with msg: the request is
// well-formed but contradicts an earlier one (an Idempotency-Key reused
// for a different request).
func Unprocessable(msg string) *Error { return &Error{Kind: KindUnprocessable, Message: msg} }

// Forbidden returns a KindForbidden error with msg.
func Forbidden(msg string) *Error { return &Error{Kind: KindForbidden, Message: msg} }

// Invalid returns a KindInvalid error for one field: message "<field> <problem>".
func Invalid(field, problem string) *Error {
	return &Error{Kind: KindInvalid, Message: field + " " + problem, Fields: map[string]string{field: problem}}
}

// InvalidFields returns a KindInvalid error for several fields.
func InvalidFields(msg string, fields map[string]string) *Error {
	return &Error{Kind: KindInvalid, Message: msg, Fields: fields}
}

// Unavailable returns a KindUnavailable error wrapping cause.
func Unavailable(cause error) *Error {
	return &Error{Kind: KindUnavailable, Message: "the database is unavailable, retry later", Err: cause}
}

// Timeout returns a KindTimeout error wrapping cause.
func Timeout(cause error) *Error {
	return &Error{Kind: KindTimeout, Message: "the request ran past its time budget", Err: cause}
}

// Fields returns the Invalid error for the problems in bad (field ->
// problem), or nil when there are none. With one problem its message is
// "<field> <problem>", like Invalid.
func Fields(bad map[string]string) error {
	switch len(bad) {
	case 0:
		return nil
	case 1:
		for f, p := range bad {
			return Invalid(f, p)
		}
	}
	return InvalidFields("the request has invalid fields", bad)
}

// Text trims s and returns it, recording in bad under field a problem
// unless it has 1 to max characters: the rule of every name a service
// stores (a project's or API key's name, a user's display name).
func Text(bad map[string]string, field, s string, max int) string {
	s = strings.TrimSpace(s)
	switch n := utf8.RuneCountInString(s); {
	case n == 0:
		bad[field] = "must not be empty"
	case n > max:
		bad[field] = fmt.Sprintf("must be at most %d characters", max)
	}
	return s
}
