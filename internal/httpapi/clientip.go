package httpapi

import (
	"net"
	"net/http"

	"github.com/labstack/echo/v4"
)

// clientIP returns how a request's client address is found (c.RealIP():
// the per-IP limit, the logs). With no trusted proxy it is the peer
// address, whatever the headers say. With trusted proxies (CIDRs), a
// request whose peer is one of them is attributed to the address its
// X-Forwarded-For names (the rightmost one that is not itself a trusted
// proxy), else to its X-Real-IP; a request from any other peer is
// attributed to the peer, so a client cannot choose its own bucket by
// sending the headers itself. Echo's own trust of loopback and private
// ranges is switched off: only the configured ranges count.
func clientIP(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	xff, realIP := echo.ExtractIPFromXFFHeader(opts...), echo.ExtractIPFromRealIPHeader(opts...)
	return func(r *http.Request) string {
		if len(r.Header.Values(echo.HeaderXForwardedFor)) > 0 {
			return xff(r)
		}
		return realIP(r)
	}
}
