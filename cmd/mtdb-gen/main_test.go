package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtdb/mtdb/internal/pgtest"
)

// runGen runs the program with args and env and returns its exit code,
// stdout and stderr.
func runGen(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &out)
	return exitCode(err, &errOut), out.String(), errOut.String()
}

func TestWithoutChangesWritesNothing(t *testing.T) {
	dir := t.TempDir()
	src := "../../migrations"
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(t.TempDir())
	server := pgtest.Empty(t) // its owner URL may create the throwaway dev database
	code, out, stderr := runGen(t, map[string]string{"MIGRATION_DATABASE_URL": server.OwnerURL}, "nothing_new", "--dir", dir)
	if code != 0 || !strings.Contains(out, "no changes") {
		t.Fatalf("diff: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	after, _ := os.ReadDir(dir)
	if len(after) != len(entries) {
		t.Fatalf("diff without changes wrote files: %d -> %d", len(entries), len(after))
	}
	if code, _, stderr := runGen(t, nil); code != 2 || !strings.Contains(stderr, "NAME") {
		t.Fatalf("diff without NAME: exit %d, %q", code, stderr)
	}
}
