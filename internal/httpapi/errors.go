package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
)

// errorBody is the contract's error envelope.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string         `json:"code"`
	Message   string         `json:"message"`
	Details   map[string]any `json:"details"`
	RequestID string         `json:"request_id"`
}

// kindStatus maps each error kind to its status and code.
var kindStatus = map[errs.Kind]struct {
	status int
	code   string
}{
	errs.KindInternal:         {http.StatusInternalServerError, "INTERNAL_ERROR"},
	errs.KindInvalid:          {http.StatusBadRequest, "VALIDATION_ERROR"},
	errs.KindUnauthorized:     {http.StatusUnauthorized, "UNAUTHORIZED"},
	errs.KindForbidden:        {http.StatusForbidden, "FORBIDDEN"},
	errs.KindNotFound:         {http.StatusNotFound, "NOT_FOUND"},
	errs.KindConflict:         {http.StatusConflict, "CONFLICT"},
	errs.KindUnavailable:      {http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE"},
	errs.KindTimeout:          {http.StatusGatewayTimeout, "TIMEOUT"},
	errs.KindRateLimited:      {http.StatusTooManyRequests, "RATE_LIMITED"},
	errs.KindTooLarge:         {http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE"},
	errs.KindMethodNotAllowed: {http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"},
	errs.KindUnprocessable:    {http.StatusUnprocessableEntity, "UNPROCESSABLE"},
}

// statusKind maps the statuses Echo itself produces to a kind.
var statusKind = map[int]errs.Kind{
	http.StatusBadRequest:            errs.KindInvalid,
	http.StatusUnauthorized:          errs.KindUnauthorized,
	http.StatusForbidden:             errs.KindForbidden,
	http.StatusNotFound:              errs.KindNotFound,
	http.StatusMethodNotAllowed:      errs.KindMethodNotAllowed,
	http.StatusConflict:              errs.KindConflict,
	http.StatusRequestEntityTooLarge: errs.KindTooLarge,
	http.StatusTooManyRequests:       errs.KindRateLimited,
	http.StatusServiceUnavailable:    errs.KindUnavailable,
	http.StatusGatewayTimeout:        errs.KindTimeout,
}

// toError turns any handler error into a client-safe *errs.Error. Errors
// that are neither *errs.Error nor *echo.HTTPError become internal errors
// (their text is never shown) unless they are a body over the limit or a
// deadline that passed.
func toError(err error) *errs.Error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &errs.Error{Kind: errs.KindTooLarge, Message: fmt.Sprintf("request body exceeds %d bytes", tooBig.Limit), Err: err}
	}
	// Connection-level failures a handler passed on unclassified (database
	// down, pool exhausted, statement timeout) become 503/504, not 500.
	err = database.Classify(err)
	var e *errs.Error
	if errors.As(err, &e) {
		if e.Message == "" || e.Kind == errs.KindInternal {
			return &errs.Error{Kind: e.Kind, Message: defaultMessage(e.Kind), Fields: e.Fields, Err: err}
		}
		return e
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		kind, ok := statusKind[he.Code]
		if !ok {
			return &errs.Error{Kind: errs.KindInternal, Message: defaultMessage(errs.KindInternal), Err: err}
		}
		msg := defaultMessage(kind)
		if s, ok := he.Message.(string); ok && kind == errs.KindInvalid && s != "" {
			msg = s
		}
		return &errs.Error{Kind: kind, Message: msg, Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errs.Timeout(err)
	}
	return &errs.Error{Kind: errs.KindInternal, Message: defaultMessage(errs.KindInternal), Err: err}
}

// statusOf returns the status err would be answered with.
func statusOf(err error) int {
	if ks, ok := kindStatus[toError(err).Kind]; ok {
		return ks.status
	}
	return http.StatusInternalServerError
}

func defaultMessage(k errs.Kind) string {
	switch k {
	case errs.KindInvalid:
		return "the request is invalid"
	case errs.KindUnauthorized:
		return "a valid bearer token is required"
	case errs.KindForbidden:
		return "not allowed"
	case errs.KindNotFound:
		return "not found"
	case errs.KindMethodNotAllowed:
		return "method not allowed"
	case errs.KindConflict:
		return "conflict"
	case errs.KindUnprocessable:
		return "the request cannot be processed"
	case errs.KindTooLarge:
		return "request body too large"
	case errs.KindRateLimited:
		return "too many requests, retry later"
	case errs.KindUnavailable:
		return "the service is unavailable, retry later"
	case errs.KindTimeout:
		return "the request ran past its time budget"
	}
	return "internal server error"
}

// handleError is Echo's HTTPErrorHandler: every error becomes the
// contract's envelope. Internal errors are logged with the request id; their
// text never reaches the client.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	rid := requestID(c)
	var gone *clientClosed
	if errors.As(err, &gone) {
		s.log.Info("client closed the request", "request_id", rid, "method", c.Request().Method,
			"route", c.Path(), "status", StatusClientClosedRequest, "err", gone.err)
		c.Response().WriteHeader(StatusClientClosedRequest) // nobody reads it; the access log and metrics do
		return
	}
	e := toError(err)
	ks, ok := kindStatus[e.Kind]
	if !ok {
		ks = kindStatus[errs.KindInternal]
	}
	if ks.status >= 500 && !isShed(err) { // a shed request is the service working as designed
		attrs := []any{"request_id", rid, "method", c.Request().Method, "route", c.Path(), "status", ks.status}
		if cause := database.CauseOf(e); cause != "" {
			// The database is unavailable: logged once, here, with its
			// cause, and counted by cause.
			s.metrics.unavailable.WithLabelValues(string(cause)).Inc()
			s.deps.Health.DatabaseFailed()
			attrs = append(attrs, "cause", string(cause))
		}
		s.log.Error("request failed", append(attrs, "err", err)...)
	}
	h := c.Response().Header()
	switch ks.status {
	case http.StatusUnauthorized:
		if h.Get(echo.HeaderWWWAuthenticate) == "" {
			h.Set(echo.HeaderWWWAuthenticate, "Bearer")
		}
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		if h.Get("Retry-After") == "" {
			h.Set("Retry-After", "5")
		}
	case http.StatusMethodNotAllowed:
		// Every GET route answers HEAD too (headAsGet), which Echo's Allow
		// does not know.
		if allow := h.Get(echo.HeaderAllow); strings.Contains(allow, http.MethodGet) && !strings.Contains(allow, http.MethodHead) {
			h.Set(echo.HeaderAllow, allow+", "+http.MethodHead)
		}
	}
	details := map[string]any{}
	if len(e.Fields) > 0 {
		details["fields"] = e.Fields
	}
	body := errorBody{Error: errorDetail{Code: ks.code, Message: e.Message, Details: details, RequestID: rid}}
	// Also for HEAD: net/http drops the body, and the headers (Content-Type
	// included) stay those of the GET answer.
	if err := c.JSON(ks.status, body); err != nil {
		s.log.Warn("writing error response failed", "request_id", rid, "err", err)
	}
}
