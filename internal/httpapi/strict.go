package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mtdb/mtdb/internal/errs"
)

// checkDocument applies the rules of strict decoding that encoding/json
// leaves out, to raw, a body that already decoded into dst (a pointer to a
// struct):
//   - the body is valid UTF-8 (encoding/json silently replaces bad bytes
//     with U+FFFD, so a client's bytes would be stored altered);
//   - every top-level key names a field of dst exactly (encoding/json
//     matches keys case-insensitively: {"NAME": …} would set name);
//   - no object, at any depth, has the same key twice (encoding/json keeps
//     the last one; a proxy or log reading the first would see another
//     request than the one served).
//
// Every failure is a KindInvalid error naming the key ("body" for the
// document as a whole).
func checkDocument(raw []byte, dst any) error {
	if !utf8.Valid(raw) {
		return bodyError("must be valid UTF-8")
	}
	if loneSurrogate(raw) {
		return bodyError(`must not contain an unpaired surrogate escape (such as "\ud800")`)
	}
	known := jsonFieldNames(reflect.TypeOf(dst))
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // the body decoded already; the end (or nothing new) is here
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.keys != nil && top.expectKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				valueDone(stack)
				continue
			}
			key, _ := tok.(string)
			if top.keys[key] {
				return errs.Invalid(fieldName(key), "is given more than once")
			}
			top.keys[key] = true
			if len(stack) == 1 && known != nil && !known[key] {
				return errs.Invalid(fieldName(key), "is not a known field")
			}
			top.expectKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{keys: map[string]bool{}, expectKey: true})
			continue // the object's value slot in its parent is set when it closes
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		valueDone(stack)
	}
}

// valueDone records that a value (a scalar or a closed container) ended:
// the enclosing object, if any, now expects its next key.
func valueDone(stack []*frame) {
	if len(stack) > 0 && stack[len(stack)-1].keys != nil {
		stack[len(stack)-1].expectKey = true
	}
}

// loneSurrogate reports whether a string of raw, a valid JSON document,
// holds a \u escape of a UTF-16 surrogate that is not half of a pair:
// encoding/json would silently turn it into U+FFFD, altering the text.
func loneSurrogate(raw []byte) bool {
	inString := false
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case !inString:
			inString = c == '"'
		case c == '"':
			inString = false
		case c == '\\':
			r, ok := escapedRune(raw, i)
			if !ok {
				i++ // a one-character escape: skip the escaped character
				continue
			}
			switch {
			case r >= 0xD800 && r < 0xDC00: // high half: a low half must follow
				if low, ok := escapedRune(raw, i+6); !ok || low < 0xDC00 || low >= 0xE000 {
					return true
				}
				i += 11
			case r >= 0xDC00 && r < 0xE000:
				return true
			default:
				i += 5
			}
		}
	}
	return false
}

// escapedRune returns the code of the \uXXXX escape at raw[i:], if any.
func escapedRune(raw []byte, i int) (rune, bool) {
	if i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 32)
	if err != nil {
		return 0, false
	}
	return rune(n), true
}

// frame is an open object or array of a document being walked: the keys
// seen so far (nil for an array) and whether the object's next token is a
// key.
type frame struct {
	keys      map[string]bool
	expectKey bool
}

// jsonFieldNames returns the JSON names of the fields of t (a struct or a
// pointer to one); nil when t is not a struct.
func jsonFieldNames(t reflect.Type) map[string]bool {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	names := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if name, ok := jsonName(f); ok {
			names[name] = true
		}
	}
	return names
}

// jsonName returns the name encoding/json gives the struct field f, and
// whether f takes part in JSON at all (it is not tagged "-").
func jsonName(f reflect.StructField) (string, bool) {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	switch name {
	case "-":
		return "", false
	case "":
		return f.Name, true
	}
	return name, true
}

// fieldName is key as a field name in an error: keys are client text, so
// an unprintable or huge one is replaced.
func fieldName(key string) string {
	if key == "" || len(key) > 100 || strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == utf8.RuneError }) {
		return "body"
	}
	return key
}
