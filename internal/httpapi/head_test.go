package httpapi

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestHEADAnswersLikeGET checks that every GET route answers HEAD with the
// GET status and headers and no body (RFC 9110 §9.3.2), that a path
// without GET still answers 405, and that the access log names HEAD.
func TestHEADAnswersLikeGET(t *testing.T) {
	var logs bytes.Buffer
	_, url := newBareServer(t, nil, &logs)
	for _, c := range []struct {
		path string
		code int
	}{
		{"/health", 200},
		{"/api/v1/health/", 200},
		{"/api/v1/health/liveness", 200},
		{"/docs", 200},
		{"/openapi.json", 200},
		{"/test/err/invalid", 400},
		{"/test/echo-body", 405},
		{"/no/such/path", 404},
	} {
		t.Run(c.path, func(t *testing.T) {
			get, _ := sendRequest(t, buildRequest(t, "GET", url+c.path, nil))
			head := rawHEAD(t, strings.TrimPrefix(url, "http://"), c.path)
			if head.StatusCode != c.code || get.StatusCode != c.code {
				t.Fatalf("HEAD %d, GET %d, want %d", head.StatusCode, get.StatusCode, c.code)
			}
			if ct := head.Header.Get("Content-Type"); c.code != 405 && ct != get.Header.Get("Content-Type") {
				t.Fatalf("HEAD Content-Type %q, GET %q", ct, get.Header.Get("Content-Type"))
			}
			if head.Header.Get(HeaderRequestID) == "" {
				t.Fatal("HEAD answer without X-Request-ID")
			}
		})
	}
	res, _ := sendRequest(t, buildRequest(t, "DELETE", url+"/health", nil))
	if allow := res.Header.Get("Allow"); res.StatusCode != 405 || !strings.Contains(allow, "GET") || !strings.Contains(allow, "HEAD") {
		t.Errorf("DELETE /health: %d, Allow %q; want 405 allowing GET and HEAD", res.StatusCode, allow)
	}
	if !strings.Contains(logs.String(), `"method":"HEAD","route":"/health"`) {
		t.Fatalf("the access log does not name HEAD: %s", logs.String())
	}
}

// rawHEAD sends HEAD path over its own connection and fails unless the
// server sends nothing after the headers.
func rawHEAD(t *testing.T, addr, path string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "HEAD "+path+" HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
	if err != nil {
		t.Fatal(err)
	}
	if rest, _ := io.ReadAll(br); len(rest) > 0 {
		t.Fatalf("HEAD %s sent a body: %q", path, rest)
	}
	return res
}

// TestDocsSlashRedirects checks that /docs/ leads to the reference page.
func TestDocsSlashRedirects(t *testing.T) {
	_, url := newBareServer(t, nil, nil)
	res, body := sendRequest(t, buildRequest(t, "GET", url+"/docs/", nil))
	if res.StatusCode != 200 || res.Request.URL.Path != "/docs" || !bytes.Contains(body, []byte("<html")) {
		t.Fatalf("GET /docs/ ended at %s with %d", res.Request.URL, res.StatusCode)
	}
}
