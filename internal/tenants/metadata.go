package tenants

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mtdb/mtdb/internal/errs"
)

// The bounds of a tenant's metadata. PostgreSQL stores a jsonb number as a
// numeric, compactly, but prints it in full: 1e-16383 is 7 bytes in a
// request and 16 KB in every answer that shows the tenant, and the
// database renders it for every list and hierarchy that includes the row.
// So metadata is measured as PostgreSQL renders it, not as it arrives.
const (
	MaxMetadataBytes = 16 << 10 // the whole object, as PostgreSQL prints it
	MaxMetadataKeys  = 256      // object members, at every level together
	MaxMetadataDepth = 8        // objects and arrays nested in each other, the top object included
	MaxNumberLength  = 100      // one number, as PostgreSQL prints it (sign and point included)
)

// CheckMetadata returns Invalid("metadata", …) unless md is within the
// bounds above. Its values are what encoding/json decodes (numbers as
// json.Number or float64); anything else is Invalid too.
func CheckMetadata(md map[string]any) error {
	if md == nil {
		return nil
	}
	if _, err := RenderMetadata(md); err != nil {
		return errs.Invalid("metadata", err.Error())
	}
	return nil
}

// RenderMetadata returns md as PostgreSQL prints it as jsonb (members
// ordered by key length, then bytes; ", " and ": " separators; numbers in
// plain decimal notation), or an error naming the first bound it breaks.
// Rendering stops at the first broken bound, so the work is bounded by
// MaxMetadataBytes whatever md holds.
func RenderMetadata(md map[string]any) (string, error) {
	r := renderer{}
	if err := r.value(md, 1); err != nil {
		return "", err
	}
	return r.b.String(), nil
}

type renderer struct {
	b    strings.Builder
	keys int
}

var (
	errTooLarge = fmt.Errorf("must render to at most %d bytes", MaxMetadataBytes)
	errTooDeep  = fmt.Errorf("must nest at most %d levels deep", MaxMetadataDepth)
	errTooMany  = fmt.Errorf("must have at most %d keys", MaxMetadataKeys)
)

func (r *renderer) write(s string) error {
	if r.b.Len()+len(s) > MaxMetadataBytes {
		return errTooLarge
	}
	r.b.WriteString(s)
	return nil
}

func (r *renderer) value(v any, depth int) error {
	switch t := v.(type) {
	case nil:
		return r.write("null")
	case bool:
		return r.write(strconv.FormatBool(t))
	case string:
		if len(t) > MaxMetadataBytes {
			return errTooLarge
		}
		return r.write(quote(t))
	case json.Number:
		n, err := RenderNumber(string(t))
		if err != nil {
			return err
		}
		return r.write(n)
	case float64:
		n, err := RenderNumber(strconv.FormatFloat(t, 'g', -1, 64))
		if err != nil {
			return errors.New("contains a number that is not finite")
		}
		return r.write(n)
	case int:
		return r.write(strconv.Itoa(t))
	case int64:
		return r.write(strconv.FormatInt(t, 10))
	case map[string]any:
		if depth > MaxMetadataDepth {
			return errTooDeep
		}
		if r.keys += len(t); r.keys > MaxMetadataKeys {
			return errTooMany
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		// jsonb's order: shorter keys first, then bytewise.
		sort.Slice(keys, func(i, j int) bool {
			if len(keys[i]) != len(keys[j]) {
				return len(keys[i]) < len(keys[j])
			}
			return keys[i] < keys[j]
		})
		if err := r.write("{"); err != nil {
			return err
		}
		for i, k := range keys {
			sep := ""
			if i > 0 {
				sep = ", "
			}
			if len(k) > MaxMetadataBytes {
				return errTooLarge
			}
			if err := r.write(sep + quote(k) + ": "); err != nil {
				return err
			}
			if err := r.value(t[k], depth+1); err != nil {
				return err
			}
		}
		return r.write("}")
	case []any:
		if depth > MaxMetadataDepth {
			return errTooDeep
		}
		if err := r.write("["); err != nil {
			return err
		}
		for i, e := range t {
			if i > 0 {
				if err := r.write(", "); err != nil {
					return err
				}
			}
			if err := r.value(e, depth+1); err != nil {
				return err
			}
		}
		return r.write("]")
	}
	return fmt.Errorf("contains a value of unsupported type %T", v)
}

// quote returns s as a JSON string the way PostgreSQL's jsonb output
// escapes it: quote, backslash and control characters only.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// RenderNumber returns the JSON number s as PostgreSQL's numeric prints it
// (plain decimal notation, keeping the scale of the input: 1.50 stays
// 1.50, 1e3 is 1000, 1e-3 is 0.001, -0 is 0), or an error when s is not a
// JSON number or its rendering would exceed MaxNumberLength characters. The
// length is computed before anything is built, so 1e-999999999 costs
// nothing.
func RenderNumber(s string) (string, error) {
	bad := errors.New("contains a malformed number")
	tooLong := fmt.Errorf("contains a number longer than %d digits when rendered", MaxNumberLength-2)
	neg := strings.HasPrefix(s, "-")
	rest := strings.TrimPrefix(s, "-")
	mant, expStr, hasExp := strings.Cut(strings.ToLower(rest), "e")
	intDigits, fracDigits, hasPoint := strings.Cut(mant, ".")
	if !digitsOnly(intDigits) || (hasPoint && !digitsOnly(fracDigits)) ||
		(len(intDigits) > 1 && intDigits[0] == '0') || !utf8.ValidString(s) {
		return "", bad
	}
	exp := 0
	if hasExp {
		e := strings.TrimPrefix(strings.TrimPrefix(expStr, "+"), "-")
		if !digitsOnly(e) {
			return "", bad
		}
		// Any exponent beyond the bound makes the rendering too long (or,
		// for a zero mantissa, is refused anyway: PostgreSQL would keep
		// the scale).
		if len(strings.TrimLeft(e, "0")) > 4 {
			return "", tooLong
		}
		n, _ := strconv.Atoi(e)
		if strings.HasPrefix(expStr, "-") {
			n = -n
		}
		exp = n
	}
	if len(intDigits)+len(fracDigits) > 2*MaxNumberLength {
		return "", tooLong
	}
	digits := intDigits + fracDigits
	point := len(intDigits) + exp // position of the decimal point in digits
	scale := max(0, len(fracDigits)-exp)

	// The integer part: digits before the point without leading zeros,
	// padded with zeros when the point lies beyond the digits.
	var intPart string
	if point > 0 {
		if point <= len(digits) {
			intPart = strings.TrimLeft(digits[:point], "0")
		} else {
			if point > MaxNumberLength {
				return "", tooLong
			}
			intPart = strings.TrimLeft(digits, "0")
			if intPart != "" {
				intPart += strings.Repeat("0", point-len(digits))
			}
		}
	}
	if intPart == "" {
		intPart = "0"
	}
	length := len(intPart)
	if scale > 0 {
		length += 1 + scale
	}
	zero := strings.Trim(digits, "0") == ""
	if neg && !zero {
		length++
	}
	if length > MaxNumberLength {
		return "", tooLong
	}
	var b strings.Builder
	if neg && !zero {
		b.WriteByte('-')
	}
	b.WriteString(intPart)
	if scale > 0 {
		b.WriteByte('.')
		// The fraction: the digits after the point, preceded by zeros when
		// the point lies before the digits (scale = len(digits) - point).
		if point < 0 {
			b.WriteString(strings.Repeat("0", -point))
			b.WriteString(digits)
		} else {
			b.WriteString(digits[point:])
		}
	}
	return b.String(), nil
}

func digitsOnly(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
