// Package database opens mtdb's connection to PostgreSQL: one pgx pool, a
// database/sql handle over that same pool, and the ent client whose driver
// enters the restricted role and the tenant context at the start of every
// transaction (tenant.NewDriver). It also classifies connection-level errors
// (database down, pool exhausted, statement timeout) into the errs vocabulary,
// retries transactions PostgreSQL aborted for concurrency (40001, 40P01), and
// runs a request's statements in one request transaction when asked
// (InRequestTx).
package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"entgo.io/ent/dialect"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mtdb/mtdb/ent"
	_ "github.com/mtdb/mtdb/ent/runtime" // schema defaults, validators and hooks (tenant_id stamp)
	"github.com/mtdb/mtdb/internal/tenant"
)

// Options configure Open. Zero values leave pgx's defaults (or the URL's
// pool_* parameters) in place.
type Options struct {
	URL             string
	MaxConns        int32
	MinConns        int32
	MaxConnLifetime time.Duration
	MaxConnIdleTime time.Duration
	// ConnectTimeout bounds establishing one new connection.
	ConnectTimeout time.Duration
	// AcquireTimeout bounds the wait for a connection from the pool; past it
	// the work fails with ErrAcquireTimeout. 0 means wait as long as the
	// request context allows.
	AcquireTimeout time.Duration
	// StatementTimeout is the transaction-local statement_timeout (0: none).
	StatementTimeout time.Duration
	// SettingsMode says how each transaction's settings are sent
	// (DATABASE_SETTINGS_MODE); "" is tenant.SetConfig.
	SettingsMode tenant.SettingsMode
	// ReadURL, when set, is a streaming replica of URL for the read-only
	// work of GET requests (DATABASE_READ_URL; see Replica). It gets the
	// same pool settings.
	ReadURL string
	// ReadMaxLag is how far the replica may be behind before reads go to
	// the primary (DATABASE_READ_MAX_LAG; default DefaultReadMaxLag).
	ReadMaxLag time.Duration
	// ReadProbeInterval is how often the replica's state and lag are
	// measured (default DefaultReadProbeInterval); run Replica.Run.
	ReadProbeInterval time.Duration
	// Tracer, when set, sees every statement of every pooled connection
	// (the benchmark counts round trips per request with it).
	Tracer pgx.QueryTracer
}

// DB holds the three views of one connection pool. Close it once.
type DB struct {
	Pool *pgxpool.Pool
	SQL  *sql.DB
	Ent  *ent.Client
	// Driver is the driver under Ent (the tenant driver, with retries and
	// request transactions: see Driver), for the rare raw statement: it
	// runs in the tenant context of ctx like everything else.
	Driver dialect.Driver
	// Replica is the read replica (Options.ReadURL), nil without one. Its
	// Run must be running for reads to go there.
	Replica *Replica
}

// ErrAcquireTimeout is returned (wrapped) when no pooled connection became
// free within Options.AcquireTimeout.
var ErrAcquireTimeout = errors.New("database: timed out waiting for a pooled connection")

// Open parses opts.URL and builds the pool, without connecting: pgxpool
// connects lazily, so Open succeeds while the database is down (health
// checks and requests then report it). An unparsable URL is an error.
func Open(ctx context.Context, opts Options) (*DB, error) {
	if _, err := tenant.ParseSettingsMode(string(opts.SettingsMode)); err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	pool, sqlDB, err := openPool(ctx, opts.URL, opts)
	if err != nil {
		return nil, err
	}
	newDriver := func(db *sql.DB) dialect.Driver {
		return tenant.NewDriver(db, tenant.DriverOptions{
			StatementTimeout: opts.StatementTimeout,
			SettingsMode:     opts.SettingsMode,
		})
	}
	drv := Driver{Driver: newDriver(sqlDB)}
	var replica *Replica
	if opts.ReadURL != "" {
		rpool, rsql, err := openPool(ctx, opts.ReadURL, opts)
		if err != nil {
			_ = sqlDB.Close()
			pool.Close()
			return nil, fmt.Errorf("database: read replica: %w", err)
		}
		replica = newReplica(rpool, rsql, newDriver(rsql), pool, opts.ReadMaxLag, opts.ReadProbeInterval)
		drv.replica = replica
	}
	return &DB{
		Pool:    pool,
		SQL:     sqlDB,
		Ent:     ent.NewClient(ent.Driver(drv)),
		Driver:  drv,
		Replica: replica,
	}, nil
}

// openPool builds the pool for url with opts' pool settings, and the
// database/sql handle over it.
func openPool(ctx context.Context, url string, opts Options) (*pgxpool.Pool, *sql.DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, nil, fmt.Errorf("database: invalid database URL: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.MinConns > 0 {
		cfg.MinConns = opts.MinConns
	}
	if opts.MinConns > cfg.MaxConns {
		return nil, nil, fmt.Errorf("database: min conns (%d) exceeds max conns (%d)", opts.MinConns, cfg.MaxConns)
	}
	if opts.MaxConnLifetime > 0 {
		cfg.MaxConnLifetime = opts.MaxConnLifetime
	}
	if opts.MaxConnIdleTime > 0 {
		cfg.MaxConnIdleTime = opts.MaxConnIdleTime
	}
	if opts.ConnectTimeout > 0 {
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	}
	if opts.Tracer != nil {
		cfg.ConnConfig.Tracer = opts.Tracer
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("database: creating pool: %w", err)
	}
	// stdlib.OpenDBFromPool, with the acquire bound added to its connector:
	// database/sql keeps no idle connections of its own, every one comes
	// from (and goes back to) the pgx pool.
	sqlDB := sql.OpenDB(acquireConnector{
		Connector: stdlib.GetPoolConnector(pool),
		timeout:   opts.AcquireTimeout,
	})
	sqlDB.SetMaxIdleConns(0)
	return pool, sqlDB, nil
}

// Close closes the ent client, the database/sql handle and the pool.
func (db *DB) Close() {
	_ = db.Ent.Close() // closes db.SQL
	db.Pool.Close()
	if db.Replica != nil {
		_ = db.Replica.SQL.Close()
		db.Replica.Pool.Close()
	}
}

// acquireConnector bounds the time database/sql waits for a pooled
// connection. Only the acquisition is bounded: the deadline is not kept on
// the connection or the transaction that uses it.
type acquireConnector struct {
	driver.Connector
	timeout time.Duration
}

// Connect acquires a connection from the pgx pool within the timeout.
func (c acquireConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if c.timeout <= 0 {
		return c.Connector.Connect(ctx)
	}
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	conn, err := c.Connector.Connect(actx)
	if err != nil && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		return nil, fmt.Errorf("%w (after %s): %w", ErrAcquireTimeout, c.timeout, err)
	}
	return conn, err
}
