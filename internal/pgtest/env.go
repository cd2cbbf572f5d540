package pgtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mtdb/mtdb/internal/localpg"
	"github.com/mtdb/mtdb/internal/migrate"
	"github.com/mtdb/mtdb/migrations"
)

// DefaultURL is the server used when TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// testerPassword is set on TesterRole so that AppURL also works on servers
// that require passwords; with trust authentication it is ignored.
const testerPassword = "mtdb_tester"

// env is what all tests of one binary share: the server, an admin pool on
// its maintenance database and the ready template.
type env struct {
	server   string
	admin    *pgxpool.Pool
	template string
}

// The process-wide environment: one template check per test binary.
var shared struct {
	once sync.Once
	env  *env
	err  error
}

func sharedEnv(ctx context.Context) (*env, error) {
	shared.once.Do(func() {
		shared.env, shared.err = setup(ctx)
	})
	return shared.env, shared.err
}

func setup(ctx context.Context) (*env, error) {
	server, err := findServer(ctx)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(server)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 4
	admin, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	sum, err := migrationSum()
	if err != nil {
		admin.Close()
		return nil, err
	}
	e := &env{server: server, admin: admin, template: templateName(sum)}
	if err := ensureTemplate(ctx, e); err != nil {
		admin.Close()
		return nil, err
	}
	return e, nil
}

// findServer returns TEST_DATABASE_URL, else DefaultURL when it answers,
// else the URL of a private cluster shared by all test processes.
// TEST_DATABASE_URL=local asks for the private cluster directly.
func findServer(ctx context.Context) (string, error) {
	switch u := os.Getenv("TEST_DATABASE_URL"); u {
	case "local":
		return privateCluster(ctx)
	case "":
		if err := ping(ctx, DefaultURL); err == nil {
			return DefaultURL, nil
		}
		u, err := privateCluster(ctx)
		if err != nil {
			return "", fmt.Errorf("no PostgreSQL at %s (set TEST_DATABASE_URL) and %w", redact(DefaultURL), err)
		}
		return u, nil
	default:
		if err := ping(ctx, u); err != nil {
			return "", fmt.Errorf("TEST_DATABASE_URL (%s) does not answer: %w", redact(u), err)
		}
		return u, nil
	}
}

// privateCluster starts (or reuses) the cluster under the temporary
// directory. It is left running for the next test binaries.
func privateCluster(ctx context.Context) (string, error) {
	c, err := localpg.Start(ctx, localpg.Options{Dir: filepath.Join(os.TempDir(), "mtdb-pgtest")})
	if err != nil {
		return "", fmt.Errorf("no private cluster: %w", err)
	}
	return c.URL("postgres"), nil
}

func ping(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
}

// migrationSum returns the atlas.sum of the embedded migration directory,
// which migrate.Apply applies.
func migrationSum() ([]byte, error) {
	sum, err := fs.ReadFile(migrations.FS, "atlas.sum")
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	return sum, nil
}

// templateRevision changes whenever the way templates are built changes
// (here or in migrate.Apply), so that stale templates are not reused.
const templateRevision = "2"

// templateName derives the template's name from the directory's sum file.
func templateName(sum []byte) string {
	h := sha256.Sum256(append([]byte(templateRevision+"\n"), sum...))
	return "mtdb_tpl_" + hex.EncodeToString(h[:6])
}

// ensureTemplate creates and migrates the template unless a complete one
// exists. A pg advisory lock serialises test processes; the template is
// only marked IS_TEMPLATE once fully migrated, so a half-made one left by a
// crashed process is rebuilt.
func ensureTemplate(ctx context.Context, e *env) error {
	conn, err := e.admin.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	const lockKey = 0x6d746462 // "mtdb"
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockKey); err != nil {
		return fmt.Errorf("lock template: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockKey)

	if err := ensureTester(ctx, conn.Conn()); err != nil {
		return err
	}
	var ready bool
	err = conn.QueryRow(ctx, `SELECT datistemplate FROM pg_database WHERE datname = $1`, e.template).Scan(&ready)
	if err == nil && ready {
		return nil
	}
	ident := pgx.Identifier{e.template}.Sanitize()
	if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+ident+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("drop stale template: %w", err)
	}
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+ident); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	if _, err := migrate.Apply(ctx, withDatabase(e.server, e.template, "", "")); err != nil {
		return fmt.Errorf("migrate template %s: %w", e.template, err)
	}
	// Migrations may create mtdb_app: grant it now that it exists.
	if err := grantApp(ctx, conn.Conn()); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `ALTER DATABASE `+ident+` WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`); err != nil {
		return fmt.Errorf("mark template: %w", err)
	}
	return nil
}

// ensureTester creates TesterRole if missing. Roles are cluster-wide and
// other processes may race (the advisory lock covers pgtest, not other
// tools), hence the exception handler.
func ensureTester(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.Exec(ctx, fmt.Sprintf(`DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%[1]s') THEN
		CREATE ROLE %[1]s LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD '%[2]s';
	END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$`, TesterRole, testerPassword))
	if err != nil {
		return fmt.Errorf("create role %s: %w", TesterRole, err)
	}
	return grantApp(ctx, conn)
}

// grantApp makes TesterRole a member of AppRole when AppRole exists.
func grantApp(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.Exec(ctx, fmt.Sprintf(`DO $$
BEGIN
	IF EXISTS (SELECT FROM pg_roles WHERE rolname = '%[1]s')
		AND NOT pg_has_role('%[2]s', '%[1]s', 'MEMBER') THEN
		GRANT %[1]s TO %[2]s;
	END IF;
END $$`, AppRole, TesterRole))
	if err != nil {
		return fmt.Errorf("grant %s to %s: %w", AppRole, TesterRole, err)
	}
	return nil
}

// withDatabase returns server with its database (and optionally its user and
// password) replaced.
func withDatabase(server, db, user, password string) string {
	u, err := url.Parse(server)
	if err != nil {
		return server
	}
	u.Path = "/" + db
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}
