package tenant

import (
	"strconv"
	"time"
)

// DefaultAppRole is the restricted database role every transaction enters
// unless configured otherwise (database.app_role).
const DefaultAppRole = "mtdb_app"

// settingsSQL is the one statement that runs right after BEGIN. Every value
// is bound, never pasted in, and every setting is transaction-local (the
// third argument of set_config is true), so nothing survives COMMIT or
// ROLLBACK on a pooled connection.
const settingsSQL = `SELECT set_config('role', $1, true), set_config('app.tenant_id', $2, true), ` +
	`set_config('app.user_id', $3, true), set_config('app.role', $4, true), set_config('app.request_id', $5, true)`

// settingsTimeoutSQL is settingsSQL plus a transaction-local statement_timeout.
const settingsTimeoutSQL = settingsSQL + `, set_config('statement_timeout', $6, true)`

// SettingsStatement returns the statement (and its arguments) that enters
// appRole and sets the transaction-local settings of c: role, app.tenant_id
// (empty when no tenant), app.user_id, app.role, app.request_id and, when
// statementTimeout > 0,
// statement_timeout (in milliseconds). It must run inside a transaction, as
// its first statement.
//
// This is the only place that knows how the settings reach PostgreSQL: a
// deployment behind Citus (which forwards SET LOCAL but not set_config) or
// another pooler switches it here.
func SettingsStatement(c Context, appRole string, statementTimeout time.Duration) (string, []any) {
	if appRole == "" {
		appRole = DefaultAppRole
	}
	tenantID := ""
	if c.HasTenant() {
		tenantID = c.TenantID.String()
	}
	args := []any{appRole, tenantID, c.UserID, string(c.Role), c.RequestID}
	if statementTimeout <= 0 {
		return settingsSQL, args
	}
	ms := statementTimeout.Milliseconds()
	if ms < 1 {
		ms = 1 // 0 would mean "no timeout"
	}
	return settingsTimeoutSQL, append(args, strconv.FormatInt(ms, 10))
}
