package tenant

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// AppRole is the restricted database role every transaction enters. The
// migrations create it and name it in every policy and grant, so it is one
// constant, not a setting: the login role of DATABASE_URL only needs to be
// allowed to SET ROLE to it.
const AppRole = "mtdb_app"

// settingsSQL is the one statement that runs right after BEGIN. Every value
// is bound, never pasted in, and every setting is transaction-local (the
// third argument of set_config is true), so nothing survives COMMIT or
// ROLLBACK on a pooled connection. Its last call, mtdb_enter (generated with
// the policies, internal/schemagen), is the tenant reach check and stores the
// transaction's visible tenants for the policies: an unknown, deleted or
// out-of-reach tenant fails the statement with SQLSTATE MT403, and with it
// the transaction, before any work of the request ran.
const settingsSQL = `SELECT set_config('role', $1, true), set_config('app.tenant_id', $2, true), ` +
	`set_config('app.user_id', $3, true), set_config('app.role', $4, true), set_config('app.request_id', $5, true), ` +
	pinSearchPath + `, mtdb_enter($2, $6, $4)`

// pinSearchPath sets a transaction-local search_path: the schemas already
// on it, without any temporary schema, then pg_temp explicitly last. The
// application names its tables unqualified, and an unlisted temporary
// schema is searched first, so a temporary table named users would
// otherwise be what later statements read and write.
const pinSearchPath = `set_config('search_path', pg_catalog.concat_ws(', ', (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(s), ', ') ` +
	`FROM pg_catalog.unnest(pg_catalog.current_schemas(false)) AS s WHERE s !~ '^pg_temp_'), 'pg_temp'), true)`

// settingsTimeoutSQL is settingsSQL plus a transaction-local statement_timeout.
const settingsTimeoutSQL = settingsSQL + `, set_config('statement_timeout', $7, true)`

// UnreachableCode is the SQLSTATE with which mtdb_enter refuses a tenant
// the credentials may not act in (see settingsSQL).
const UnreachableCode = "MT403"

// SettingsStatement returns the statement (and its arguments) that enters
// AppRole and sets the transaction-local settings of c: role, app.tenant_id
// (empty when no tenant), app.user_id, app.role, app.request_id, a pinned
// search_path (pinSearchPath) and, when
// statementTimeout > 0, statement_timeout (in milliseconds), and checks
// that c's credentials may act in c.TenantID (mtdb_enter). It must run
// inside a transaction, as its first statement.
//
// This is the only place that knows how the settings reach PostgreSQL: a
// deployment behind Citus (which forwards SET LOCAL but not set_config) or
// another pooler switches it here.
func SettingsStatement(c Context, statementTimeout time.Duration) (string, []any) {
	tenantID := ""
	if c.HasTenant() {
		tenantID = c.TenantID.String()
	}
	home := ""
	if c.HomeTenantID != uuid.Nil {
		home = c.HomeTenantID.String()
	}
	args := []any{AppRole, tenantID, c.UserID, string(c.Role), c.RequestID, home}
	if statementTimeout <= 0 {
		return settingsSQL, args
	}
	ms := statementTimeout.Milliseconds()
	if ms < 1 {
		ms = 1 // 0 would mean "no timeout"
	}
	return settingsTimeoutSQL, append(args, strconv.FormatInt(ms, 10))
}

// SettingsMode says how the settings reach PostgreSQL
// (DATABASE_SETTINGS_MODE).
type SettingsMode string

const (
	// SetConfig (the default) sends one statement with bound values:
	// set_config(name, value, true) for each setting (SettingsStatement).
	SetConfig SettingsMode = "set_config"
	// SetLocal sends the settings as SET LOCAL statements, which Citus
	// forwards to its workers (citus.propagate_set_commands = 'local') and
	// set_config calls are not. SET takes no bind parameters: the values
	// are validated and quoted (LocalSettings), and the statements go out
	// with BEGIN in one simple-protocol message, followed by the reach
	// check (mtdb_enter, with bound values) like in SetConfig mode.
	SetLocal SettingsMode = "set_local"
)

// ParseSettingsMode returns the mode named by s ("" is SetConfig).
func ParseSettingsMode(s string) (SettingsMode, error) {
	switch m := SettingsMode(s); m {
	case "", SetConfig:
		return SetConfig, nil
	case SetLocal:
		return m, nil
	}
	return "", fmt.Errorf("unknown settings mode %q (set_config or set_local)", s)
}

// localEnterSQL is what runs after the SET LOCAL statements in SetLocal
// mode: the pinned search_path (computed by the server, so it cannot be a
// SET) and the reach check, with bound values.
const localEnterSQL = `SELECT ` + pinSearchPath + `, mtdb_enter($1, $2, $3)`

// errBadSettingValue refuses a value that cannot be written as a literal.
var errBadSettingValue = errors.New("tenant: a setting value holds a NUL byte or invalid UTF-8")

// LocalSettings returns the SetLocal form of the settings of c: the SET
// LOCAL statements (semicolon-separated, for the simple protocol) for the
// role, app.tenant_id, app.user_id, app.role, app.request_id and, when
// statementTimeout > 0, statement_timeout; then the statement (and its
// arguments) that pins search_path and runs the reach check. Both must run
// in that order, first in a transaction. Values are string literals with
// quotes doubled, valid only with standard_conforming_strings on (the
// default; the driver checks it); a value with a NUL byte or invalid UTF-8
// is refused (errBadSettingValue), and the role must be a known one.
func LocalSettings(c Context, statementTimeout time.Duration) (set, enter string, args []any, err error) {
	tenantID, home := "", ""
	if c.HasTenant() {
		tenantID = c.TenantID.String()
	}
	if c.HomeTenantID != uuid.Nil {
		home = c.HomeTenantID.String()
	}
	if c.Role != "" && !c.Role.Valid() {
		return "", "", nil, fmt.Errorf("tenant: unknown role %q", c.Role)
	}
	var b strings.Builder
	b.WriteString("SET LOCAL ROLE ")
	b.WriteString(pgx.Identifier{AppRole}.Sanitize())
	for _, kv := range [][2]string{
		{"app.tenant_id", tenantID}, {"app.user_id", c.UserID}, {"app.role", string(c.Role)}, {"app.request_id", c.RequestID},
	} {
		lit, err := quoteLiteral(kv[1])
		if err != nil {
			return "", "", nil, fmt.Errorf("%w (%s)", err, kv[0])
		}
		b.WriteString("; SET LOCAL " + kv[0] + " = " + lit)
	}
	if statementTimeout > 0 {
		b.WriteString("; SET LOCAL statement_timeout = " + strconv.FormatInt(max(statementTimeout.Milliseconds(), 1), 10))
	}
	return b.String(), localEnterSQL, []any{tenantID, home, string(c.Role)}, nil
}

// quoteLiteral returns s as a standard-conforming SQL string literal.
func quoteLiteral(s string) (string, error) {
	if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
		return "", errBadSettingValue
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'", nil
}
