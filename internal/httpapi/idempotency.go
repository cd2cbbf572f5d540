package httpapi

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/idempotency"
)

// HeaderIdempotentReplayed marks an answer replayed from an earlier
// request with the same Idempotency-Key.
const HeaderIdempotentReplayed = "Idempotent-Replayed"

// idempotent is the middleware of the tenant write routes (after the
// tenant context): a POST, PUT, PATCH or DELETE with an Idempotency-Key
// runs in one request transaction that also stores the key with the
// answer (2xx answers only: an error leaves the key unused), and is
// answered only after that transaction committed. A retry with the same
// key by the same caller in the same tenant gets the stored answer
// (Idempotent-Replayed: true) without running again; the same key with
// another method, path or body is 422 UNPROCESSABLE; a duplicate while the
// first is still running is 409 CONFLICT. Serialization failures and
// deadlocks run the whole request again (database.Retry).
//
// A commit whose outcome is unknown (the connection died after COMMIT was
// sent) is 503: the client retries with the same key and learns the
// definitive answer.
func (s *Server) idempotent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		values, present := req.Header[http.CanonicalHeaderKey(idempotency.Header)]
		if !present || !isWrite(req.Method) {
			return next(c)
		}
		if len(values) != 1 {
			return errs.Invalid(idempotency.Header, "must be given once")
		}
		key, err := idempotency.ParseKey(values[0])
		if err != nil {
			return err
		}
		scope, err := idempotency.ScopeOf(req.Context(), key)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return err // over the body limit: 413
		}
		uri := req.URL.RequestURI()
		fp := idempotency.Fingerprint(req.Method, uri, body)
		var answer *bufferedResponse
		err = database.Retry(req.Context(), func() error {
			var err error
			answer, err = s.runIdempotent(c, next, scope, fp, uri, body)
			return err
		})
		if err != nil {
			return err
		}
		answer.send(c.Response())
		return nil
	}
}

// runIdempotent is one attempt: lock the key, replay or refuse, or run the
// handler and store its answer, all in one request transaction.
func (s *Server) runIdempotent(c echo.Context, next echo.HandlerFunc, scope idempotency.Scope, fp, uri string, body []byte) (*bufferedResponse, error) {
	req := c.Request()
	ctx, rtx := database.InRequestTx(req.Context())
	defer func() { _ = rtx.Rollback() }()
	client := s.deps.Ent
	locked, err := idempotency.Lock(ctx, client, scope)
	if err != nil {
		return nil, err
	}
	if !locked {
		return nil, idempotency.InFlight()
	}
	row, err := idempotency.Find(ctx, client, scope, s.keyRetention())
	if err != nil {
		return nil, err
	}
	if row != nil {
		if row.RequestHash != fp {
			return nil, idempotency.Mismatch()
		}
		r := &bufferedResponse{header: http.Header{}, status: row.Status}
		r.body.Write(row.Body)
		if len(row.Body) > 0 {
			r.header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		}
		if row.Location != "" {
			r.header.Set(echo.HeaderLocation, row.Location)
		}
		r.header.Set(HeaderIdempotentReplayed, "true")
		return r, nil
	}

	// Run the handler into a buffer, inside the request transaction.
	orig := c.Response()
	buf := &bufferedResponse{header: orig.Header().Clone()}
	c.SetRequest(req.WithContext(ctx))
	c.Request().Body = io.NopCloser(bytes.NewReader(body))
	c.SetResponse(echo.NewResponse(buf, c.Echo()))
	restored := false
	restore := func() {
		if !restored {
			restored = true
			c.SetResponse(orig)
			c.SetRequest(req)
		}
	}
	defer restore() // also when the handler panics: the recover middleware answers on orig
	herr := next(c)
	if herr != nil && database.Retryable(herr) {
		return nil, herr // run the whole request again
	}
	if herr != nil {
		s.handleError(herr, c) // rendered into the buffer
	}
	restore()
	if buf.status == 0 {
		buf.status = http.StatusOK
	}
	if buf.status < 200 || buf.status > 299 {
		return buf, nil // an error: rolled back, the key stays unused
	}
	err = idempotency.Save(ctx, client, scope, req.Method, uri, fp, idempotency.Answer{
		Status: buf.status, Location: buf.header.Get(echo.HeaderLocation), Body: buf.body.Bytes(),
	})
	if err == nil {
		err = rtx.Commit()
	}
	if err != nil {
		// A commit that failed on the connection may have happened:
		// Classify makes that 503, and the retry with the key tells.
		return nil, err
	}
	return buf, nil
}

// keyRetention is how long keys are remembered.
func (s *Server) keyRetention() time.Duration {
	if r := s.cfg.Idempotency.KeyRetention; r > 0 {
		return r
	}
	return idempotency.DefaultRetention
}

func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// bufferedResponse is an answer held back until its transaction committed.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// send writes the answer to res.
func (b *bufferedResponse) send(res *echo.Response) {
	h := res.Header()
	for k, v := range b.header {
		h[k] = v
	}
	res.WriteHeader(b.status)
	if b.body.Len() > 0 {
		_, _ = res.Write(b.body.Bytes())
	}
}

// purgeBatchesPerRun bounds one purge run (idempotency.PurgeBatch rows
// per batch).
const purgeBatchesPerRun = 200

// purgeKeys deletes expired Idempotency-Key answers now and then until
// ctx ends: every quarter of the retention, at least every minute and at
// most every hour; each run is bounded (purgeBatchesPerRun batches).
func (s *Server) purgeKeys(ctx context.Context) {
	retention := s.keyRetention()
	every := min(max(retention/4, time.Minute), time.Hour)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := idempotency.Purge(ctx, s.deps.Ent, retention, purgeBatchesPerRun, s.log)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("purging expired idempotency keys", "deleted", n, "err", err)
		case n > 0:
			s.log.Info("purged expired idempotency keys", "deleted", n)
		}
	}
}
