package migrate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"ariga.io/atlas/sql/migrate"
)

// TestGenerateInitial writes the first migration into an empty directory
// when MTDB_WRITE_MIGRATIONS names a directory (used to regenerate the
// committed migrations/); otherwise into a temporary one.
func TestGenerateInitial(t *testing.T) {
	dir := os.Getenv("MTDB_WRITE_MIGRATIONS")
	if dir == "" {
		dir = t.TempDir()
	}
	ctx := context.Background()
	file, err := Generate(ctx, GenerateOptions{DevURL: newDatabase(t), Dir: dir, Name: "initial"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", file)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(string(b))
	_, err = Generate(ctx, GenerateOptions{DevURL: newDatabase(t), Dir: dir, Name: "again"})
	if !errors.Is(err, migrate.ErrNoPlan) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.Name() != filepath.Base(file) {
				b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
				t.Logf("%s:\n%s", e.Name(), b)
			}
		}
		t.Fatalf("second Generate: got %v, want ErrNoPlan", err)
	}
}
