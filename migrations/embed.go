// Package migrations holds the Atlas versioned migration directory of mtdb:
// the SQL files generated from the Ent schemas (with their row-level
// security statements) and atlas.sum. Never edit a committed file; create a
// new one with `make migration NAME=...`.
package migrations

import "embed"

// FS is the migration directory embedded in the binary: the *.sql files and
// atlas.sum, at its root.
//
//go:embed *.sql atlas.sum
var FS embed.FS
