package httpapi

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/internal/errs"
)

// openapiYAML is the OpenAPI 3 document of the whole API (openapi.yaml
// beside this file: the reviewable source). GET /openapi.json serves it as
// JSON.
//
//go:embed openapi.yaml
var openapiYAML []byte

// loadOpenAPI parses and validates the embedded OpenAPI document and
// returns it with its JSON rendering. An error means openapi.yaml is broken
// (the tests catch that before a build ships).
func loadOpenAPI(ctx context.Context) (*openapi3.T, []byte, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapiYAML)
	if err != nil {
		return nil, nil, fmt.Errorf("loading openapi.yaml: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, nil, fmt.Errorf("validating openapi.yaml: %w", err)
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("rendering openapi.yaml as JSON: %w", err)
	}
	return doc, raw, nil
}

// registerDocs mounts GET /openapi.json, GET /docs and the page's static
// files under /docs/. The document is loaded and validated here, once, at
// server construction. Should it be invalid, the error is logged and these
// routes answer 500 rather than taking the whole API down with a panic.
func (s *Server) registerDocs() {
	_, raw, err := loadOpenAPI(context.Background())
	if err != nil {
		s.log.Error("the embedded OpenAPI document is invalid; /openapi.json and /docs will answer 500", "err", err)
	}
	e := s.echo
	e.GET("/openapi.json", openapiHandler(raw, err))
	e.GET("/docs", docsPage)
	e.GET("/docs/:asset", docsAsset)
}

// openapiHandler serves the JSON document raw, or an internal error when
// loading failed with loadErr.
func openapiHandler(raw []byte, loadErr error) echo.HandlerFunc {
	return func(c echo.Context) error {
		if loadErr != nil {
			return &errs.Error{Kind: errs.KindInternal, Err: loadErr}
		}
		c.Response().Header().Set("Cache-Control", "no-cache")
		return c.JSONBlob(http.StatusOK, raw)
	}
}
