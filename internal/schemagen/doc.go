// Package schemagen writes new migrations from the Ent schemas (Generate):
// Atlas plans the tables, and the generator adds what Atlas cannot plan:
// the restricted role and the setting functions, row-level security and
// row counts of every tenant-scoped table, the tenants table's policies,
// composite tenant foreign keys, and the audit triggers (Formatter,
// desiredHook). Its tests also attack the committed migrations as applied.
//
// Only cmd/mtdb-gen (make migration) imports it: the server and
// `mtdb migrate apply` use internal/migrate, which holds no generator.
package schemagen
