package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The server binary must not link the migration generator: it lives in
// internal/schemagen, which only cmd/mtdb-gen (make migration) imports.
func TestBinaryDoesNotLinkTheGenerator(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasSuffix(pkg, "/internal/schemagen") {
			t.Fatalf("cmd/mtdb links %s", pkg)
		}
	}
}
