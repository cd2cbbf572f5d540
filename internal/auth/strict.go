package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Strict JSON for tokens. encoding/json matches struct fields ignoring case
// and lets the last of two equal names win, so {"role":"member",
// "ROLE":"platform_admin"} would act as platform_admin: harmless while only
// mtdb mints tokens, dangerous as soon as an identity provider lets users
// write any claim. Claim names are therefore exact, and a header or payload
// in which any object repeats a member name is refused.

// UnmarshalJSON decodes the registered claims with exact names: "EXP" is
// not "exp", and other names are ignored.
func (c *tokenClaims) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for name, dst := range map[string]any{
		"iss": &c.Issuer, "sub": &c.Subject, "aud": &c.Audience, "exp": &c.ExpiresAt,
		"nbf": &c.NotBefore, "iat": &c.IssuedAt, "jti": &c.ID,
	} {
		raw, ok := m[name]
		if !ok {
			continue
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return fmt.Errorf("claim %q: %w", name, err)
		}
	}
	return nil
}

// checkSegments refuses a compact token whose header or payload JSON
// repeats a member name in any object, and a header with a "crit"
// parameter: it lists extensions the recipient must understand (RFC 7515
// §4.1.11), and mtdb understands none.
func checkSegments(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%w: token contains an invalid number of segments", ErrMalformed)
	}
	for i, what := range []string{"header", "payload"} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return fmt.Errorf("%w: could not base64 decode %s", ErrMalformed, what)
		}
		if err := uniqueNames(raw); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalidClaims, what, err)
		}
		if i == 0 {
			var h map[string]json.RawMessage
			if err := json.Unmarshal(raw, &h); err != nil {
				return fmt.Errorf("%w: could not JSON decode header", ErrMalformed)
			}
			if _, ok := h["crit"]; ok {
				return fmt.Errorf("%w: header lists critical extensions (crit) that are not supported", ErrInvalidClaims)
			}
		}
	}
	return nil
}

// maxDepth bounds the nesting of a token's JSON: claims are shallow.
const maxDepth = 32

// uniqueNames returns an error when the JSON text b is malformed, nests
// deeper than maxDepth, or has an object (at any depth) with two members
// of the same name, compared after unescaping ("r\u006fle" is "role").
func uniqueNames(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := uniqueValue(dec, 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// uniqueValue reads one JSON value from dec, checking its objects.
func uniqueValue(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth >= maxDepth {
		return fmt.Errorf("nested deeper than %d levels", maxDepth)
	}
	var names map[string]bool
	if d == '{' {
		names = map[string]bool{}
	}
	for dec.More() {
		if names != nil {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			name, _ := tok.(string)
			if names[name] {
				return fmt.Errorf("duplicate member name %q", name)
			}
			names[name] = true
		}
		if err := uniqueValue(dec, depth+1); err != nil {
			return err
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}
