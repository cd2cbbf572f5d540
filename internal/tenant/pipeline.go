package tenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// The pipelined engine. The statements and their order are those of a plain
// transaction — BEGIN [READ ONLY], the settings statement, the work,
// COMMIT — but they are queued in one pgx batch, so PostgreSQL receives
// them in one network round trip:
//   - a transaction (BeginTx) sends BEGIN and the settings statement
//     together, then its statements one by one, then COMMIT or ROLLBACK;
//   - a statement outside a transaction (Exec, Query) sends BEGIN, the
//     settings statement, the statement and COMMIT together; the rows of a
//     query are read into memory before COMMIT is read.
//
// A statement that fails leaves the server skipping the rest of the batch,
// and the connection in a failed transaction block, which is rolled back at
// once. A connection that cannot be rolled back is closed by pgx and
// discarded by the pool (pgxpool destroys connections released inside a
// transaction), so no setting can outlive its transaction either way.

// errNotPgx is returned when the connection is not a pgx stdlib one.
var errNotPgx = errors.New("tenant: pipelining needs a database/sql pool of github.com/jackc/pgx/v5/stdlib connections")

// errCommitRolledBack is returned when COMMIT ended a failed transaction.
var errCommitRolledBack = errors.New("tenant: commit unexpectedly resulted in rollback")

// beginSQL returns the BEGIN statement for o, and false for an isolation
// level PostgreSQL does not have.
func beginSQL(o sql.TxOptions) (string, bool) {
	s := "begin"
	switch o.Isolation {
	case sql.LevelDefault:
	case sql.LevelReadUncommitted:
		s += " isolation level read uncommitted"
	case sql.LevelReadCommitted:
		s += " isolation level read committed"
	case sql.LevelRepeatableRead, sql.LevelSnapshot:
		s += " isolation level repeatable read"
	case sql.LevelSerializable:
		s += " isolation level serializable"
	default:
		return "", false
	}
	if o.ReadOnly {
		s += " read only"
	}
	return s, true
}

// onPgx runs fn on the pgx connection under c.
func onPgx(c *sql.Conn, fn func(*pgx.Conn) error) error {
	return c.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return errNotPgx
		}
		return fn(sc.Conn())
	})
}

// settle rolls back the transaction err left open on pc, if any.
func settle(ctx context.Context, pc *pgx.Conn, err error) error {
	if err != nil && !pc.IsClosed() && pc.PgConn().TxStatus() != 'I' {
		if _, rerr := pc.Exec(context.WithoutCancel(ctx), "rollback"); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	return err
}

// pipeline runs send on a connection of db that it releases afterwards.
func (d *Driver) pipeline(ctx context.Context, extra []*pgx.QueuedQuery, read func(results) error) error {
	tc, ok := From(ctx)
	if !ok {
		return ErrNoContext
	}
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return err
	}
	return errors.Join(d.send(ctx, conn, tc, sql.TxOptions{}, extra, read), conn.Close())
}

// send sends BEGIN, the settings statement for tc and then extra (the
// first statement of a transaction; or a statement and COMMIT) as one
// batch on conn, and hands the results of extra to read. After an error
// the transaction is rolled back at once.
//
// extra joins the batch only when its first statement is already prepared
// on the connection: pgx prepares a batch's new statements before sending
// it, that is before BEGIN and outside the statement_timeout the settings
// statement sets, and preparing can wait on a table lock. A new statement
// runs alone after BEGIN and the settings instead, and joins the batch the
// next time.
func (d *Driver) send(ctx context.Context, conn *sql.Conn, tc Context, o sql.TxOptions, extra []*pgx.QueuedQuery, read func(results) error) error {
	o.ReadOnly = o.ReadOnly || tc.ReadOnly
	begin, ok := beginSQL(o)
	if !ok {
		return fmt.Errorf("tenant: unsupported isolation level %v", o.Isolation)
	}
	query, args := SettingsStatement(tc, d.opts.StatementTimeout)
	local := ""
	if d.opts.SettingsMode == SetLocal {
		set, enter, eargs, err := LocalSettings(tc, d.opts.StatementTimeout)
		if err != nil {
			return err
		}
		local, query, args = begin+"; "+set, enter, eargs
	}
	return onPgx(conn, func(pc *pgx.Conn) error {
		b := &pgx.Batch{QueuedQueries: []*pgx.QueuedQuery{{SQL: begin}, {SQL: query, Arguments: args}}}
		if local != "" {
			// SET takes no bind parameters, and pgx would prepare each
			// distinct text: BEGIN and the SET LOCAL statements go as one
			// simple-protocol message (one more round trip), the reach
			// check and the work as the batch.
			if err := setLocal(ctx, pc, local); err != nil {
				return settle(ctx, pc, err)
			}
			b.QueuedQueries = b.QueuedQueries[1:]
		}
		seq := &sequential{ctx: ctx, pc: pc}
		if len(extra) > 0 && prepared(pc, extra[0].SQL, false) {
			b.QueuedQueries = append(b.QueuedQueries, extra...)
		} else {
			seq.queue = extra
		}
		tc.markChecked()
		br := pc.SendBatch(ctx, b)
		var err error
		if local == "" {
			_, err = br.Exec()
		}
		if err == nil {
			if _, err = br.Exec(); err != nil {
				err = enterErr(err)
			}
		}
		var r results = br
		if len(seq.queue) > 0 { // the batch is done: the rest goes alone
			if cerr := br.Close(); err == nil {
				err = cerr
			}
			r = seq
		}
		if err == nil && read != nil {
			err = read(r)
		}
		if r == br {
			if cerr := br.Close(); err == nil {
				err = cerr
			}
		}
		if err == nil && len(extra) > 0 {
			prepared(pc, extra[0].SQL, true)
		}
		return settle(ctx, pc, err)
	})
}

