// Package migrate applies and inspects mtdb's Atlas migration directory, and
// names the tables the migrations guard (TenantScopedTables,
// AuditedTables). The generator of new migrations is internal/schemagen,
// kept apart so that the server does not link it.
//
// Apply and Status interoperate with the official Atlas CLI: they keep the
// applied revisions in the table atlas_schema_revisions, with the CLI's
// columns and location rules, and take the CLI's advisory lock, so that
// `atlas migrate apply` and `mtdb migrate apply` accept each other's work.
package migrate
