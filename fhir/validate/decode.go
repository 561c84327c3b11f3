package validate

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/careflow/careflow/fhir/outcome"
)

// maxDepth bounds the nesting of objects and arrays; FHIR resources are far shallower.
const maxDepth = 128

// step is one segment of the location of a value in a resource: a property name or, when key is empty, an
// array index.
type step struct {
	key   string
	index int
}

// syntaxError is malformed JSON: the document cannot be decoded at all.
type syntaxError struct {
	offset int
	msg    string
}

// decoder is a single-pass JSON scanner that builds the generic tree (map[string]any, []any, string, bool,
// json.Number) and, while doing so, reports what encoding/json accepts but FHIR JSON forbids: duplicate
// property names, null property values, empty objects, arrays and strings. Nulls inside arrays are kept as nil
// for the element-model walk to judge, since FHIR allows them in primitive arrays paired with their "_x"
// extension arrays.
type decoder struct {
	data  string // the document, copied once; decoded strings without escapes share its memory
	pos   int
	depth int
	path  []step
	col   *collector
	err   *syntaxError
}

// decode parses data, which must hold exactly one JSON object. On malformed JSON it returns nil and a
// syntax error; FHIR-level problems found while decoding are added to col.
func decode(data []byte, col *collector) (map[string]any, *syntaxError) {
	d := &decoder{data: string(data), col: col, path: make([]step, 0, 16)}
	d.skipSpace()
	if d.pos == len(d.data) {
		return nil, &syntaxError{offset: 0, msg: "empty body: expected a JSON object"}
	}
	if d.data[d.pos] != '{' {
		return nil, d.fail("the resource must be a JSON object, found %s", d.describeNext())
	}
	obj, ok := d.object()
	if !ok {
		return nil, d.err
	}
	d.skipSpace()
	if d.pos != len(d.data) {
		return nil, d.fail("unexpected data after the end of the JSON object: %s", d.describeNext())
	}
	return obj, nil
}

func (d *decoder) fail(format string, args ...any) *syntaxError {
	if d.err == nil {
		d.err = &syntaxError{offset: d.pos, msg: fmt.Sprintf(format, args...)}
	}
	return d.err
}

// describeNext names the byte at the current position for error messages.
func (d *decoder) describeNext() string {
	if d.pos >= len(d.data) {
		return "end of input"
	}
	c := d.data[d.pos]
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("character %q", c)
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (d *decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// value parses any JSON value at the current position. inArray tells whether it is an array element (where
// null is left for the model walk to judge).
func (d *decoder) value(inArray bool) (any, bool) {
	d.skipSpace()
	if d.pos >= len(d.data) {
		d.fail("unexpected end of input, expected a value")
		return nil, false
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		s, ok := d.str()
		if ok && isBlank(s) {
			d.col.addPath(d.path, outcome.CodeValue, blankMessage(s))
		}
		return s, ok
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		if !d.literal("null") {
			return nil, false
		}
		if !inArray {
			d.col.addPath(d.path, outcome.CodeInvalid, nullMessage)
		}
		return nil, true
	default:
		d.fail("invalid %s, expected a value", d.describeNext())
		return nil, false
	}
}

func (d *decoder) literal(lit string) bool {
	if strings.HasPrefix(d.data[d.pos:], lit) {
		d.pos += len(lit)
		return true
	}
	d.fail("invalid literal, expected %q", lit)
	return false
}

func (d *decoder) enter() bool {
	d.depth++
	if d.depth > maxDepth {
		d.fail("JSON nested deeper than %d levels", maxDepth)
		return false
	}
	return true
}

func (d *decoder) object() (map[string]any, bool) {
	if !d.enter() {
		return nil, false
	}
	start := d.pos
	d.pos++ // '{'
	obj := make(map[string]any, 8)
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		d.depth--
		d.col.addPath(d.path, outcome.CodeInvalid, "empty object: FHIR elements must have a value or child elements")
		return obj, true
	}
	for {
		d.skipSpace()
		if d.pos >= len(d.data) {
			d.fail("unexpected end of input in object starting at byte offset %d", start)
			return nil, false
		}
		if d.data[d.pos] != '"' {
			d.fail("invalid %s, expected a property name in double quotes", d.describeNext())
			return nil, false
		}
		key, ok := d.str()
		if !ok {
			return nil, false
		}
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			d.fail("invalid %s after property name %q, expected ':'", d.describeNext(), key)
			return nil, false
		}
		d.pos++
		d.path = append(d.path, step{key: key})
		v, ok := d.value(false)
		if !ok {
			return nil, false
		}
		if _, dup := obj[key]; dup {
			d.col.addPath(d.path, outcome.CodeStructure, "duplicate property "+quote(key)+" (JSON property names must be unique)")
		} else {
			obj[key] = v
		}
		d.path = d.path[:len(d.path)-1]
		d.skipSpace()
		if d.pos >= len(d.data) {
			d.fail("unexpected end of input in object starting at byte offset %d", start)
			return nil, false
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			d.depth--
			return obj, true
		default:
			d.fail("invalid %s after object property %q, expected ',' or '}'", d.describeNext(), key)
			return nil, false
		}
	}
}

