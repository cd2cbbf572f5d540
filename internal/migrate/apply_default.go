package migrate

import (
	"io/fs"

	"github.com/mtdb/mtdb/migrations"
)

// defaultDir returns the migration directory embedded in the binary.
func defaultDir() fs.FS {
	return migrations.FS
}
