package apikeys

import (
	"crypto/sha256"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics, accepts only the exact form, and an
// accepted key's digest is SHA-256 of the key and its prefix is in it.
func FuzzParse(f *testing.F) {
	key, _, _, err := generate()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{key, "", "mtdb_", key + "=", strings.ToUpper(key), "Bearer " + key,
		"mtdb_0123456789ab_" + strings.Repeat("A", 43), "mtdb_0123456789ab_" + strings.Repeat("A", 42) + "=",
		"mtdb_0123456789AB_" + strings.Repeat("A", 43), "mtdb_0123456789ab-" + strings.Repeat("A", 43)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		prefix, digest, err := Parse(s)
		if err != nil {
			return
		}
		sum := sha256.Sum256([]byte(s))
		if len(s) != keyLen || !strings.HasPrefix(s, Prefix+prefix+"_") || string(digest) != string(sum[:]) {
			t.Fatalf("Parse(%q) = %q %x", s, prefix, digest)
		}
	})
}
