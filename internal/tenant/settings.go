package tenant

import (
	"strconv"
	"time"

	"github.com/google/uuid"
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
