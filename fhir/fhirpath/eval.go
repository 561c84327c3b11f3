package fhirpath

import (
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"strconv"

	"github.com/careflow/careflow/fhir/model"
)

// evalCtx is the state of one Evaluate call.
type evalCtx struct {
	m    *model.Model
	root item // the resource being evaluated
}

// Collections returned by expressions may be shared (literals, sub-slices of inputs): they are never
// modified in place, and are capped (three-index slices) so that appending to them copies.
func (l *literalExpr) eval(*evalCtx, []item) ([]item, error) {
	return l.items[:len(l.items):len(l.items)], nil
}

func (*thisExpr) eval(_ *evalCtx, this []item) ([]item, error) { return this, nil }

func (*resourceExpr) eval(c *evalCtx, _ []item) ([]item, error) { return []item{c.root}, nil }

func (t *typeFilterExpr) eval(c *evalCtx, this []item) ([]item, error) {
	return ofType(c, this, t.spec)
}

func (p *pathExpr) eval(c *evalCtx, this []item) ([]item, error) {
	cur := this
	if p.base != nil {
		var err error
		if cur, err = p.base.eval(c, this); err != nil {
			return nil, err
		}
	}
	for _, s := range p.steps {
		var err error
		if cur, err = s.apply(c, cur, this); err != nil {
			return nil, err
		}
	}
	return cur, nil
}

func (u *unionExpr) eval(c *evalCtx, this []item) ([]item, error) {
	var all []item
	for _, p := range u.parts {
		items, err := p.eval(c, this)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
	}
	return dedupe(all), nil
}

