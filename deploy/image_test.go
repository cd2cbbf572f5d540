package deploy

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The image checks build with a private podman storage (no interference
// with other builds on the machine, nothing left behind).
const (
	imageVersion = "v0.0.0-imagetest"
	imageCommit  = "0123456789abcdef0123456789abcdef01234567"
)

// TestImage builds the image with `make image`, then checks what it
// holds through `podman image inspect` and `podman export` (podman run
// does not work on every machine: the exported binary runs directly).
func TestImage(t *testing.T) {
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman is not installed: container image checks skipped (apt-get install podman; .ci/run installs it)")
	}
	tmp := t.TempDir()
	podman := []string{"podman", "--root", filepath.Join(tmp, "storage"), "--runroot", filepath.Join(tmp, "run"), "--storage-driver", "vfs"}
	image := "localhost/mtdb-imagetest:latest"
	t.Cleanup(func() { _ = exec.Command(podman[0], append(podman[1:], "system", "reset", "--force")...).Run() })

	mk := exec.Command("make", "-C", "..", "image", "IMAGE="+image, "IMAGE_CONTEXT="+filepath.Join(tmp, "context"),
		"PODMAN="+strings.Join(podman, " "), "PODMAN_FLAGS=", "VERSION="+imageVersion, "COMMIT="+imageCommit)
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(podman[0], append(podman[1:], args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
		}
		return out
	}

	t.Run("config", func(t *testing.T) {
		var inspect []struct {
			Size   int64
			Config struct {
				User        string
				Entrypoint  []string
				Cmd         []string
				Labels      map[string]string
				Healthcheck json.RawMessage
			}
		}
		if err := json.Unmarshal(run("image", "inspect", image), &inspect); err != nil || len(inspect) != 1 {
			t.Fatalf("podman image inspect: %v (%d images)", err, len(inspect))
		}
		c := inspect[0].Config
		t.Logf("image size: %.1f MB", float64(inspect[0].Size)/1e6)
		uid, _, _ := strings.Cut(c.User, ":")
		if uid == "" || uid == "0" || uid == "root" || strings.Trim(uid, "0123456789") != "" {
			t.Errorf("USER = %q, want a numeric non-root uid", c.User)
		}
		if !slices.Equal(c.Entrypoint, []string{"/mtdb"}) || !slices.Equal(c.Cmd, []string{"serve"}) {
			t.Errorf("ENTRYPOINT %q CMD %q, want [/mtdb] [serve]", c.Entrypoint, c.Cmd)
		}
		if len(c.Healthcheck) > 0 && string(c.Healthcheck) != "null" {
			t.Errorf("image has a HEALTHCHECK (%s): the orchestrator probes", c.Healthcheck)
		}
		if got := c.Labels["org.opencontainers.image.version"]; got != imageVersion {
			t.Errorf("version label = %q, want %q", got, imageVersion)
		}
		if got := c.Labels["org.opencontainers.image.revision"]; got != imageCommit {
			t.Errorf("revision label = %q, want %q", got, imageCommit)
		}
	})

	t.Run("root filesystem", func(t *testing.T) {
		id := strings.TrimSpace(string(run("create", image)))
		files, bin := exportFiles(t, podman, id)
		want := []string{"etc/ssl/certs/ca-certificates.crt", "mtdb"}
		if !slices.Equal(files, want) {
			t.Errorf("image files = %q, want only %q", files, want)
		}
		path := filepath.Join(tmp, "mtdb")
		if err := os.WriteFile(path, bin, 0o755); err != nil {
			t.Fatal(err)
		}
		checkStatic(t, path)
		out, err := exec.Command(path, "version").CombinedOutput()
		want1 := imageVersion + " (commit " + imageCommit[:12] + ")"
		if err != nil || strings.TrimSpace(string(out)) != want1 {
			t.Errorf("mtdb version = %q, %v; want %q", out, err, want1)
		}
	})
}

// exportFiles runs `podman export` of container id and returns the
// regular files of its root filesystem (sorted) and the content of /mtdb.
// Directories are skipped; anything other than a directory or a regular
// file (links, devices) is an error.
func exportFiles(t *testing.T, podman []string, id string) ([]string, []byte) {
	t.Helper()
	cmd := exec.Command(podman[0], append(podman[1:], "export", id)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var files []string
	var bin []byte
	tr := tar.NewReader(stdout)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading podman export: %v", err)
		}
		name := strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/")
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
			files = append(files, name)
		default:
			t.Errorf("unexpected entry %q of type %q in the image", name, h.Typeflag)
			continue
		}
		if h.Uid == 65532 || h.Mode&0o002 != 0 {
			t.Errorf("%s is writable by the runtime user (uid %d, mode %o)", name, h.Uid, h.Mode)
		}
		if name == "mtdb" {
			if bin, err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("podman export: %v\n%s", err, stderr.Bytes())
	}
	slices.Sort(files)
	return files, bin
}

// checkStatic fails unless path is an ELF executable with no program
// interpreter and no shared libraries: it runs on an empty base image.
func checkStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s is not an ELF binary: %v", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter (PT_INTERP): it is dynamically linked", path)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s needs shared libraries %q", path, libs)
	}
}
