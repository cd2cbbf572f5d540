package tenants_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"regexp"
	"strings"
	"testing"

	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/pgtest"
	"github.com/mtdb/mtdb/internal/tenants"
)

// decode reads a JSON object the way the API does (numbers as json.Number).
func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decoding %s: %v", s, err)
	}
	return m
}

// TestRenderMetadataMatchesPostgreSQL: the renderer the bounds are measured
// with prints exactly what PostgreSQL prints for the same jsonb, so a bound
// on the one is a bound on the other.
func TestRenderMetadataMatchesPostgreSQL(t *testing.T) {
	pool := pgtest.New(t).OwnerPool(t)
	for _, doc := range []string{
		`{}`,
		`{"a": 1.50, "b": 1e3, "c": 1e-3, "d": -0, "e": -0.0, "f": 1.5e-3, "g": 12345678901234567890}`,
		`{"h": 0.1e1, "i": 1E+2, "j": -1.230e2, "k": 0.001e-2, "l": 120e-1, "m": 0e5, "n": -0.0e-2, "o": 5e0}`,
		`{"x": 1e-90, "y": -9.99e98, "z": 0.000000000000000000000000000001}`,
		`{"bb": 1, "a": 2, "ccc": {"z": [1, "two", null, true, false, {"q": []}], "b": {}}}`,
		`{"esc": "quote \" backslash \\ tab \t nl \n cr \r bs \b ff \f ctl \u0001 \u001f", "uni": "é – 日本 🙂 <&>"}`,
		`{"k": [[[[[[[1]]]]]]]}`,
	} {
		md := decode(t, doc)
		got, err := tenants.RenderMetadata(md)
		if err != nil {
			t.Errorf("RenderMetadata(%s): %v", doc, err)
			continue
		}
		var want string
		if err := pool.QueryRow(context.Background(), `SELECT $1::text::jsonb::text`, doc).Scan(&want); err != nil {
			t.Fatalf("PostgreSQL on %s: %v", doc, err)
		}
		if got != want {
			t.Errorf("rendering %s:\n  got  %s\n  want %s (PostgreSQL)", doc, got, want)
		}
	}
}

// TestMetadataBoundsAttack: values that are small in a request but render
// (in the database and in every answer) to enormous text, or that nest or
// spread without bound, are refused as Invalid on metadata, by rule rather
// than by input: every number is measured as PostgreSQL prints it.
func TestMetadataBoundsAttack(t *testing.T) {
	deep := strings.Repeat(`{"a":`, tenants.MaxMetadataDepth) + "1" + strings.Repeat("}", tenants.MaxMetadataDepth)
	var many strings.Builder
	many.WriteString("{")
	for i := range tenants.MaxMetadataKeys + 1 {
		if i > 0 {
			many.WriteString(",")
		}
		many.WriteString(`"k` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + strings.Repeat("y", i/26) + `":0`)
	}
	many.WriteString("}")
	for name, doc := range map[string]string{
		"tiny exponent renders 16 KB":    `{"x": 1e-16383}`,
		"huge exponent renders 16 KB":    `{"x": 1e16383}`,
		"beyond numeric's range":         `{"x": 1e-20000}`,
		"beyond any exponent":            `{"x": 1e-999999999999}`,
		"precision spelled out":          `{"x": 0.` + strings.Repeat("0", 120) + `1}`,
		"many short numbers add up":      `{"x": [` + strings.Repeat(`1e90, `, 200) + `1]}`,
		"nested one level too deep":      `{"n": ` + deep + `}`,
		"too many keys":                  many.String(),
		"a long string":                  `{"s": "` + strings.Repeat("x", tenants.MaxMetadataBytes) + `"}`,
		"escapes count as rendered":      `{"s": "` + strings.Repeat(`\u0001`, tenants.MaxMetadataBytes/6+1) + `"}`,
		"number in an array in a object": `{"a": [{"b": 1e-500}]}`,
	} {
		err := tenants.CheckMetadata(decode(t, doc))
		if errs.KindOf(err) != errs.KindInvalid {
			t.Errorf("%s: %v, want Invalid", name, err)
			continue
		}
		var e *errs.Error
		if !errors.As(err, &e) || e.Fields["metadata"] == "" {
			t.Errorf("%s: %v does not name metadata", name, err)
		}
	}
	for name, doc := range map[string]string{
		"exact decimals":       `{"price": 1.50, "big": 12345678901234567890, "small": 1e-90}`,
		"nested to the limit":  strings.Repeat(`{"a":`, tenants.MaxMetadataDepth-1) + "{}" + strings.Repeat("}", tenants.MaxMetadataDepth-1),
		"just under the bytes": `{"s": "` + strings.Repeat("x", tenants.MaxMetadataBytes-10) + `"}`,
	} {
		if err := tenants.CheckMetadata(decode(t, doc)); err != nil {
			t.Errorf("%s: %v, want accepted", name, err)
		}
	}
}

var plainDecimal = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`)

// FuzzRenderNumber: any string is either refused or rendered in plain
// decimal notation, within MaxNumberLength, with the same value, and
// rendering the rendering changes nothing.
func FuzzRenderNumber(f *testing.F) {
	for _, s := range []string{"0", "-0", "1.50", "1e3", "1E-3", "1e-16383", "1e16383", "1e-20000", "-0.0e-2", "0.001e-2",
		"12345678901234567890", "1e+99", "1e99", "9.99e98", "00", "1.", ".5", "+1", "1e", "1e+", "--1", "0e99999", "1e0000000000003", "١"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := tenants.RenderNumber(s)
		if err != nil {
			return
		}
		if len(out) > tenants.MaxNumberLength || !plainDecimal.MatchString(out) {
			t.Fatalf("RenderNumber(%q) = %q", s, out)
		}
		in, ok1 := new(big.Rat).SetString(s)
		got, ok2 := new(big.Rat).SetString(out)
		if !ok1 || !ok2 || in.Cmp(got) != 0 {
			t.Fatalf("RenderNumber(%q) = %q: a different value", s, out)
		}
		if again, err := tenants.RenderNumber(out); err != nil || again != out {
			t.Fatalf("RenderNumber(%q) = %q, but RenderNumber(%q) = %q, %v", s, out, out, again, err)
		}
	})
}

// FuzzCheckMetadata: whatever JSON object arrives, the check never panics,
// and an accepted one renders within the bounds and as valid JSON equal to
// the input.
func FuzzCheckMetadata(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1e-16383}`, `{"a":[1,{"b":"c"}],"bb":null}`, `{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{}}}}}}}}}`,
		`{"s":"\u0000\"\\"}`, `{"n":-0.0e-2,"m":1.50}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var md map[string]any
		if dec.Decode(&md) != nil || md == nil {
			return
		}
		if err := tenants.CheckMetadata(md); err != nil {
			if errs.KindOf(err) != errs.KindInvalid {
				t.Fatalf("CheckMetadata: %v, want Invalid", err)
			}
			return
		}
		out, err := tenants.RenderMetadata(md)
		if err != nil || len(out) > tenants.MaxMetadataBytes {
			t.Fatalf("accepted %s but RenderMetadata = %d bytes, %v", b, len(out), err)
		}
		var back any
		if err := json.Unmarshal([]byte(out), &back); err != nil {
			t.Fatalf("rendering of %s is not JSON: %s: %v", b, out, err)
		}
	})
}
