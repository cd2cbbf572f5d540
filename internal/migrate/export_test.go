package migrate

import (
	"io/fs"
	"time"
)

// Options only the tests need: the binary applies the embedded directory
// and waits the default lock timeout.

// WithDir sets the migration directory: a file system holding the *.sql
// files and atlas.sum at its root. The default is the embedded
// migrations.FS.
func WithDir(dir fs.FS) Option {
	return func(o *options) { o.dir = dir }
}

// WithLockTimeout sets how long Apply waits for another migration run on the
// same database to finish before failing with ErrLocked (default 10s).
func WithLockTimeout(d time.Duration) Option {
	return func(o *options) { o.lockTimeout = d }
}
