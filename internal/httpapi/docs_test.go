package httpapi_test

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// chromiumNames are the names a Chromium binary goes by, in the order tried.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless_shell"}

// findChromium returns the path of a Chromium binary: $CHROMIUM if set,
// else the first of chromiumNames on $PATH. Without one the test is skipped
// on a developer's machine and fails in CI (CI set), where .ci/run must
// install Debian's chromium package.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range chromiumNames {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("no Chromium binary (%s) on PATH, and CI is set: install Debian's chromium package", strings.Join(chromiumNames, ", "))
	}
	t.Skipf("no Chromium binary (%s) on PATH: install Debian's chromium package to run this test", strings.Join(chromiumNames, ", "))
	return ""
}

// dumpDOM loads url in headless Chromium and returns the DOM after the
// page's scripts ran. The browser gets no route off this machine: every
// host but 127.0.0.1 fails to resolve and any proxied request goes to a
// closed local port, so the page must render from what the server embeds
// (and Chromium's own background requests stay on the machine too).
func dumpDOM(t *testing.T, bin, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-extensions", "--disable-default-apps",
		"--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=10000", "--dump-dom", url)
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v (context: %v)\n%s", err, ctx.Err(), stderr.String())
	}
	return string(out)
}

// TestDocsPageRendersInBrowser loads /docs in headless Chromium, offline:
// Swagger UI must come from the binary, fetch /openapi.json and render
// every operation, under the page's Content-Security-Policy.
func TestDocsPageRendersInBrowser(t *testing.T) {
	bin := findChromium(t)
	ts := httptest.NewServer(newDocServer(t).Handler())
	t.Cleanup(ts.Close)
	dom := dumpDOM(t, bin, ts.URL+"/docs")
	if strings.Contains(dom, "Failed to load API definition") || strings.Contains(dom, `class="errors-wrapper"`) {
		t.Errorf("Swagger UI reports an error loading /openapi.json:\n%s", dom)
	}
	ops := documentedOps(loadSpec(t).doc)
	if got := strings.Count(dom, `class="opblock-summary"`); got != len(ops) {
		t.Errorf("%d operations rendered, want %d (one per documented operation)", got, len(ops))
	}
	for _, want := range []string{
		`class="opblock opblock-get"`, `class="opblock opblock-post"`, `class="opblock opblock-patch"`,
		`class="opblock opblock-put"`, `class="opblock opblock-delete"`,
		`data-path="/api/v1/tenants/{id}/hierarchy"`, `data-path="/api/v1/users/{id}"`,
		`data-path="/api/v1/projects"`, `data-path="/api/v1/health/readiness"`, `data-path="/metrics"`,
		`mtdb API`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("rendered DOM (%d bytes):\n%.3000s", len(dom), dom)
	}
}

// TestDocsServedOffline: the page and its files come from the binary with
// a Content-Security-Policy that allows nothing from another origin, and
// the page itself names no other origin.
func TestDocsServedOffline(t *testing.T) {
	h := newDocServer(t).Handler()
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec
	}
	for path, ct := range map[string]string{
		"/docs":                      "text/html",
		"/docs/docs.js":              "text/javascript",
		"/docs/swagger-ui-bundle.js": "text/javascript",
		"/docs/swagger-ui.css":       "text/css",
		"/docs/LICENSE":              "text/plain",
	} {
		rec := get(path)
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), ct) || rec.Body.Len() == 0 {
			t.Errorf("GET %s: %d %q, %d bytes; want 200 %s", path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len(), ct)
		}
		csp := rec.Header().Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'none'", "script-src 'self';", "connect-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, d) {
				t.Errorf("GET %s: Content-Security-Policy %q lacks %s", path, csp, d)
			}
		}
	}
	for _, path := range []string{"/docs", "/docs/docs.js"} {
		if body := get(path).Body.String(); strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, "//cdn") {
			t.Errorf("GET %s names another origin:\n%s", path, body)
		}
	}
	for _, path := range []string{"/docs/index.html", "/docs/README.md", "/docs/..%2fopenapi.go"} {
		if rec := get(path); rec.Code != 404 {
			t.Errorf("GET %s: %d, want 404", path, rec.Code)
		}
	}
	// /docs/ is not served (the page's files are relative to /docs) but
	// redirected there.
	if rec := get("/docs/"); rec.Code != 301 || rec.Header().Get("Location") != "../docs" {
		t.Errorf("GET /docs/: %d to %q, want 301 to ../docs", rec.Code, rec.Header().Get("Location"))
	}
}
