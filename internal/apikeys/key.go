package apikeys

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// The form of a key: "mtdb_" + 12 hex digits of prefix + "_" + 43 base64url
// characters of secret (32 random bytes). The prefix (6 random bytes) is the
// key's public identifier, shown in lists; the secret never leaves the
// POST answer. Only SHA-256 of the whole key is stored: the key has 256
// bits of entropy, so a fast hash is enough (nothing to brute-force; a slow
// password hash would only cost every request).
const (
	Prefix       = "mtdb_"
	prefixHexLen = 12
	secretBytes  = 32
	secretLen    = 43 // base64url, no padding, of secretBytes
	keyLen       = len(Prefix) + prefixHexLen + 1 + secretLen
)

// ErrMalformed is a presented key that is not of the form above.
var ErrMalformed = errors.New("not an mtdb API key")

// generate returns a new key, its prefix and its digest.
func generate() (key, prefix string, digest []byte, err error) {
	var b [6 + secretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", nil, err
	}
	prefix = hex.EncodeToString(b[:6])
	key = Prefix + prefix + "_" + base64.RawURLEncoding.EncodeToString(b[6:])
	sum := sha256.Sum256([]byte(key))
	return key, prefix, sum[:], nil
}

// Parse checks the form of a presented key and returns its prefix and the
// SHA-256 digest to look it up by. It reads nothing beyond the fixed length.
func Parse(key string) (prefix string, digest []byte, err error) {
	if len(key) != keyLen || !strings.HasPrefix(key, Prefix) {
		return "", nil, ErrMalformed
	}
	prefix = key[len(Prefix) : len(Prefix)+prefixHexLen]
	for _, c := range []byte(prefix) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", nil, ErrMalformed
		}
	}
	if key[len(Prefix)+prefixHexLen] != '_' {
		return "", nil, ErrMalformed
	}
	secret, err := base64.RawURLEncoding.Strict().DecodeString(key[len(Prefix)+prefixHexLen+1:])
	if err != nil || len(secret) != secretBytes {
		return "", nil, ErrMalformed
	}
	sum := sha256.Sum256([]byte(key))
	return prefix, sum[:], nil
}