func (d *decoder) array() ([]any, bool) {
	if !d.enter() {
		return nil, false
	}
	start := d.pos
	d.pos++ // '['
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		d.depth--
		d.col.addPath(d.path, outcome.CodeInvalid, "empty array: omit the element instead")
		return []any{}, true
	}
	arr := make([]any, 0, 4)
	for i := 0; ; i++ {
		d.path = append(d.path, step{index: i})
		v, ok := d.value(true)
		if !ok {
			return nil, false
		}
		d.path = d.path[:len(d.path)-1]
		arr = append(arr, v)
		d.skipSpace()
		if d.pos >= len(d.data) {
			d.fail("unexpected end of input in array starting at byte offset %d", start)
			return nil, false
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			d.depth--
			return arr, true
		default:
			d.fail("invalid %s after array element, expected ',' or ']'", d.describeNext())
			return nil, false
		}
	}
}

// str parses a JSON string at the current position (which holds the opening quote).
func (d *decoder) str() (string, bool) {
	start := d.pos + 1
	i := start
	// Fast path: no escapes, so the string is a slice of the document.
	for i < len(d.data) {
		c := d.data[i]
		if c == '"' {
			d.pos = i + 1
			return d.data[start:i], true
		}
		if c == '\\' || c < 0x20 {
			break
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(d.data[i:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			i += size
			continue
		}
		i++
	}
	var sb strings.Builder
	sb.Grow(i - start + 16)
	sb.WriteString(d.data[start:i])
	for i < len(d.data) {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return sb.String(), true
		case c < 0x20:
			d.pos = i
			d.fail("invalid control character 0x%02x in string (must be escaped)", c)
			return "", false
		case c == '\\':
			if i+1 >= len(d.data) {
				i++
				continue
			}
			e := d.data[i+1]
			i += 2
			switch e {
			case '"', '\\', '/':
				sb.WriteByte(e)
			case 'b':
				sb.WriteByte('\b')
			case 'f':
				sb.WriteByte('\f')
			case 'n':
				sb.WriteByte('\n')
			case 'r':
				sb.WriteByte('\r')
			case 't':
				sb.WriteByte('\t')
			case 'u':
				r, ok := d.hex4(i)
				if !ok {
					return "", false
				}
				i += 4
				if utf16.IsSurrogate(r) {
					r2 := utf8.RuneError
					if i+6 <= len(d.data) && d.data[i] == '\\' && d.data[i+1] == 'u' {
						if lo, ok := d.hex4(i + 2); ok {
							if dec := utf16.DecodeRune(r, lo); dec != utf8.RuneError {
								r2 = dec
								i += 6
							}
						} else {
							return "", false
						}
					}
					r = r2
				}
				if r == 0 {
					// JSON allows it, FHIR strings should not carry control characters, and PostgreSQL-backed
					// MongoDB servers (FerretDB) cannot store it: refuse it here rather than fail at the store.
					d.col.addPath(d.path, outcome.CodeInvalid, "the string contains U+0000 (NUL), which FHIR strings must not carry")
				}
				sb.WriteRune(r)
			default:
				d.pos = i - 2
				d.fail("invalid escape sequence '\\%c' in string", e)
				return "", false
			}
		case c < utf8.RuneSelf:
			sb.WriteByte(c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(d.data[i:])
			if r == utf8.RuneError && size <= 1 {
				d.pos = i
				d.fail("invalid UTF-8 in string")
				return "", false
			}
			sb.WriteString(d.data[i : i+size])
			i += size
		}
	}
	d.pos = len(d.data)
	d.fail("unexpected end of input in string starting at byte offset %d", start-1)
	return "", false
}

func (d *decoder) hex4(i int) (rune, bool) {
	if i+4 > len(d.data) {
		d.pos = i
		d.fail("truncated \\u escape in string")
		return 0, false
	}
	var r rune
	for _, c := range []byte(d.data[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			d.pos = i
			d.fail("invalid \\u escape in string")
			return 0, false
		}
	}
	return r, true
}

// number parses a JSON number, keeping its text as a json.Number so that no precision is lost.
func (d *decoder) number() (json.Number, bool) {
	start := d.pos
	i := d.pos
	if d.data[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(d.data) && d.data[i] >= '0' && d.data[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(d.data) && d.data[i] == '0':
		i++
	case digits() == 0:
		d.pos = i
		d.fail("invalid number: expected a digit, found %s", d.describeNext())
		return "", false
	}
	if i < len(d.data) && d.data[i] == '.' {
		i++
		if digits() == 0 {
			d.pos = i
			d.fail("invalid number: expected a digit after the decimal point, found %s", d.describeNext())
			return "", false
		}
	}
	if i < len(d.data) && (d.data[i] == 'e' || d.data[i] == 'E') {
		i++
		if i < len(d.data) && (d.data[i] == '+' || d.data[i] == '-') {
			i++
		}
		if digits() == 0 {
			d.pos = i
			d.fail("invalid number: expected a digit in the exponent, found %s", d.describeNext())
			return "", false
		}
	}
	d.pos = i
	return json.Number(d.data[start:i]), true
}

const nullMessage = "null is not allowed in FHIR JSON; omit the element instead"

// isBlank reports whether s is empty or only whitespace.
func isBlank(s string) bool {
	return strings.TrimSpace(s) == ""
}

func blankMessage(s string) string {
	if s == "" {
		return "empty string: FHIR elements must have a value or child elements"
	}
	return "string contains only whitespace: FHIR elements must have a non-blank value"
}

// lineCol turns a byte offset into a 1-based line and column for error messages.
func lineCol(data []byte, offset int) (line, col int) {
	line, col = 1, 1
	for _, c := range data[:min(offset, len(data))] {
		if c == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}
