// Package faults holds mtdb's reliability tests (database outage under
// load, pool exhaustion, PgBouncer in transaction mode, graceful shutdown
// under load, statement timeouts) and the two tools they need: Proxy, a
// TCP proxy between the service and PostgreSQL that can be cut and
// restored, and PgBouncer, a private PgBouncer instance (both in _test.go
// files: nothing else uses them).
//
// The long tests run with `make test-faults` (MTDB_FAULT_TESTS=1); a plain
// `go test` runs only the quick ones.
package faults
