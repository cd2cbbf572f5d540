package schemagen

import (
	mtdbmigrate "github.com/mtdb/mtdb/internal/migrate"
	"github.com/mtdb/mtdb/internal/tenant"
)

// The names the generated SQL uses; each has one owner elsewhere.
const (
	// appRole is the restricted role every request enters: the generated
	// policies and grants name it.
	appRole = tenant.AppRole
	// tenantColumn marks a table as tenant-scoped.
	tenantColumn = mtdbmigrate.TenantColumn
	// tenantsTable holds the tenants; it has policies of its own.
	tenantsTable = mtdbmigrate.TenantsTable
	// auditTable is the append-only audit trail the audit triggers write.
	auditTable = mtdbmigrate.AuditTable
)