// dedupe removes duplicates from a union's items in place, keeping the first of each. Items with a
// location are the same item when their paths are equal; computed values (no path) are duplicates when
// equal by FHIRPath '='. FHIRPath defines union duplicates by value equality alone; keeping equal values
// found at different locations lets callers still see every location.
func dedupe(items []item) []item {
	out := items[:0]
next:
	for _, it := range items {
		for _, o := range out {
			if it.Path != "" && o.Path == it.Path {
				continue next
			}
			if it.Path == "" && o.Path == "" && equalItems(it, o) {
				continue next
			}
		}
		out = append(out, it)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (b *binaryExpr) eval(c *evalCtx, this []item) ([]item, error) {
	l, err := b.left.eval(c, this)
	if err != nil {
		return nil, err
	}
	switch b.op {
	case "and", "or", "implies":
		// Short-circuit where the left operand decides the result.
		lv, lok, err := singletonBool(l)
		if err != nil {
			return nil, fmt.Errorf("%s: left operand: %w", b.text, err)
		}
		if lok && ((b.op == "and" && !lv) || (b.op == "or" && lv)) {
			return boolResult(lv), nil
		}
		if lok && b.op == "implies" && !lv {
			return boolResult(true), nil
		}
	}
	r, err := b.right.eval(c, this)
	if err != nil {
		return nil, err
	}
	switch b.op {
	case "=", "!=":
		eq, ok := equalCollections(l, r)
		if !ok {
			return nil, nil
		}
		return boolResult(eq == (b.op == "=")), nil
	}
	lv, lok, err := singletonBool(l)
	if err != nil {
		return nil, fmt.Errorf("%s: left operand: %w", b.text, err)
	}
	rv, rok, err := singletonBool(r)
	if err != nil {
		return nil, fmt.Errorf("%s: right operand: %w", b.text, err)
	}
	switch b.op {
	case "and": // left is true or empty here
		switch {
		case rok && !rv:
			return boolResult(false), nil
		case lok && rok:
			return boolResult(true), nil
		}
	case "or": // left is false or empty here
		switch {
		case rok && rv:
			return boolResult(true), nil
		case lok && rok:
			return boolResult(false), nil
		}
	case "xor":
		if lok && rok {
			return boolResult(lv != rv), nil
		}
	case "implies": // left is true or empty here
		switch {
		case rok && rv:
			return boolResult(true), nil
		case lok && rok:
			return boolResult(false), nil
		}
	}
	return nil, nil
}

func (t *typeExpr) eval(c *evalCtx, this []item) ([]item, error) {
	in, err := t.operand.eval(c, this)
	if err != nil {
		return nil, err
	}
	if t.op == "as" {
		return ofType(c, in, t.spec)
	}
	return isOp(c, in, t.spec, t.text)
}

// ofType keeps the items of in that are of type spec. It implements ofType(), the 'as' operator and
// function (which FHIRPath defines on single items; R4 search parameters apply 'as' to collections, such as
// (ActivityDefinition.useContext.value as CodeableConcept), so it filters here) and type names at the start
// of a path.
func ofType(c *evalCtx, in []item, spec typeSpec) ([]item, error) {
	var out []item
	for i, it := range in {
		ok, err := isType(c.m, it.Type, spec)
		if err != nil {
			return nil, err
		}
		switch {
		case ok && out != nil:
			out = append(out, it)
		case !ok && out == nil:
			// First mismatch: from here on, copy the matching items.
			out = append(make([]item, 0, len(in)-1), in[:i]...)
		}
	}
	if out == nil {
		return in, nil // all matched
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// isOp implements the 'is' operator and function: empty for an empty input, an error for more than one
// item.
func isOp(c *evalCtx, in []item, spec typeSpec, text string) ([]item, error) {
	switch len(in) {
	case 0:
		return nil, nil
	case 1:
		ok, err := isType(c.m, in[0].Type, spec)
		if err != nil {
			return nil, err
		}
		return boolResult(ok), nil
	}
	return nil, fmt.Errorf("%s: 'is' needs a single item, got %d", text, len(in))
}

func (m *memberStep) apply(c *evalCtx, input, _ []item) ([]item, error) {
	var out []item
	for _, it := range input {
		out = c.children(out, it, m.name)
	}
	return out, nil
}

// children appends the children of it named name to out: the element of that name, or the present
// alternative of the choice element of that name (value → valueQuantity). Arrays are flattened; JSON nulls
// and primitives that only have extensions ("_birthDate" without "birthDate") give no item. Items of an
// unknown type are navigated by JSON property name and their children's types are unknown.
func (c *evalCtx) children(out []item, it item, name string) []item {
	obj, ok := it.Value.(map[string]any)
	if !ok {
		// A primitive's id and extensions are in its "_name" sibling, an Element.
		if it.ext != nil && (name == "extension" || name == "id") {
			return c.children(out, item{Node: Node{Value: it.ext, Type: "Element", Path: it.Path}}, name)
		}
		return out
	}
	t, known := c.m.Type(it.Type)
	if !known {
		if v, ok := obj[name]; ok {
			out = c.appendValue(out, it.Path+"."+name, "", v, obj["_"+name])
		}
		return out
	}
	if alts, ok := t.Choices[name]; ok {
		for _, e := range alts {
			if v, ok := obj[e.Name]; ok {
				out = c.appendValue(out, it.Path+"."+e.Name, e.Type, v, obj["_"+e.Name])
			}
		}
		return out
	}
	if e, ok := t.Elements[name]; ok {
		if v, ok := obj[name]; ok {
			out = c.appendValue(out, it.Path+"."+name, e.Type, v, obj["_"+name])
		}
	}
	return out
}

// appendValue appends the items of the JSON value v found at path (flattening an array) to out; ext is the
// value's "_name" sibling.
func (c *evalCtx) appendValue(out []item, path, typ string, v, ext any) []item {
	if arr, ok := v.([]any); ok {
		exts, _ := ext.([]any)
		for i, x := range arr {
			if x == nil {
				continue
			}
			var e any
			if i < len(exts) {
				e = exts[i]
			}
			out = append(out, newItem(x, typ, path+"["+strconv.Itoa(i)+"]", e))
		}
		return out
	}
	if v == nil {
		return out
	}
	return append(out, newItem(v, typ, path, ext))
}

func newItem(v any, typ, path string, ext any) item {
	if typ == "Resource" {
		// Contained and Bundle.entry.resource: the type is the resource's own.
		typ = ""
		if obj, ok := v.(map[string]any); ok {
			typ, _ = obj["resourceType"].(string)
		}
	}
	e, _ := ext.(map[string]any)
	return item{Node: Node{Value: v, Type: typ, Path: path}, ext: e}
}

func (s *indexStep) apply(c *evalCtx, input, this []item) ([]item, error) {
	idx, err := s.index.eval(c, this)
	if err != nil {
		return nil, err
	}
	n, err := singletonInteger(idx)
	if err != nil {
		return nil, fmt.Errorf("%s: index: %w", s.text, err)
	}
	if n < 0 || n >= int64(len(input)) {
		return nil, nil
	}
	return input[n : n+1 : n+1], nil
}

func (s *callStep) apply(c *evalCtx, input, this []item) ([]item, error) {
	out, err := s.fn.call(c, s, input, this)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.text, err)
	}
	return out, nil
}

// boolResult is a collection holding one System.Boolean.
func boolResult(b bool) []item {
	return []item{{Node: Node{Value: b, Type: typeSystemBoolean}}}
}

// singletonBool converts a collection to a boolean the way FHIRPath does where a Boolean is expected:
// empty → not ok; one boolean → its value; one other item → true; more items → error.
func singletonBool(in []item) (value, ok bool, err error) {
	switch len(in) {
	case 0:
		return false, false, nil
	case 1:
		if b, isBool := in[0].Value.(bool); isBool {
			return b, true, nil
		}
		return true, true, nil
	}
	return false, false, fmt.Errorf("expected a single boolean, got %d items", len(in))
}

// singletonInteger returns the single integer of in.
func singletonInteger(in []item) (int64, error) {
	if len(in) != 1 {
		return 0, fmt.Errorf("expected a single integer, got %d items", len(in))
	}
	var s string
	switch v := in[0].Value.(type) {
	case json.Number:
		s = string(v)
	case float64:
		s = strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return 0, fmt.Errorf("expected an integer, got %T", v)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("expected an integer, got %s", s)
	}
	return n, nil
}

// equalCollections implements '=': ok is false (result empty) when either side is empty; collections of
// different sizes are unequal; otherwise items are compared in order.
func equalCollections(l, r []item) (equal, ok bool) {
	if len(l) == 0 || len(r) == 0 {
		return false, false
	}
	if len(l) != len(r) {
		return false, true
	}
	for i := range l {
		if !equalItems(l[i], r[i]) {
			return false, true
		}
	}
	return true, true
}

// equalItems compares two values: strings (whatever their FHIR type: code, uri, date…) by exact text,
// booleans, numbers numerically (1 = 1.0), complex values by deep JSON equality. Values of different kinds
// are unequal, so a deceasedDateTime != false. Date/time values are compared as text: the same instant
// written with different precision or time zones is not equal (FHIRPath would compare instants and return
// empty for different precisions).
func equalItems(a, b item) bool {
	switch av := a.Value.(type) {
	case string:
		bv, ok := b.Value.(string)
		return ok && av == bv
	case bool:
		bv, ok := b.Value.(bool)
		return ok && av == bv
	case json.Number, float64:
		ar, aok := toRat(av)
		br, bok := toRat(b.Value)
		return aok && bok && ar.Cmp(br) == 0
	case map[string]any:
		bv, ok := b.Value.(map[string]any)
		return ok && reflect.DeepEqual(av, bv)
	case nil:
		// resolve() of an external reference: the same target.
		return b.Value == nil && a.Type == b.Type && a.Path == b.Path
	}
	return false
}

func toRat(v any) (*big.Rat, bool) {
	switch n := v.(type) {
	case json.Number:
		return new(big.Rat).SetString(string(n))
	case float64:
		r := new(big.Rat)
		if r.SetFloat64(n) == nil {
			return nil, false
		}
		return r, true
	}
	return nil, false
}
