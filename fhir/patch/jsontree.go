package patch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/careflow/careflow/fhir/fhirpath"
)

// An order-preserving JSON tree, so that a FHIRPath Patch changes only what it addresses: untouched
// members keep their order and primitives their exact bytes (decimal precision, string escapes). A value
// is an *object, an *array or a json.RawMessage (a primitive or null, compact).

type member struct {
	key string
	val any
}

type object struct{ members []member }

type array struct{ items []any }

// parseTree parses one JSON value.
func parseTree(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	v, err := parseValue(d)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return v, nil
}

func parseValue(d *json.Decoder) (any, error) {
	var raw json.RawMessage
	if err := d.Decode(&raw); err != nil {
		return nil, err
	}
	return treeOf(raw)
}

// treeOf builds the tree of a syntactically valid JSON value.
func treeOf(raw json.RawMessage) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || (raw[0] != '{' && raw[0] != '[') {
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, err
		}
		return json.RawMessage(buf.Bytes()), nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if _, err := d.Token(); err != nil { // { or [
		return nil, err
	}
	if raw[0] == '[' {
		a := &array{}
		for d.More() {
			v, err := parseValue(d)
			if err != nil {
				return nil, err
			}
			a.items = append(a.items, v)
		}
		return a, nil
	}
	o := &object{}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil, err
		}
		key, _ := t.(string)
		if _, dup := o.get(key); dup {
			return nil, fmt.Errorf("duplicate property %q", key)
		}
		v, err := parseValue(d)
		if err != nil {
			return nil, err
		}
		o.members = append(o.members, member{key: key, val: v})
	}
	return o, nil
}

// encodeTree writes v as compact JSON.
func encodeTree(buf *bytes.Buffer, v any) {
	switch x := v.(type) {
	case *object:
		buf.WriteByte('{')
		for i, m := range x.members {
			if i > 0 {
				buf.WriteByte(',')
			}
			k, _ := json.Marshal(m.key)
			buf.Write(k)
			buf.WriteByte(':')
			encodeTree(buf, m.val)
		}
		buf.WriteByte('}')
	case *array:
		buf.WriteByte('[')
		for i, it := range x.items {
			if i > 0 {
				buf.WriteByte(',')
			}
			encodeTree(buf, it)
		}
		buf.WriteByte(']')
	case json.RawMessage:
		buf.Write(x)
	default:
		buf.WriteString("null")
	}
}

// plain converts a tree to the decoded JSON the FHIRPath engine evaluates (map[string]any, []any, string,
// bool, json.Number, nil).
func plain(v any) any {
	switch x := v.(type) {
	case *object:
		m := make(map[string]any, len(x.members))
		for _, mb := range x.members {
			m[mb.key] = plain(mb.val)
		}
		return m
	case *array:
		s := make([]any, len(x.items))
		for i, it := range x.items {
			s[i] = plain(it)
		}
		return s
	case json.RawMessage:
		d := json.NewDecoder(bytes.NewReader(x))
		d.UseNumber()
		var p any
		_ = d.Decode(&p) // parsed before: valid
		return p
	}
	return nil
}

// isNull reports whether v is JSON null.
func isNull(v any) bool {
	r, ok := v.(json.RawMessage)
	return v == nil || ok && string(r) == "null"
}

// rawString returns the JSON string v holds.
func rawString(v any) (string, bool) {
	r, ok := v.(json.RawMessage)
	if !ok || len(r) == 0 || r[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(r, &s); err != nil {
		return "", false
	}
	return s, true
}

func (o *object) index(key string) int {
	for i, m := range o.members {
		if m.key == key {
			return i
		}
	}
	return -1
}

func (o *object) get(key string) (any, bool) {
	if i := o.index(key); i >= 0 {
		return o.members[i].val, true
	}
	return nil, false
}

// set replaces the value of key in place, or appends key (right after the member named after, when
// given and present).
func (o *object) set(key string, v any, after string) {
	if i := o.index(key); i >= 0 {
		o.members[i].val = v
		return
	}
	if i := o.index(after); after != "" && i >= 0 {
		o.members = append(o.members[:i+1], append([]member{{key: key, val: v}}, o.members[i+1:]...)...)
		return
	}
	o.members = append(o.members, member{key: key, val: v})
}

// rename renames the member old to key with value v, keeping its position (set if old is absent).
func (o *object) rename(old, key string, v any) {
	if i := o.index(old); i >= 0 {
		o.members[i] = member{key: key, val: v}
		return
	}
	o.set(key, v, "")
}

func (o *object) remove(key string) {
	if i := o.index(key); i >= 0 {
		o.members = append(o.members[:i], o.members[i+1:]...)
	}
}

// walk follows steps from root and returns the value there.
func walk(root any, steps []fhirpath.Step) (any, error) {
	cur := root
	for _, st := range steps {
		o, ok := cur.(*object)
		if !ok {
			return nil, fmt.Errorf("%s: not an object", st.Name)
		}
		v, ok := o.get(st.Name)
		if !ok {
			return nil, fmt.Errorf("no property %s", st.Name)
		}
		if st.Index >= 0 {
			a, ok := v.(*array)
			if !ok || st.Index >= len(a.items) {
				return nil, fmt.Errorf("no %s[%d]", st.Name, st.Index)
			}
			v = a.items[st.Index]
		}
		cur = v
	}
	return cur, nil
}

// objectAt returns the object steps lead to.
func objectAt(root any, steps []fhirpath.Step) (*object, error) {
	v, err := walk(root, steps)
	if err != nil {
		return nil, err
	}
	o, ok := v.(*object)
	if !ok {
		return nil, errors.New("not an object")
	}
	return o, nil
}

// stepsString renders steps as a JSON-ish path for messages: name[0].given[1].
func stepsString(steps []fhirpath.Step) string {
	var b bytes.Buffer
	for i, s := range steps {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.Name)
		if s.Index >= 0 {
			b.WriteString("[" + strconv.Itoa(s.Index) + "]")
		}
	}
	return b.String()
}
