package migrate

import (
	"errors"
	"fmt"
	"io/fs"
	"path"

	"ariga.io/atlas/sql/migrate"
)

// sumFile is the name of Atlas's directory checksum file.
const sumFile = "atlas.sum"

// ErrNoDir is returned when no migration directory was given and none is
// embedded in the binary.
var ErrNoDir = errors.New("migrate: no migration directory")

// loadDir copies the *.sql files and atlas.sum at the root of fsys into an
// Atlas in-memory directory and checks the directory against its sum file.
func loadDir(fsys fs.FS) (migrate.Dir, error) {
	if fsys == nil {
		fsys = defaultDir()
	}
	if fsys == nil {
		return nil, ErrNoDir
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("migrate: read migration directory: %w", err)
	}
	dir := &migrate.MemDir{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || (path.Ext(name) != ".sql" && name != sumFile) {
			continue
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("migrate: read %s: %w", name, err)
		}
		if err := dir.WriteFile(name, b); err != nil {
			return nil, err
		}
	}
	if err := migrate.Validate(dir); err != nil {
		return nil, fmt.Errorf("migrate: migration directory does not match %s (run `atlas migrate hash`): %w", sumFile, err)
	}
	return dir, nil
}
