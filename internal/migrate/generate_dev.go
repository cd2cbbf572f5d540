package migrate

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
)

// DevDatabase creates an empty database with a fresh name (mtdb_dev_<hex>) on
// the server of adminURL, whose role must be allowed to CREATE DATABASE, for
// use as GenerateOptions.DevURL. It returns the new database's URL (adminURL
// with the database replaced) and a function that drops it.
func DevDatabase(ctx context.Context, adminURL string) (devURL string, drop func(context.Context) error, err error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("migrate: dev database: bad URL: %w", err)
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	name := "mtdb_dev_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("migrate: dev database: %w", err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+quoteIdent(name)); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("migrate: dev database: %w", err)
	}
	drop = func(ctx context.Context) error {
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(name)+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("migrate: drop dev database %s: %w", name, err)
		}
		return nil
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}
