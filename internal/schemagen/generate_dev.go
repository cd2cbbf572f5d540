package schemagen

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5/pgconn"
)

// DevDatabase creates an empty database with a fresh name (mtdb_dev_<hex>) on
// the server of adminURL, whose role must be allowed to CREATE DATABASE, for
// use as Options.DevURL. It returns the new database's URL (adminURL
// with the database replaced) and a function that drops it.
func DevDatabase(ctx context.Context, adminURL string) (devURL string, drop func(context.Context) error, err error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("schemagen: dev database: bad URL: %w", err)
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	name := "mtdb_dev_" + hex.EncodeToString(b)
	admin, err := openAdmin(ctx, u)
	if err != nil {
		return "", nil, fmt.Errorf("schemagen: dev database: %w", err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+quoteIdent(name)); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("schemagen: dev database: %w", err)
	}
	drop = func(ctx context.Context) error {
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(name)+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("schemagen: drop dev database %s: %w", name, err)
		}
		return nil
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}

// openAdmin connects to the database of u, or, when that database does not
// exist yet (a fresh server has no "mtdb"), to the server's maintenance
// database "postgres": creating a scratch database needs only the server.
func openAdmin(ctx context.Context, u *url.URL) (*sql.DB, error) {
	db, err := connect(ctx, u.String())
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "3D000" { // invalid_catalog_name
		m := *u
		m.Path = "/postgres"
		db, err = connect(ctx, m.String())
	}
	return db, err
}

// connect opens dsn and checks that it answers.
func connect(ctx context.Context, dsn string) (*sql.DB, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
