package httpapi

import "net/http"

// OpsHandler returns the ops listener's handler, nil when SERVER_OPS_PORT
// is not set (for the tests of package httpapi_test).
func (s *Server) OpsHandler() http.Handler {
	if s.ops == nil {
		return nil
	}
	return s.ops.Handler
}
