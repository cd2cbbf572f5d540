// Package servicetest holds what the tests of the domain services
// (tenants, users, projects) share: a fresh migrated database opened the
// way the service opens it, through the restricted role, a tenant context
// to act in, and assertions on the errs vocabulary.
package servicetest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/pgtest"
	"github.com/mtdb/mtdb/internal/tenant"
)

// Open returns a fresh migrated database, connected as the non-superuser
// test login whose transactions enter mtdb_app: row-level security is in
// force. It is closed and dropped when t ends.
func Open(t *testing.T) *database.DB {
	t.Helper()
	db := pgtest.New(t)
	d, err := database.Open(context.Background(), database.Options{URL: db.AppURL, SettingsMode: pgtest.SettingsMode()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// As returns a context acting with role in tenant id (uuid.Nil: none).
func As(role tenant.Role, id uuid.UUID) context.Context {
	return tenant.With(context.Background(), tenant.Context{TenantID: id, Role: role, UserID: "test"})
}

// WantKind fails t unless err is an error of kind want.
func WantKind(t *testing.T, err error, want errs.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want kind %d", want)
	}
	if got := errs.KindOf(err); got != want {
		t.Fatalf("got kind %d (%v), want %d", got, err, want)
	}
}

// WantField fails t unless err is an Invalid error naming field.
func WantField(t *testing.T, err error, field string) {
	t.Helper()
	WantKind(t, err, errs.KindInvalid)
	var e *errs.Error
	if !errors.As(err, &e) || e.Fields[field] == "" {
		t.Fatalf("error %v does not name field %q", err, field)
	}
}

// Ptr returns a pointer to v, for optional inputs.
func Ptr[T any](v T) *T { return &v }