// errNotConforming refuses SetLocal mode on a connection whose string
// literals would not mean what LocalSettings wrote.
var errNotConforming = errors.New("tenant: DATABASE_SETTINGS_MODE=set_local needs standard_conforming_strings on")

// setLocal sends BEGIN and the SET LOCAL statements (stmts) in one
// simple-protocol message.
func setLocal(ctx context.Context, pc *pgx.Conn, stmts string) error {
	if pc.PgConn().ParameterStatus("standard_conforming_strings") != "on" {
		return errNotConforming
	}
	if _, err := pc.Exec(ctx, stmts); err != nil { // no arguments: simple protocol
		return fmt.Errorf("tenant: entering the tenant context: %w", err)
	}
	return nil
}

// results are the results of the statements after the settings statement,
// in order: a pgx batch's, or those of statements sent one by one.
type results interface {
	Exec() (pgconn.CommandTag, error)
	Query() (pgx.Rows, error)
}

// sequential runs its queued statements one at a time, when asked.
type sequential struct {
	ctx   context.Context
	pc    *pgx.Conn
	queue []*pgx.QueuedQuery
}

func (s *sequential) next() (*pgx.QueuedQuery, error) {
	if len(s.queue) == 0 {
		return nil, errors.New("tenant: no statement left")
	}
	q := s.queue[0]
	s.queue = s.queue[1:]
	return q, nil
}

func (s *sequential) Exec() (pgconn.CommandTag, error) {
	q, err := s.next()
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	return s.pc.Exec(s.ctx, q.SQL, q.Arguments...)
}

func (s *sequential) Query() (pgx.Rows, error) {
	q, err := s.next()
	if err != nil {
		return nil, err
	}
	return s.pc.Query(s.ctx, q.SQL, q.Arguments...)
}

// preparedKey holds, in the connection's CustomData, the statements this
// driver has run on it (so pgx has them in its statement cache).
const preparedKey = "mtdb/tenant.prepared"

// maxPrepared bounds that set, well below pgx's default statement cache
// capacity (512), so that a statement the set names is still cached.
const maxPrepared = 256

// prepared reports whether stmt ran on pc before; with mark it records
// that it has now.
func prepared(pc *pgx.Conn, stmt string, mark bool) bool {
	data := pc.PgConn().CustomData()
	set, _ := data[preparedKey].(map[string]struct{})
	if _, ok := set[stmt]; ok || !mark {
		return ok
	}
	if set == nil || len(set) >= maxPrepared {
		set = make(map[string]struct{})
		data[preparedKey] = set
	}
	set[stmt] = struct{}{}
	return false
}

// pipeExec is Exec outside a transaction, in one round trip.
func (d *Driver) pipeExec(ctx context.Context, query string, args, v any) error {
	argv, ok := args.([]any)
	if !ok && args != nil {
		return fmt.Errorf("tenant: invalid type %T for args, expected []any", args)
	}
	res, ok := v.(*sql.Result)
	if !ok && v != nil {
		return fmt.Errorf("tenant: invalid type %T, expected *sql.Result", v)
	}
	var tag pgconn.CommandTag
	err := d.pipeline(ctx, []*pgx.QueuedQuery{{SQL: query, Arguments: argv}, {SQL: "commit"}},
		func(br results) error {
			var err error
			if tag, err = br.Exec(); err != nil {
				return err
			}
			return commitTag(br.Exec())
		})
	if err == nil && res != nil {
		*res = execResult(tag.RowsAffected())
	}
	return err
}

// pipeQuery is Query outside a transaction, in one round trip. The rows
// are read into memory.
func (d *Driver) pipeQuery(ctx context.Context, query string, args any, rows *entsql.Rows) error {
	argv, ok := args.([]any)
	if !ok && args != nil {
		return fmt.Errorf("tenant: invalid type %T for args, expected []any", args)
	}
	var buf *bufferedRows
	err := d.pipeline(ctx, []*pgx.QueuedQuery{{SQL: query, Arguments: argv}, {SQL: "commit"}},
		func(br results) error {
			r, err := br.Query()
			if err != nil {
				return err
			}
			if buf, err = readRows(r); err != nil {
				return err
			}
			return commitTag(br.Exec())
		})
	if err != nil {
		return err
	}
	rows.ColumnScanner = buf
	return nil
}

func commitTag(tag pgconn.CommandTag, err error) error {
	if err == nil && strings.EqualFold(tag.String(), "ROLLBACK") {
		return errCommitRolledBack
	}
	return err
}

// execResult is the sql.Result of a pipelined Exec.
type execResult int64

func (r execResult) LastInsertId() (int64, error) {
	return 0, errors.New("tenant: LastInsertId is not supported by PostgreSQL")
}
func (r execResult) RowsAffected() (int64, error) { return int64(r), nil }
