// Package migrate applies and inspects mtdb's Atlas migration directory and
// generates new migrations from the Ent schemas.
//
// Apply and Status interoperate with the official Atlas CLI: they keep the
// applied revisions in the table atlas_schema_revisions, with the CLI's
// columns and location rules, and take the CLI's advisory lock, so that
// `atlas migrate apply` and `mtdb migrate apply` accept each other's work.
package migrate
