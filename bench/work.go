package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mtdb/mtdb/internal/tenant"
)

// The statements ent sends for the same calls (checked against the API's
// traced statements in the round-trip section of the report).
const (
	userCols = `"users"."id", "users"."tenant_id", "users"."created_at", "users"."updated_at", ` +
		`"users"."email", "users"."display_name", "users"."role"`
	getUserSQL   = `SELECT ` + userCols + ` FROM "users" WHERE "users"."id" = $1 LIMIT 2`
	countUserSQL = `SELECT COUNT("users"."id") FROM "users"`
	listUserSQL  = `SELECT ` + userCols + ` FROM "users" ORDER BY "users"."created_at", "users"."id" LIMIT %d OFFSET %d`
	insertSQL    = `INSERT INTO "users" ("tenant_id", "created_at", "updated_at", "email", "display_name", "role", "id") ` +
		`VALUES ($1, $2, $3, $4, $5, $6, $7)`
)

// The statement the API sends for a list page of users (one statement: the
// page merged from one ordered index range per visible tenant, with its
// total from the maintained row counts; $1 is 'users'), as
// internal/database.ListPage builds it; the round-trip section of the report
// shows the traced original. apiListAfterSQL starts after a cursor ($2, $3).
const (
	apiListSQL = `SELECT ` + userCols + `, ((SELECT COALESCE(sum("rows"), 0)::bigint FROM "row_counts" WHERE "table_name" = $1)) AS "mtdb_total_count" ` +
		`FROM unnest(mtdb_visible_tenants()) AS "v"("tid") CROSS JOIN LATERAL (SELECT ` + userCols + ` FROM "users" ` +
		`WHERE "users"."tenant_id" = "v"."tid" ORDER BY "users"."created_at", "users"."id" LIMIT %[1]d) AS "users" ` +
		`ORDER BY "users"."created_at", "users"."id" LIMIT %[1]d`
	apiListAfterSQL = `SELECT ` + userCols + `, ((SELECT COALESCE(sum("rows"), 0)::bigint FROM "row_counts" WHERE "table_name" = $1)) AS "mtdb_total_count" ` +
		`FROM unnest(mtdb_visible_tenants()) AS "v"("tid") CROSS JOIN LATERAL (SELECT ` + userCols + ` FROM "users" ` +
		`WHERE ("users"."created_at", "users"."id") > ($2, $3) AND "users"."tenant_id" = "v"."tid" ORDER BY "users"."created_at", "users"."id" LIMIT %[1]d) AS "users" ` +
		`ORDER BY "users"."created_at", "users"."id" LIMIT %[1]d`
)

// userJSON and userList are the API's wire types (CONTRACT §6).
type userJSON struct {
	ID          uuid.UUID `json:"id"`
	TenantID    uuid.UUID `json:"tenant_id"`
	Email       string    `json:"email"`
	DisplayName string    `json:"display_name"`
	Role        string    `json:"role"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

type userList struct {
	Users      []userJSON `json:"users"`
	TotalCount int        `json:"total_count"`
	Limit      int        `json:"limit"`
	Offset     int        `json:"offset"`
}

// errNotFound is a get of an invisible or absent user.
var errNotFound = errors.New("not found")

// dbWork is the database work of one request done with pgx alone: one
// transaction (READ ONLY for reads), the API's settings statement first,
// then the same statements ent sends, then COMMIT. The reference server and
// the floor measurement share it.
type dbWork struct {
	pool             *pgxpool.Pool
	statementTimeout time.Duration
}

func (w *dbWork) tx(ctx context.Context, tc tenant.Context, fn func(pgx.Tx) error) error {
	opts := pgx.TxOptions{}
	if tc.ReadOnly {
		opts.AccessMode = pgx.ReadOnly
	}
	tx, err := w.pool.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	q, args := tenant.SettingsStatement(tc, w.statementTimeout)
	if _, err := tx.Exec(ctx, q, args...); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func scanUser(row pgx.CollectableRow) (userJSON, error) {
	var u userJSON
	err := row.Scan(&u.ID, &u.TenantID, &u.CreatedAt, &u.UpdatedAt, &u.Email, &u.DisplayName, &u.Role)
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, err
}

func (w *dbWork) getUser(ctx context.Context, tc tenant.Context, id uuid.UUID) (userJSON, error) {
	var u userJSON
	err := w.tx(ctx, tc, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, getUserSQL, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			if u, err = scanUser(rows); err != nil {
				return err
			}
			n++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if n != 1 {
			return errNotFound
		}
		return nil
	})
	return u, err
}

func (w *dbWork) listUsers(ctx context.Context, tc tenant.Context, limit, offset int) (userList, error) {
	out := userList{Users: make([]userJSON, 0, limit), Limit: limit, Offset: offset}
	err := w.tx(ctx, tc, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, countUserSQL).Scan(&out.TotalCount); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, fmt.Sprintf(listUserSQL, limit, offset))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				return err
			}
			out.Users = append(out.Users, u)
		}
		return rows.Err()
	})
	return out, err
}

func (w *dbWork) createUser(ctx context.Context, tc tenant.Context, email, name, role string) (userJSON, error) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	u := userJSON{ID: uuid.New(), TenantID: tc.TenantID, Email: email, DisplayName: name, Role: role, CreatedAt: now, UpdatedAt: now}
	err := w.tx(ctx, tc, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, insertSQL, u.TenantID, u.CreatedAt, u.UpdatedAt, u.Email, u.DisplayName, u.Role, u.ID)
		return err
	})
	return u, err
}
