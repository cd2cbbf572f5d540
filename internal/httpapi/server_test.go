package httpapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/internal/config"
	"github.com/mtdb/mtdb/internal/errs"
)

// testConfig returns a development configuration read from an empty
// environment, with overrides applied.
func foundationConfig(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	t.Chdir(t.TempDir()) // no config.yaml
	cfg, err := config.Load(config.Options{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// newTestServer returns a Server with no database and its test URL.
func newBareServer(t *testing.T, env map[string]string, logs io.Writer) (*Server, string) {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	if env == nil {
		env = map[string]string{}
	}
	if env["DATABASE_URL"] == "" { // no database: nothing listens on port 1
		env["DATABASE_URL"] = "postgres://mtdb@127.0.0.1:1/none?connect_timeout=1"
	}
	s := testServer(t, foundationConfig(t, env), log, "test")
	e := s.Echo()
	e.GET("/test/panic", func(echo.Context) error { panic("boom: secret internals") })
	e.POST("/test/echo-body", func(c echo.Context) error {
		b, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]int{"bytes": len(b)})
	})
	e.GET("/test/err/:kind", func(c echo.Context) error {
		switch c.Param("kind") {
		case "unavailable":
			return errs.Unavailable(errors.New("dial tcp 10.1.2.3:5432: connection refused"))
		case "unauthorized":
			return &errs.Error{Kind: errs.KindUnauthorized, Message: "token expired"}
		case "invalid":
			return errs.Invalid("name", "must not be empty")
		case "driver":
			return errors.New(`pq: relation "users" does not exist SELECT * FROM users`)
		}
		return nil
	})
	e.GET("/test/slow", func(c echo.Context) error {
		select {
		case <-c.Request().Context().Done():
			return c.Request().Context().Err()
		case <-time.After(5 * time.Second):
			return c.NoContent(http.StatusNoContent)
		}
	})
	e.GET("/test/big", func(c echo.Context) error {
		return c.String(http.StatusOK, strings.Repeat("compressible ", 1000))
	})
	s.metrics.knowRoutes(e.Routes()) // the test routes are labelled like real ones
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts.URL
}

type errEnvelope struct {
	Error struct {
		Code      string                       `json:"code"`
		Message   string                       `json:"message"`
		Details   map[string]map[string]string `json:"details"`
		RequestID string                       `json:"request_id"`
	} `json:"error"`
}

func sendRequest(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

func buildRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestErrorEnvelope(t *testing.T) {
	var logs bytes.Buffer
	_, base := newBareServer(t, map[string]string{"SERVER_BODY_LIMIT": "1024"}, &logs)
	big := strings.Repeat("x", 2048)
	cases := []struct {
		name   string
		method string
		path   string
		body   func() io.Reader
		status int
		code   string
	}{
		{"unknown route", "GET", "/nope", nil, 404, "NOT_FOUND"},
		{"unknown route under api", "GET", "/api/v1/nope", nil, 404, "NOT_FOUND"},
		{"wrong method on known path", "POST", "/api/v1/health/liveness", nil, 405, "METHOD_NOT_ALLOWED"},
		{"declared body over limit", "POST", "/test/echo-body", func() io.Reader { return strings.NewReader(big) }, 413, "PAYLOAD_TOO_LARGE"},
		{"chunked body over limit", "POST", "/test/echo-body", func() io.Reader { return io.MultiReader(strings.NewReader(big)) }, 413, "PAYLOAD_TOO_LARGE"},
		{"panicking handler", "GET", "/test/panic", nil, 500, "INTERNAL_ERROR"},
		{"driver error", "GET", "/test/err/driver", nil, 500, "INTERNAL_ERROR"},
		{"database down", "GET", "/test/err/unavailable", nil, 503, "SERVICE_UNAVAILABLE"},
		{"unauthorized", "GET", "/test/err/unauthorized", nil, 401, "UNAUTHORIZED"},
		{"validation", "GET", "/test/err/invalid", nil, 400, "VALIDATION_ERROR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != nil {
				body = tc.body()
			}
			req := buildRequest(t, tc.method, base+tc.path, body)
			if tc.name == "chunked body over limit" {
				req.ContentLength = -1 // no Content-Length: Transfer-Encoding chunked
			}
			req.Header.Set("X-Request-ID", "req-"+strings.ReplaceAll(tc.name, " ", "_"))
			res, raw := sendRequest(t, req)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.status, raw)
			}
			var env errEnvelope
			if err := json.Unmarshal(raw, &env); err != nil {
				t.Fatalf("not a JSON errEnvelope: %s", raw)
			}
			if env.Error.Code != tc.code || env.Error.Message == "" {
				t.Fatalf("errEnvelope %s, want code %s", raw, tc.code)
			}
			if want := req.Header.Get("X-Request-ID"); env.Error.RequestID != want || res.Header.Get("X-Request-ID") != want {
				t.Fatalf("request id %q / header %q, want %q", env.Error.RequestID, res.Header.Get("X-Request-ID"), want)
			}
			for _, leak := range []string{"secret internals", "goroutine", "10.1.2.3", "relation", "SELECT"} {
				if strings.Contains(string(raw), leak) {
					t.Fatalf("body leaks %q: %s", leak, raw)
				}
			}
			switch tc.status {
			case 401:
				if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("401 without WWW-Authenticate: Bearer")
				}
			case 503:
				if res.Header.Get("Retry-After") == "" {
					t.Fatalf("503 without Retry-After")
				}
			case 400:
				if env.Error.Details["fields"]["name"] != "must not be empty" {
					t.Fatalf("details.fields missing: %s", raw)
				}
			case 405:
				if res.Header.Get("Allow") == "" {
					t.Fatalf("405 without Allow header")
				}
			}
		})
	}
	if !strings.Contains(logs.String(), "goroutine") || !strings.Contains(logs.String(), "boom: secret internals") {
		t.Fatalf("the panic's stack must be logged")
	}
}

