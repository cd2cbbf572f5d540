// Package ent holds the client generated from the schemas in ./schema.
// Never edit the generated files by hand: change a schema, then run
// `make generate` (and `make migration NAME=...` for the database).
package ent

//go:generate go tool ent generate --feature sql/execquery,sql/lock,sql/modifier,intercept,sql/upsert --template ./template ./schema
