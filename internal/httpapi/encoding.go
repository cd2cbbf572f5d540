package httpapi

import (
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// normalizeAcceptEncoding rewrites Accept-Encoding to "gzip" when the
// client accepts gzip and to "identity" otherwise, for the gzip middleware
// that follows: Echo's looks for the substring "gzip", so it compressed
// for "gzip;q=0" (gzip refused) and not for "GZIP" or "*" (codings are
// case-insensitive, and * accepts any).
func normalizeAcceptEncoding(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header
		if values := h.Values(echo.HeaderAcceptEncoding); len(values) > 0 {
			if acceptsGzip(strings.Join(values, ",")) {
				h.Set(echo.HeaderAcceptEncoding, "gzip")
			} else {
				h.Set(echo.HeaderAcceptEncoding, "identity")
			}
		}
		return next(c)
	}
}

// acceptsGzip reports whether an Accept-Encoding value (RFC 9110 §12.5.3)
// accepts gzip: named as gzip or x-gzip with a non-zero weight, or covered
// by * with a non-zero weight when not named.
func acceptsGzip(header string) bool {
	named, star := -1.0, -1.0
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || f < 0 || f > 1 {
					f = 0
				}
				q = f
			}
		}
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "gzip", "x-gzip":
			named = max(named, q)
		case "*":
			star = max(star, q)
		}
	}
	if named >= 0 {
		return named > 0
	}
	return star > 0
}