func TestRequestID(t *testing.T) {
	_, base := newBareServer(t, nil, nil)
	cases := []struct {
		name, in string
		echoed   bool
	}{
		{"valid id echoed", "abc-123_X.y", true},
		{"missing id generated", "", false},
		{"invalid characters replaced", "bad id; drop", false},
		{"too long replaced", strings.Repeat("a", 129), false},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := buildRequest(t, "GET", base+"/health", nil)
			if tc.in != "" {
				req.Header.Set("X-Request-ID", tc.in)
			}
			res, _ := sendRequest(t, req)
			got := res.Header.Get("X-Request-ID")
			if tc.echoed != (got == tc.in) || got == "" || seen[got] {
				t.Fatalf("X-Request-ID %q for input %q", got, tc.in)
			}
			seen[got] = true
		})
	}
}

func TestMiddlewareHeaders(t *testing.T) {
	_, base := newBareServer(t, map[string]string{"CORS_ALLOWED_ORIGINS": "https://app.example"}, nil)
	req := buildRequest(t, "GET", base+"/test/big", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("Origin", "https://app.example")
	res, err := http.DefaultTransport.RoundTrip(req) // no transparent decompression
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("response not gzip-compressed: %v", res.Header)
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(zr); len(b) != len("compressible ")*1000 {
		t.Fatalf("decompressed body has %d bytes", len(b))
	}
	for h, want := range map[string]string{
		"X-Content-Type-Options":      "nosniff",
		"X-Frame-Options":             "DENY",
		"Referrer-Policy":             "no-referrer",
		"Access-Control-Allow-Origin": "https://app.example",
	} {
		if got := res.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	req = buildRequest(t, "GET", base+"/health", nil)
	req.Header.Set("Origin", "https://evil.example")
	res, _ = sendRequest(t, req)
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("disallowed origin got Access-Control-Allow-Origin %q", got)
	}
}

func TestRequestTimeout(t *testing.T) {
	_, base := newBareServer(t, map[string]string{"SERVER_REQUEST_TIMEOUT": "100ms"}, nil)
	res, raw := sendRequest(t, buildRequest(t, "GET", base+"/test/slow", nil))
	if res.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(raw), `"TIMEOUT"`) {
		t.Fatalf("got %d %s, want 504 TIMEOUT", res.StatusCode, raw)
	}
}

func TestAccessLogAndMetrics(t *testing.T) {
	var logs bytes.Buffer
	_, base := newBareServer(t, nil, &logs)
	req := buildRequest(t, "GET", base+"/api/v1/health/liveness", nil)
	req.Header.Set("X-Request-ID", "log-check-1")
	sendRequest(t, req)
	var line map[string]any
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "log-check-1") {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line == nil || line["route"] != "/api/v1/health/liveness" || line["method"] != "GET" ||
		line["status"] != float64(200) || line["latency_ms"] == nil || line["bytes"] == nil {
		t.Fatalf("access log line %v", line)
	}
	sendRequest(t, buildRequest(t, "GET", base+"/no/such/path-123", nil))
	_, raw := sendRequest(t, buildRequest(t, "GET", base+"/metrics", nil))
	if strings.Contains(string(raw), "path-123") {
		t.Fatalf("unmatched paths must not become metric labels")
	}
	for _, want := range []string{
		`mtdb_http_requests_total{method="GET",route="/api/v1/health/liveness",status="200"} 1`,
		`mtdb_http_request_duration_seconds_bucket{method="GET",route="/api/v1/health/liveness",status="200"`,
		"go_goroutines",
	} {
		if !strings.Contains(string(raw), want) {
			t.Fatalf("/metrics lacks %q", want)
		}
	}
}

