package httpapi

import (
	"embed"
	"net/http"
	"path"

	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/internal/errs"
)

// docsAssets holds the reference page and everything it loads (Swagger UI;
// see assets/README.md), so that /docs works with no internet access.
//
//go:embed assets/index.html assets/docs.js assets/swagger-ui-bundle.js assets/swagger-ui.css assets/LICENSE
var docsAssets embed.FS

// docsCSP is the Content-Security-Policy of the reference page and its
// files: everything comes from this server; Swagger UI sets inline styles
// and uses data: URIs for its icons. It replaces the API-wide policy set by
// securityHeaders for these responses only.
const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// docsTypes are the files served under /docs/ and their content types.
var docsTypes = map[string]string{
	"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
	"docs.js":              "text/javascript; charset=utf-8",
	"swagger-ui.css":       "text/css; charset=utf-8",
	"LICENSE":              "text/plain; charset=utf-8",
}

// GET /docs: the browsable API reference, rendering /openapi.json.
func docsPage(c echo.Context) error {
	return serveDocsFile(c, "index.html", "text/html; charset=utf-8", "no-cache")
}

// GET /docs/:asset: a file of the reference page.
func docsAsset(c echo.Context) error {
	name := c.Param("asset")
	ct, ok := docsTypes[name]
	if !ok {
		return errs.NotFound("documentation file")
	}
	return serveDocsFile(c, name, ct, "public, max-age=3600")
}

func serveDocsFile(c echo.Context, name, contentType, cacheControl string) error {
	b, err := docsAssets.ReadFile(path.Join("assets", name))
	if err != nil {
		return &errs.Error{Kind: errs.KindInternal, Err: err}
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", docsCSP)
	h.Set("Cache-Control", cacheControl)
	return c.Blob(http.StatusOK, contentType, b)
}
