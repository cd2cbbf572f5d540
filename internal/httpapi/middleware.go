package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/internal/errs"
)

// HeaderRequestID carries the request id in both directions.
const HeaderRequestID = "X-Request-ID"

var requestIDRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// withRequestID echoes a valid incoming X-Request-ID or generates one, and
// sets it on the response before anything else runs.
func withRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(HeaderRequestID)
		if !requestIDRe.MatchString(id) {
			id = uuid.NewString()
		}
		c.Response().Header().Set(HeaderRequestID, id)
		return next(c)
	}
}

// requestID returns the id withRequestID assigned to the request.
func requestID(c echo.Context) string { return c.Response().Header().Get(HeaderRequestID) }

// observe writes one access-log line per request and records its metrics.
// Handler errors are rendered here (c.Error) so that the logged status is
// the one sent.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		latency := time.Since(start)
		req, res := c.Request(), c.Response()
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		s.metrics.observe(req.Method, route, res.Status, latency)
		attrs := []any{
			"request_id", requestID(c), "method", req.Method, "route", route,
			"status", res.Status, "bytes", res.Size,
			"latency_ms", float64(latency.Microseconds()) / 1000,
		}
		if tid, ok := c.Get(ContextKeyTenantID).(string); ok && tid != "" {
			attrs = append(attrs, "tenant_id", tid)
		}
		s.log.Info("request", attrs...)
		return nil
	}
}

// renderErrors renders a handler's error (c.Error) inside the gzip
// middleware, so that error bodies are compressed like any other answer:
// Echo's gzip middleware steps aside for an error that reaches it unwritten.
func renderErrors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := next(c); err != nil {
			c.Error(err)
		}
		return nil
	}
}

// ctxKeyHEAD marks a HEAD request routed as a GET.
const ctxKeyHEAD = "mtdb.head"

// headAsGet (a Pre middleware) routes HEAD like GET: every GET route
// answers HEAD too (RFC 9110 §9.3.2), without a HEAD route of its own.
// Echo routes on the *http.Request's method before the Use chain runs, so
// the method is switched here and switched back by restoreHEAD before any
// handler runs: handlers, logs and metrics see HEAD, and net/http, which
// keys on the same request, sends the headers without the body.
func headAsGet(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if req := c.Request(); req.Method == http.MethodHead {
			req.Method = http.MethodGet
			c.Set(ctxKeyHEAD, true)
		}
		return next(c)
	}
}

// trimTrailingSlash (a Pre middleware) routes a path with one trailing
// slash like the path without it (/api/v1/tenants/ like /api/v1/tenants),
// as many clients and frameworks write collection URLs that way. The
// reference page keeps its own paths: its files are relative to /docs, so
// /docs/ is redirected (relatively, to work behind a path prefix) instead.
func trimTrailingSlash(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := c.Request().URL
		if u.Path == "/docs/" && (c.Request().Method == http.MethodGet || c.Request().Method == http.MethodHead) {
			return c.Redirect(http.StatusMovedPermanently, "../docs")
		}
		if len(u.Path) > 1 && strings.HasSuffix(u.Path, "/") && !strings.HasPrefix(u.Path, "/docs") {
			u.Path = strings.TrimSuffix(u.Path, "/")
			u.RawPath = strings.TrimSuffix(u.RawPath, "/")
		}
		return next(c)
	}
}

// restoreHEAD (the first Use middleware, after routing) undoes headAsGet.
func restoreHEAD(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if head, _ := c.Get(ctxKeyHEAD).(bool); head {
			c.Request().Method = http.MethodHead
		}
		return next(c)
	}
}

// recoverPanic turns a panic into a 500 envelope; the stack goes to the log
// only.
func (s *Server) recoverPanic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.log.Error("panic in handler", "request_id", requestID(c), "route", c.Path(),
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = &errs.Error{Kind: errs.KindInternal, Err: fmt.Errorf("panic: %v", r)}
		}()
		return next(c)
	}
}

// limitBody refuses bodies over limit with 413 before the handler runs,
// whatever the route: at once when the declared Content-Length is too big,
// and by reading at most limit+1 bytes first when the length is not
// declared (chunked), so that a handler that ignores its body (DELETE, GET)
// cannot act on an oversized request. A declared length within the limit
// is still enforced while reading, through http.MaxBytesReader, whose
// *http.MaxBytesError the error handler maps to 413.
func limitBody(limit int64) echo.MiddlewareFunc {
	tooLarge := &errs.Error{Kind: errs.KindTooLarge, Message: fmt.Sprintf("request body exceeds %d bytes", limit)}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.ContentLength > limit {
				return tooLarge
			}
			if req.Body == nil || req.Body == http.NoBody {
				return next(c)
			}
			if req.ContentLength < 0 {
				buf, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
				if err != nil {
					return &errs.Error{Kind: errs.KindInvalid, Message: "body could not be read", Fields: map[string]string{"body": "could not be read"}, Err: err}
				}
				if int64(len(buf)) > limit {
					return tooLarge
				}
				req.Body = io.NopCloser(bytes.NewReader(buf))
				return next(c)
			}
			req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
			return next(c)
		}
	}
}

// withTimeout gives each request a context deadline. A handler that returns
// after the deadline with a context error gets 504. A server-side failure
// of a request whose client went away first (its context cancelled: the
// database call was cut short by the client, not by a fault) becomes
// errClientClosed, answered 499 and logged at info level: a client cannot
// inflate the 5xx rate by hanging up.
func withTimeout(d time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			parent := c.Request().Context()
			ctx, cancel := context.WithTimeout(parent, d)
			defer cancel()
			c.SetRequest(c.Request().WithContext(ctx))
			err := next(c)
			switch {
			case err == nil:
			case errors.Is(parent.Err(), context.Canceled) && statusOf(err) >= 500:
				return &clientClosed{err: err}
			case errors.Is(ctx.Err(), context.DeadlineExceeded) && errs.KindOf(err) == errs.KindInternal:
				return errs.Timeout(err)
			}
			return err
		}
	}
}

// StatusClientClosedRequest is the status recorded for a request whose
// client went away before the answer (nginx's 499).
const StatusClientClosedRequest = 499

// clientClosed is a handler error that only happened because the client
// cancelled its request.
type clientClosed struct{ err error }

func (e *clientClosed) Error() string { return "client closed the request: " + e.err.Error() }
func (e *clientClosed) Unwrap() error { return e.err }

// securityHeaders sets the headers every API response should carry.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "frame-ancestors 'none'")
		if c.Request().TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		return next(c)
	}
}
