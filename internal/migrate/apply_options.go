package migrate

import (
	"io"
	"io/fs"
	"time"
)

// OperatorVersion is recorded in the operator_version column of every
// revision this package writes. It follows the CLI's "Atlas CLI vX" form so
// that tools reading the column see a familiar value, with the mtdb suffix
// telling where the row came from.
const OperatorVersion = "Atlas CLI v0.32.1 (mtdb)"

// An Option configures Apply and Status.
type Option func(*options)

type options struct {
	dir             fs.FS
	revisionsSchema string
	out             io.Writer
	lockTimeout     time.Duration
	baseline        string
}

func newOptions(opts []Option) *options {
	o := &options{out: io.Discard, lockTimeout: 10 * time.Second}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// WithRevisionsSchema names the schema of the revisions table, like the
// CLI's --revisions-schema flag. By default it is the URL's search_path
// schema, else DefaultRevisionsSchema.
func WithRevisionsSchema(schema string) Option {
	return func(o *options) { o.revisionsSchema = schema }
}

// WithOutput makes Apply write one progress line per file and statement to w.
func WithOutput(w io.Writer) Option {
	return func(o *options) {
		if w != nil {
			o.out = w
		}
	}
}

// WithBaseline marks the files up to and including version as already
// applied when the database has no revisions yet but is not empty, like the
// CLI's --baseline flag (`mtdb migrate apply --baseline VERSION`).
func WithBaseline(version string) Option {
	return func(o *options) { o.baseline = version }
}
