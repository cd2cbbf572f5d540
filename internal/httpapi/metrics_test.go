package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMetricsCardinalityAttack: an unauthenticated client sends thousands
// of requests with invented methods to known and invented paths. /metrics
// must not grow with them: every label value comes from a closed set.
func TestMetricsCardinalityAttack(t *testing.T) {
	_, base := newBareServer(t, nil, nil)
	scrape := func() []byte {
		_, raw := sendRequest(t, buildRequest(t, "GET", base+"/metrics", nil))
		return raw
	}
	// Warm up every label combination the attack can legitimately reach.
	for _, p := range []string{"/api/v1/health/liveness", "/no/such/path", "/api/v1/tenants"} {
		sendRequest(t, buildRequest(t, "GET", base+p, nil))
		sendRequest(t, buildRequest(t, "BREW", base+p, nil))
	}
	before := len(scrape())
	for i := range 3000 {
		method := fmt.Sprintf("X%dMETHOD", i)
		path := []string{"/api/v1/health/liveness", fmt.Sprintf("/invented/%d", i), "/api/v1/tenants"}[i%3]
		sendRequest(t, buildRequest(t, method, base+path, nil))
	}
	raw := scrape()
	// Go runtime gauges may change a little; the label sets may not.
	if grown := len(raw) - before; grown > 4096 {
		t.Fatalf("/metrics grew by %d bytes (%d → %d) after 3000 invented methods", grown, before, len(raw))
	}
	for _, leak := range []string{"X42METHOD", "/invented/"} {
		if bytes.Contains(raw, []byte(leak)) {
			t.Fatalf("/metrics has a label from the client: %q", leak)
		}
	}
	for _, want := range []string{`method="OTHER",route="/api/v1/health/liveness",status="405"`, `method="OTHER",route="unmatched",status="404"`} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestClientCancelIsNot5xx: a client that hangs up while its request is
// being served does not make a 5xx: the request is counted under 499 and
// logged at info level, never as an error.
func TestClientCancelIsNot5xx(t *testing.T) {
	var logs lockedBuffer
	_, base := newBareServer(t, nil, &logs)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req := buildRequest(t, "GET", base+"/test/slow", nil).WithContext(ctx)
	req.Header.Set(HeaderRequestID, "cancel-check-1")
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("the slow request answered %d before the client gave up", res.StatusCode)
	}
	var raw []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		_, raw = sendRequest(t, buildRequest(t, "GET", base+"/metrics", nil))
		// The counter and the histogram are two observations: wait for the
		// one asserted below, not whichever the scrape happens to show first.
		if bytes.Contains(raw, []byte(`mtdb_http_requests_total{method="GET",route="/test/slow",status="499"} 1`)) {
			break
		}
	}
	if !bytes.Contains(raw, []byte(`mtdb_http_requests_total{method="GET",route="/test/slow",status="499"} 1`)) {
		t.Fatalf("the cancelled request is not counted under 499:\n%s", grep(raw, "/test/slow"))
	}
	if bytes.Contains(raw, []byte(`route="/test/slow",status="5`)) {
		t.Fatalf("the cancelled request is counted as a 5xx:\n%s", grep(raw, "/test/slow"))
	}
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "cancel-check-1") && !strings.Contains(l, `"level":"INFO"`) {
			t.Errorf("a cancelled request logged above info: %s", l)
		}
	}
}

func grep(b []byte, s string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
