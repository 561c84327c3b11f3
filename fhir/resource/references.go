package resource

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// RewriteReferences returns data with the string value of every "reference" member replaced as ref says
// (ref gets the FHIRPath location of the value, rooted at root, and the value), and the href and src
// attributes of every "div" member (narrative XHTML) replaced as link says.
func RewriteReferences(data []byte, root string, ref func(path, value string) (string, bool, error), link func(string) (string, bool)) ([]byte, error) {
	if !json.Valid(data) {
		return data, nil
	}
	w := &refWalker{data: data, ref: ref, link: link, path: []string{root}}
	if err := w.value(""); err != nil {
		return nil, err
	}
	if w.out == nil {
		return data, nil
	}
	return append(w.out, data[w.copied:]...), nil
}

// refWalker scans valid JSON once, collecting replacements.
type refWalker struct {
	data   []byte
	i      int
	path   []string
	ref    func(path, value string) (string, bool, error)
	link   func(string) (string, bool)
	out    []byte // rewritten prefix, nil while nothing changed
	copied int    // data[:copied] is in out
}

func (w *refWalker) space() {
	for w.i < len(w.data) {
		switch w.data[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

// str skips the string at w.i and returns its bounds (quotes included).
func (w *refWalker) str() (int, int) {
	start := w.i
	for w.i++; w.i < len(w.data); w.i++ {
		switch w.data[w.i] {
		case '\\':
			w.i++
		case '"':
			w.i++
			return start, w.i
		}
	}
	return start, w.i
}

func (w *refWalker) value(key string) error {
	w.space()
	if w.i >= len(w.data) {
		return nil
	}
	switch w.data[w.i] {
	case '{':
		return w.object()
	case '[':
		return w.array()
	case '"':
		start, end := w.str()
		if key != "reference" && key != "div" {
			return nil
		}
		var s string
		if err := json.Unmarshal(w.data[start:end], &s); err != nil {
			return nil
		}
		var repl string
		var ok bool
		if key == "reference" {
			var err error
			if repl, ok, err = w.ref(strings.Join(w.path, ""), s); err != nil {
				return err
			}
		} else {
			repl, ok = rewriteLinks(s, w.link)
		}
		if ok && repl != s {
			w.out = append(append(w.out, w.data[w.copied:start]...), encodeString(repl)...)
			w.copied = end
		}
		return nil
	}
	for w.i < len(w.data) {
		switch w.data[w.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return nil
		}
		w.i++
	}
	return nil
}

func (w *refWalker) object() error {
	w.i++ // {
	for {
		w.space()
		if w.i >= len(w.data) || w.data[w.i] == '}' {
			w.i++
			return nil
		}
		start, end := w.str()
		key := string(w.data[start+1 : end-1])
		if bytes.IndexByte(w.data[start:end], '\\') >= 0 {
			_ = json.Unmarshal(w.data[start:end], &key)
		}
		w.space()
		w.i++ // :
		w.path = append(w.path, "."+key)
		if err := w.value(key); err != nil {
			return err
		}
		w.path = w.path[:len(w.path)-1]
		w.space()
		if w.i < len(w.data) && w.data[w.i] == ',' {
			w.i++
		}
	}
}

func (w *refWalker) array() error {
	w.i++ // [
	last := len(w.path) - 1
	field := w.path[last]
	defer func() { w.path[last] = field }()
	for n := 0; ; n++ {
		w.space()
		if w.i >= len(w.data) || w.data[w.i] == ']' {
			w.i++
			return nil
		}
		w.path[last] = field + "[" + strconv.Itoa(n) + "]"
		// An array of strings named "reference" is not a Reference.reference: no key for the elements.
		if err := w.value(""); err != nil {
			return err
		}
		w.space()
		if w.i < len(w.data) && w.data[w.i] == ',' {
			w.i++
		}
	}
}

// rewriteLinks replaces the values of href="…" and src="…" attributes of XHTML as link says.
func rewriteLinks(div string, link func(string) (string, bool)) (string, bool) {
	var b strings.Builder
	changed := false
	rest := div
	for {
		i, attr := -1, ""
		for _, a := range []string{`href="`, `src="`} {
			if k := strings.Index(rest, a); k >= 0 && (i < 0 || k < i) {
				i, attr = k, a
			}
		}
		if i < 0 {
			break
		}
		valStart := i + len(attr)
		valEnd := strings.IndexByte(rest[valStart:], '"')
		if valEnd < 0 {
			break
		}
		val := rest[valStart : valStart+valEnd]
		b.WriteString(rest[:valStart])
		if to, ok := link(val); ok {
			b.WriteString(to)
			changed = true
		} else {
			b.WriteString(val)
		}
		rest = rest[valStart+valEnd:]
	}
	if !changed {
		return div, false
	}
	b.WriteString(rest)
	return b.String(), true
}

// encodeString renders s as a JSON string without HTML escaping.
func encodeString(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimRight(buf.Bytes(), "\n")
}
