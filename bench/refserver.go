package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/mail"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/tenant"
)

// refServer is the thinnest service doing the API's work for the three
// benchmarked routes: net/http, the same HS256 verification (auth.Verifier),
// the same transaction, settings statement and queries (dbWork), the same
// JSON. It has no middleware, no tenant reach check, no request id, no
// access log, no metrics, no gzip.
type refServer struct {
	verifier *auth.Verifier
	work     *dbWork
}

func (s *refServer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, map[string]string{"status": "healthy"})
	})
	mux.HandleFunc("GET /api/v1/users/{id}", s.auth(s.get))
	mux.HandleFunc("GET /api/v1/users", s.auth(s.list))
	mux.HandleFunc("POST /api/v1/users", s.auth(s.create))
	return mux
}

type refHandler func(w http.ResponseWriter, r *http.Request, tc tenant.Context)

func (s *refServer) auth(h refHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, err := auth.BearerToken(r.Header.Get("Authorization"))
		var c auth.Claims
		if err == nil {
			c, err = s.verifier.Verify(raw)
		}
		if err != nil {
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED")
			return
		}
		tc := tenant.Context{TenantID: c.TenantID, UserID: c.Subject, Role: c.Role, ReadOnly: r.Method == http.MethodGet}
		h(w, r, tc)
	}
}

func (s *refServer) get(w http.ResponseWriter, r *http.Request, tc tenant.Context) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR")
		return
	}
	u, err := s.work.getUser(r.Context(), tc, id)
	s.reply(w, http.StatusOK, u, err)
}

func (s *refServer) list(w http.ResponseWriter, r *http.Request, tc tenant.Context) {
	limit, offset, ok := page(r)
	if !ok {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR")
		return
	}
	l, err := s.work.listUsers(r.Context(), tc, limit, offset)
	s.reply(w, http.StatusOK, l, err)
}

func (s *refServer) create(w http.ResponseWriter, r *http.Request, tc tenant.Context) {
	var in struct {
		Email       string `json:"email"`
		DisplayName string `json:"display_name"`
		Role        string `json:"role"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || dec.More() {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR")
		return
	}
	email := strings.ToLower(strings.TrimSpace(in.Email))
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || strings.TrimSpace(in.DisplayName) == "" {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR")
		return
	}
	if in.Role == "" {
		in.Role = "member"
	}
	u, err := s.work.createUser(r.Context(), tc, email, strings.TrimSpace(in.DisplayName), in.Role)
	if err == nil {
		w.Header().Set("Location", "/api/v1/users/"+u.ID.String())
	}
	s.reply(w, http.StatusCreated, u, err)
}

func (s *refServer) reply(w http.ResponseWriter, status int, v any, err error) {
	switch {
	case errors.Is(err, errNotFound):
		writeError(w, http.StatusNotFound, "NOT_FOUND")
	case err != nil:
		writeError(w, http.StatusInternalServerError, "INTERNAL_ERROR")
	default:
		writeJSON(w, status, v)
	}
}

func page(r *http.Request) (limit, offset int, ok bool) {
	limit, offset = 100, 0
	var err error
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			return 0, 0, false
		}
	}
	if v := r.URL.Query().Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return 0, 0, false
		}
	}
	return limit, offset, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": code, "details": map[string]any{}, "request_id": ""}})
}

// serveRef runs the reference server on addr until ctx ends.
func serveRef(ctx context.Context, addr string, s *refServer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s.handler()}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
