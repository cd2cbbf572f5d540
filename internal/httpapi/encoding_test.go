package httpapi

import "testing"

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"gzip":                    true,
		"GZIP":                    true,
		"br, gzip":                true,
		"gzip;q=0.5, br":          true,
		"x-gzip":                  true,
		"*":                       true,
		"gzip;q=0":                false,
		"gzip; q=0.000":           false,
		"*, gzip;q=0":             false,
		"identity":                false,
		"deflate, br":             false,
		"*;q=0":                   false,
		"gzip;q=bogus":            false,
		"":                        false,
		"deflate;q=1, gzip;q=0.1": true,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}

// TestGzipNegotiation checks the whole stack: compressed exactly when the
// client accepts gzip.
func TestGzipNegotiation(t *testing.T) {
	_, url := newBareServer(t, nil, nil)
	for header, want := range map[string]string{"GZIP": "gzip", "gzip;q=0": "", "*": "gzip", "identity": ""} {
		req := buildRequest(t, "GET", url+"/test/big", nil)
		req.Header.Set("Accept-Encoding", header)
		res, _ := sendRequest(t, req)
		if got := res.Header.Get("Content-Encoding"); got != want {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", header, got, want)
		}
	}
}
