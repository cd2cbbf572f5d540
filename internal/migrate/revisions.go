package migrate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/schema"
	"github.com/jackc/pgx/v5"
)

// RevisionsTable is the name of the table holding the applied revisions, the
// same as the Atlas CLI uses.
const RevisionsTable = "atlas_schema_revisions"

// DefaultRevisionsSchema is where the revisions table lives when the
// database URL is bound to no schema (no search_path), as with the Atlas CLI.
const DefaultRevisionsSchema = "atlas_schema_revisions"

// cloudIdentifier is a bookkeeping row the Atlas CLI may write; it is not a
// migration.
const cloudIdentifier = ".atlas_cloud_identifier"

// revisionColumns lists the columns in Atlas's own order.
const revisionColumns = `version, description, type, applied, total, executed_at,
	execution_time, error, error_stmt, hash, partial_hashes, operator_version`

// revisionsSchemaFor resolves where the revisions table lives: the explicit
// schema, else the URL's search_path, else DefaultRevisionsSchema.
func revisionsSchemaFor(explicit, rawURL string) string {
	if explicit != "" {
		return explicit
	}
	if s := boundSchema(rawURL); s != "" {
		return s
	}
	return DefaultRevisionsSchema
}

// RevisionsSchema returns the schema holding the revisions table of the
// database at url, by the CLI's rules: the URL's search_path schema, else
// DefaultRevisionsSchema (PendingFrom locates the table with it).
func RevisionsSchema(url string) string {
	return revisionsSchemaFor("", url)
}

// boundSchema returns the schema the URL binds the connection to (its
// search_path parameter), or "" when it binds none.
func boundSchema(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return u.Query().Get("search_path")
}

// revisions is a migrate.RevisionReadWriter over Atlas's revisions table.
type revisions struct {
	db     schema.ExecQuerier
	schema string
}

var _ migrate.RevisionReadWriter = (*revisions)(nil)

func (r *revisions) table() string {
	return pgx.Identifier{r.schema, RevisionsTable}.Sanitize()
}

// init creates the schema and the table when missing, in Atlas's layout.
func (r *revisions) init(ctx context.Context) error {
	stmts := []string{
		`CREATE SCHEMA IF NOT EXISTS ` + pgx.Identifier{r.schema}.Sanitize(),
		`CREATE TABLE IF NOT EXISTS ` + r.table() + ` (
	version character varying NOT NULL,
	description character varying NOT NULL,
	type bigint NOT NULL DEFAULT 2,
	applied bigint NOT NULL DEFAULT 0,
	total bigint NOT NULL DEFAULT 0,
	executed_at timestamp with time zone NOT NULL,
	execution_time bigint NOT NULL,
	error text NULL,
	error_stmt text NULL,
	hash character varying NOT NULL,
	partial_hashes jsonb NULL,
	operator_version character varying NOT NULL,
	PRIMARY KEY (version)
)`,
	}
	for _, s := range stmts {
		if _, err := r.db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("create revisions table %s: %w", r.table(), err)
		}
	}
	return nil
}

// grantRead lets every role read the revisions, so that the API's login role
// (not the owner) can tell whether migrations are pending. The schema is
// only opened when it is a bookkeeping schema, not the application's own.
// Best effort: a table created by someone else may not be ours to grant.
func (r *revisions) grantRead(ctx context.Context, appSchema string) {
	if r.schema != appSchema {
		_, _ = r.db.ExecContext(ctx, `GRANT USAGE ON SCHEMA `+pgx.Identifier{r.schema}.Sanitize()+` TO PUBLIC`)
	}
	_, _ = r.db.ExecContext(ctx, `GRANT SELECT ON `+r.table()+` TO PUBLIC`)
}

// exists reports whether the revisions table is present.
func (r *revisions) exists(ctx context.Context) (bool, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, r.table())
	if err != nil {
		return false, err
	}
	defer rows.Close()
	var ok bool
	if rows.Next() {
		if err := rows.Scan(&ok); err != nil {
			return false, err
		}
	}
	return ok, rows.Err()
}

// Ident implements migrate.RevisionReadWriter.
func (r *revisions) Ident() *migrate.TableIdent {
	return &migrate.TableIdent{Name: RevisionsTable, Schema: r.schema}
}

