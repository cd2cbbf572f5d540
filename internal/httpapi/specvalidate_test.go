package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/mtdb/mtdb/internal/httpapi"
)

// The spec checker: every request and response of a test can be held
// against the OpenAPI document the server publishes.
//
// Use checkAgainstSpec after sending a request through a recorder, or wrap
// the server's handler once with specChecked so that every exchange of a
// test is checked.

// spec is the embedded OpenAPI document and a router over it, loaded once
// per test binary.
type spec struct {
	doc    *openapi3.T
	router routers.Router
}

var (
	specOnce   sync.Once
	loadedSpec *spec
	specErr    error
)

func loadSpec(t *testing.T) *spec {
	t.Helper()
	specOnce.Do(func() {
		doc, _, err := httpapi.LoadOpenAPI(context.Background())
		if err != nil {
			specErr = err
			return
		}
		r, err := gorillamux.NewRouter(doc)
		if err != nil {
			specErr = fmt.Errorf("routing the OpenAPI document: %w", err)
			return
		}
		loadedSpec = &spec{doc: doc, router: r}
	})
	if specErr != nil {
		t.Fatal(specErr)
	}
	return loadedSpec
}

// checkAgainstSpec fails t (without stopping it) when the exchange of req
// (whose body was reqBody; nil for none) and rec does not follow the
// OpenAPI document: see specProblems.
func checkAgainstSpec(t *testing.T, req *http.Request, reqBody []byte, rec *httptest.ResponseRecorder) {
	t.Helper()
	for _, p := range loadSpec(t).problems(req, reqBody, rec.Code, rec.Header(), rec.Body.Bytes()) {
		t.Errorf("%s %s → %d: %s", req.Method, req.URL.RequestURI(), rec.Code, p)
	}
}

// specChecked wraps h so that every exchange through it is checked with
// checkAgainstSpec; the response is passed on unchanged.
func specChecked(t *testing.T, h http.Handler) http.Handler {
	t.Helper()
	loadSpec(t)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Body != nil {
			var err error
			if body, err = io.ReadAll(r.Body); err != nil {
				t.Errorf("reading the request body: %v", err)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		checkAgainstSpec(t, r, body, rec)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// problems lists how an exchange departs from the document:
//   - a path the document does not know must get 404 NOT_FOUND, and a
//     method it does not list for a known path 405 METHOD_NOT_ALLOWED,
//     both in the error envelope;
//   - a request the document calls invalid must not succeed: it gets a
//     4xx error envelope;
//   - the response (status, headers, body) must be one the operation
//     documents, and an error body's request_id must equal X-Request-ID.
//
// A gzip-compressed response body is decompressed first; CORS preflight
// requests are not checked.
func (s *spec) problems(req *http.Request, reqBody []byte, status int, header http.Header, body []byte) []string {
	if req.Method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != "" {
		return nil // a CORS preflight: the CORS middleware answers it on every path, outside the document
	}
	var out []string
	body, err := decompressed(header, body)
	if err != nil {
		return []string{err.Error()}
	}
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	if r.Method == http.MethodHead {
		r.Method = http.MethodGet // every GET operation answers HEAD too (the recorder keeps the body)
	}
	route, pathParams, err := s.router.FindRoute(r)
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		return s.unroutedProblems(status, header, body, http.StatusNotFound, "NotFoundError")
	case errors.Is(err, routers.ErrMethodNotAllowed):
		return s.unroutedProblems(status, header, body, http.StatusMethodNotAllowed, "MethodNotAllowedError")
	case err != nil:
		return []string{fmt.Sprintf("finding the route: %v", err)}
	}
	opts := &openapi3filter.Options{
		AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
		SkipSettingDefaults:   true,
		IncludeResponseStatus: true,
		MultiError:            true,
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: pathParams, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil && (status < 400 || status >= 500) {
		out = append(out, fmt.Sprintf("the document calls the request invalid (%v), yet the server answered %d", err, status))
	}
	resp := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: header, Options: opts,
	}
	resp.SetBodyBytes(body)
	if mt := mediaType(header); mt != "" && !decodable(mt) {
		// kin-openapi decodes JSON and text/plain bodies only: for HTML, CSS
		// and scripts check that the media type is documented, not the body.
		if ref := route.Operation.Responses.Status(status); ref == nil || ref.Value.Content.Get(mt) == nil {
			out = append(out, fmt.Sprintf("content type %q is not documented for status %d", mt, status))
		}
		resp.Options = &openapi3filter.Options{IncludeResponseStatus: true, ExcludeResponseBody: true}
	}
	if err := openapi3filter.ValidateResponse(context.Background(), resp); err != nil {
		out = append(out, fmt.Sprintf("response: %v; body %s", err, trim(body)))
	}
	if status >= 400 {
		out = append(out, requestIDProblems(header, body)...)
	}
	return out
}

// unroutedProblems checks the answer to a request the document does not
// route: it must have status want and an error body of schema name.
func (s *spec) unroutedProblems(status int, header http.Header, body []byte, want int, name string) []string {
	var out []string
	if status != want {
		out = append(out, fmt.Sprintf("the document does not route this request, so want %d; body %s", want, trim(body)))
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return append(out, fmt.Sprintf("error body is not JSON: %s", trim(body)))
	}
	if err := s.doc.Components.Schemas[name].Value.VisitJSON(v); err != nil {
		out = append(out, fmt.Sprintf("error body does not match %s: %v", name, err))
	}
	return append(out, requestIDProblems(header, body)...)
}

// requestIDProblems checks that an error envelope's request_id equals the
// X-Request-ID header.
func requestIDProblems(header http.Header, body []byte) []string {
	var env struct {
		Error struct {
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) != nil || env.Error.RequestID == "" {
		return nil // the schema checks reported the shape already
	}
	if got := header.Get(httpapi.HeaderRequestID); got != env.Error.RequestID {
		return []string{fmt.Sprintf("error request_id %q differs from X-Request-ID %q", env.Error.RequestID, got)}
	}
	return nil
}

func decompressed(header http.Header, body []byte) ([]byte, error) {
	if header.Get("Content-Encoding") != "gzip" || len(body) == 0 {
		return body, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("gzip body: %w", err)
	}
	return io.ReadAll(zr)
}

func mediaType(header http.Header) string {
	mt, _, err := mime.ParseMediaType(header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}

func decodable(mt string) bool {
	return mt == "application/json" || mt == "text/plain"
}

func trim(b []byte) string {
	s := string(b)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return strings.TrimSpace(s)
}