func TestLivenessWithoutDatabase(t *testing.T) {
	_, base := newBareServer(t, nil, nil)
	for path, want := range map[string]int{
		"/health":                     200,
		"/api/v1/health":              200,
		"/api/v1/health/":             200,
		"/api/v1/health/liveness":     200,
		"/api/v1/health/readiness":    503,
		"/api/v1/health/database":     503,
		"/api/v1/health/detailed":     503,
		"/api/v1/health/no-such-page": 404,
	} {
		res, raw := sendRequest(t, buildRequest(t, "GET", base+path, nil))
		if res.StatusCode != want {
			t.Errorf("%s: %d %s, want %d", path, res.StatusCode, raw, want)
		}
	}
}

func TestShutdownDrainsInFlightRequests(t *testing.T) {
	s, _ := newBareServer(t, nil, nil)
	started := make(chan struct{})
	s.Echo().GET("/test/drain", func(c echo.Context) error {
		close(started)
		time.Sleep(300 * time.Millisecond)
		return c.String(http.StatusOK, "finished")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	type result struct {
		status int
		body   string
		err    error
	}
	got := make(chan result, 1)
	go func() {
		res, err := http.Get(base + "/test/drain")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		got <- result{status: res.StatusCode, body: string(b)}
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if r := <-got; r.err != nil || r.status != 200 || r.body != "finished" {
		t.Fatalf("in-flight request: %+v", r)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve returned %v after a graceful shutdown", err)
	}
	if !s.deps.Health.ShuttingDown() {
		t.Fatal("readiness not switched to shutting down")
	}
}

func TestRateLimit(t *testing.T) {
	_, base := newBareServer(t, map[string]string{"RATE_LIMIT_REQUESTS_PER_SECOND": "0.5", "RATE_LIMIT_BURST": "2"}, nil)
	statuses := []int{}
	for range 3 {
		res, raw := sendRequest(t, buildRequest(t, "GET", base+"/nope", nil))
		statuses = append(statuses, res.StatusCode)
		if res.StatusCode == 429 && (res.Header.Get("Retry-After") != "2" || !strings.Contains(string(raw), `"RATE_LIMITED"`)) {
			t.Fatalf("429 without Retry-After or code: %v %s", res.Header, raw)
		}
	}
	if statuses[0] != 404 || statuses[1] != 404 || statuses[2] != 429 {
		t.Fatalf("statuses %v, want [404 404 429]", statuses)
	}
	if res, _ := sendRequest(t, buildRequest(t, "GET", base+"/api/v1/health/liveness", nil)); res.StatusCode != 200 {
		t.Fatalf("probes must not be rate limited: %d", res.StatusCode)
	}
	if res, _ := sendRequest(t, buildRequest(t, "GET", base+"/api/v1/health", nil)); res.StatusCode != 429 {
		t.Fatalf("the other health routes are rate limited like the API: %d, want 429", res.StatusCode)
	}
}

// A request that cannot reach the database: 503 with Retry-After, one log
// line naming the cause, and the cause counted in
// mtdb_database_unavailable_total.
func TestUnavailableLoggedAndCounted(t *testing.T) {
	var logs lockedBuffer
	_, url := newBareServer(t, map[string]string{"ENVIRONMENT": "development", "AUTH_REQUIRED": "false"}, &logs)
	req, _ := http.NewRequest("GET", url+"/api/v1/projects", nil)
	res, body := sendRequest(t, req)
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "SERVICE_UNAVAILABLE") {
		t.Fatalf("database down: %d %v %s", res.StatusCode, res.Header, body)
	}
	if n := strings.Count(logs.String(), `"cause":"connect"`); n != 1 {
		t.Fatalf("the cause is logged %d times, want once:\n%s", n, logs.String())
	}
	req, _ = http.NewRequest("GET", url+"/metrics", nil)
	_, body = sendRequest(t, req)
	for _, want := range []string{`mtdb_database_unavailable_total{cause="connect"} 1`, `mtdb_database_unavailable_total{cause="read_only"} 0`} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("/metrics lacks %s", want)
		}
	}
}
