package synth

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// obj is a JSON object whose members keep the order they were added in, so that resources come out in the
// FHIR element order (as servers and EHRs emit them) and byte-for-byte the same on every run.
type obj []member

type member struct {
	key string
	val any
}

// dec is a JSON number written exactly as given ("25.00" stays 25.00), like FHIR decimals.
type dec string

// set appends a member; nil values, empty strings, empty objects and empty arrays are skipped so that
// optional elements can be set unconditionally (FHIR forbids empty values).
func (o *obj) set(key string, val any) {
	switch v := val.(type) {
	case nil:
		return
	case string:
		if v == "" {
			return
		}
	case obj:
		if len(v) == 0 {
			return
		}
	case []any:
		if len(v) == 0 {
			return
		}
	case []obj:
		if len(v) == 0 {
			return
		}
	case []string:
		if len(v) == 0 {
			return
		}
	}
	*o = append(*o, member{key, val})
}

// get returns a member's value.
func (o obj) get(key string) any {
	for _, m := range o {
		if m.key == key {
			return m.val
		}
	}
	return nil
}

// marshal renders v as JSON indented by two spaces (like json.MarshalIndent with "  "), without HTML
// escaping, followed by no newline.
func marshal(v any) []byte {
	var b bytes.Buffer
	write(&b, v, "\n", true)
	return b.Bytes()
}

// compact renders v as JSON without any insignificant whitespace.
func compact(v any) []byte {
	var b bytes.Buffer
	write(&b, v, "", false)
	return b.Bytes()
}

func write(b *bytes.Buffer, v any, indent string, pretty bool) {
	inner := indent
	if pretty {
		inner = indent + "  "
	}
	sep := ":"
	if pretty {
		sep = ": "
	}
	switch v := v.(type) {
	case obj:
		if len(v) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteByte('{')
		for i, m := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(inner)
			writeString(b, m.key)
			b.WriteString(sep)
			write(b, m.val, inner, pretty)
		}
		b.WriteString(indent)
		b.WriteByte('}')
	case []obj:
		items := make([]any, len(v))
		for i := range v {
			items[i] = v[i]
		}
		write(b, items, indent, pretty)
	case []string:
		items := make([]any, len(v))
		for i := range v {
			items[i] = v[i]
		}
		write(b, items, indent, pretty)
	case []any:
		if len(v) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteByte('[')
		for i, item := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(inner)
			write(b, item, inner, pretty)
		}
		b.WriteString(indent)
		b.WriteByte(']')
	case string:
		writeString(b, v)
	case dec:
		b.WriteString(string(v))
	case int:
		b.WriteString(strconv.Itoa(v))
	case bool:
		b.WriteString(strconv.FormatBool(v))
	default:
		panic("synth: cannot render " + strconv.Quote(typeName(v)))
	}
}

func typeName(v any) string {
	switch v.(type) {
	case float64, float32:
		return "float (use dec)"
	}
	return "value"
}

const hexDigits = "0123456789abcdef"

// writeString writes s as a JSON string: UTF-8 as is, with only the escapes JSON requires (plus U+2028 and
// U+2029, which JavaScript treats as line ends).
func writeString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20:
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xf])
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\ufffd`)
		case r == '\u2028' || r == '\u2029':
			b.WriteString(`\u202`)
			b.WriteByte(hexDigits[r&0xf])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
}