// ReadRevisions implements migrate.RevisionReadWriter. Rows come ordered by
// version; the CLI's cloud identifier row is skipped.
func (r *revisions) ReadRevisions(ctx context.Context) ([]*migrate.Revision, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT `+revisionColumns+` FROM `+r.table()+
		` WHERE version <> $1 ORDER BY version`, cloudIdentifier)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var revs []*migrate.Revision
	for rows.Next() {
		rev, err := scanRevision(rows)
		if err != nil {
			return nil, err
		}
		revs = append(revs, rev)
	}
	return revs, rows.Err()
}

// ReadRevision implements migrate.RevisionReadWriter.
func (r *revisions) ReadRevision(ctx context.Context, version string) (*migrate.Revision, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT `+revisionColumns+` FROM `+r.table()+
		` WHERE version = $1`, version)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, migrate.ErrRevisionNotExist
	}
	return scanRevision(rows)
}

// WriteRevision implements migrate.RevisionReadWriter. Like the CLI, an
// existing row keeps its description and executed_at.
func (r *revisions) WriteRevision(ctx context.Context, rev *migrate.Revision) error {
	var partial any
	if len(rev.PartialHashes) > 0 {
		b, err := json.Marshal(rev.PartialHashes)
		if err != nil {
			return err
		}
		partial = string(b)
	}
	_, err := r.db.ExecContext(ctx, `INSERT INTO `+r.table()+` (`+revisionColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12)
ON CONFLICT (version) DO UPDATE SET
	type = EXCLUDED.type, applied = EXCLUDED.applied, total = EXCLUDED.total,
	execution_time = EXCLUDED.execution_time, error = EXCLUDED.error,
	error_stmt = EXCLUDED.error_stmt, hash = EXCLUDED.hash,
	partial_hashes = EXCLUDED.partial_hashes, operator_version = EXCLUDED.operator_version`,
		rev.Version, rev.Description, int64(rev.Type), rev.Applied, rev.Total,
		rev.ExecutedAt, int64(rev.ExecutionTime), nullString(rev.Error), nullString(rev.ErrorStmt),
		rev.Hash, partial, rev.OperatorVersion)
	return err
}

// DeleteRevision implements migrate.RevisionReadWriter.
func (r *revisions) DeleteRevision(ctx context.Context, version string) error {
	_, err := r.db.ExecContext(ctx, `DELETE FROM `+r.table()+` WHERE version = $1`, version)
	return err
}

func scanRevision(rows *sql.Rows) (*migrate.Revision, error) {
	var (
		rev                 migrate.Revision
		typ, execTime       int64
		errText, errStmt    sql.NullString
		partial             sql.NullString
		applied, total      int64
		executedAt          time.Time
		description, opVers string
	)
	if err := rows.Scan(&rev.Version, &description, &typ, &applied, &total, &executedAt,
		&execTime, &errText, &errStmt, &rev.Hash, &partial, &opVers); err != nil {
		return nil, fmt.Errorf("scan revision: %w", err)
	}
	rev.Description = description
	rev.Type = migrate.RevisionType(typ)
	rev.Applied, rev.Total = int(applied), int(total)
	rev.ExecutedAt = executedAt
	rev.ExecutionTime = time.Duration(execTime)
	rev.Error, rev.ErrorStmt = errText.String, errStmt.String
	rev.OperatorVersion = opVers
	if partial.Valid && partial.String != "null" {
		if err := json.Unmarshal([]byte(partial.String), &rev.PartialHashes); err != nil {
			return nil, fmt.Errorf("scan revision %s: partial_hashes: %w", rev.Version, err)
		}
	}
	return &rev, nil
}

func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// recorder wraps the revisions of one transaction and remembers the first
// and last revision written, so that a rolled-back file can still have its
// error recorded outside the transaction.
type recorder struct {
	*revisions
	first, last *migrate.Revision
}

func (r *recorder) WriteRevision(ctx context.Context, rev *migrate.Revision) error {
	c := *rev
	c.PartialHashes = append([]string(nil), rev.PartialHashes...)
	if r.first == nil {
		r.first = &c
	}
	r.last = &c
	return r.revisions.WriteRevision(ctx, rev)
}

// failed returns the revision to store after the transaction was rolled
// back: the state before the file ran plus the error.
func (r *recorder) failed() (*migrate.Revision, error) {
	if r.first == nil || r.last == nil {
		return nil, errors.New("no revision written")
	}
	rev := *r.last
	rev.Applied = r.first.Applied
	rev.PartialHashes = r.first.PartialHashes
	return &rev, nil
}
