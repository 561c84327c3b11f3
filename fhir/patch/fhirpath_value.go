package patch

import (
	"strings"

	"github.com/careflow/careflow/fhir/fhirpath"
	"github.com/careflow/careflow/fhir/model"
	"github.com/careflow/careflow/fhir/outcome"
)

// element resolves the element called name of type t that value v is for: an element of that JSON name
// ("birthDate", "deceasedBoolean"), or a choice element by its FHIRPath name ("deceased", also written
// "deceased[x]") whose alternative is the one of v's type (valueDateTime → deceasedDateTime). The
// value's type must be the element's or a specialisation of it (fhirpatch.html: "The type of the value
// must be correct for the place at which it will be added/inserted").
func (op *operation) element(m *model.Model, t *model.Type, name string, v *opValue) (*model.Element, error) {
	name = strings.TrimSuffix(name, "[x]")
	if e, ok := t.Elements[name]; ok {
		return e, op.checkType(m, t, e, v)
	}
	alts, ok := t.Choices[name]
	if !ok {
		return nil, op.cannot(outcome.CodeInvalid, "%s has no element %q", typeName(t), name)
	}
	if v.typ == "" || v.resource {
		return nil, op.cannot(outcome.CodeInvalid, "%s.%s[x] is a choice of types: give its value as a value[x] that names the type", typeName(t), name)
	}
	for _, a := range alts {
		if a.Type == v.typ {
			return a, nil
		}
	}
	for _, a := range alts {
		if fhirpath.IsSubtype(m, v.typ, a.Type) {
			return a, nil
		}
	}
	allowed := make([]string, len(alts))
	for i, a := range alts {
		allowed[i] = a.Type
	}
	return nil, op.cannot(outcome.CodeInvalid, "%s.%s[x] cannot be a %s (allowed: %s)", typeName(t), name, v.typ, strings.Join(allowed, ", "))
}

// checkType checks that v fits element e of t.
func (op *operation) checkType(m *model.Model, t *model.Type, e *model.Element, v *opValue) error {
	switch {
	case v.resource:
		if e.Type == "Resource" || fhirpath.IsSubtype(m, v.typ, e.Type) {
			return nil
		}
	case v.typ == "":
		if !m.IsPrimitive(e.Type) {
			return nil // parts build a value of the element's own type
		}
		return op.cannot(outcome.CodeInvalid, "%s.%s is of type %s: give its value as value[x], not as parts", typeName(t), e.Name, e.Type)
	case v.typ == e.Type || fhirpath.IsSubtype(m, v.typ, e.Type):
		return nil
	}
	return op.cannot(outcome.CodeInvalid, "%s.%s is of type %s; the value is of type %s", typeName(t), e.Name, e.Type, v.typ)
}

// build makes the JSON of v for element e: the value[x] or resource as given (with the primitive's
// "_value[x]" sibling as ext), or for parts an object of e's type whose members are the parts.
func (op *operation) build(m *model.Model, e *model.Element, v *opValue) (node, ext any, err error) {
	if len(v.parts) == 0 {
		prim := m.IsPrimitive(e.Type)
		if _, isObj := v.val.(*object); isObj == prim {
			return nil, nil, op.cannot(outcome.CodeInvalid, "the value of %s (%s) must be a JSON %s", e.Name, e.Type, map[bool]string{true: "primitive", false: "object"}[prim])
		}
		if v.ext != nil && (!prim || asObject(v.ext) == nil) {
			return nil, nil, op.cannot(outcome.CodeInvalid, "the _value[x] of %s must be an object with the id and extensions of a primitive", e.Name)
		}
		return v.val, v.ext, nil
	}
	t, ok := m.Type(e.Type)
	if !ok {
		return nil, nil, op.cannot(outcome.CodeInvalid, "%s (%s) cannot be given as parts", e.Name, e.Type)
	}
	obj := &object{}
	for _, p := range v.parts {
		child, err := op.element(m, t, p.name, p.value)
		if err != nil {
			return nil, nil, err
		}
		node, ext, err := op.build(m, child, p.value)
		if err != nil {
			return nil, nil, err
		}
		if child.Array {
			insertItem(obj, child.Name, len(listOf(obj, child.Name).items), node, ext)
			continue
		}
		names := []string{child.Name}
		if child.Choice != "" {
			names = names[:0]
			for _, alt := range t.Choices[child.Choice] {
				names = append(names, alt.Name)
			}
		}
		for _, n := range names {
			if _, dup := obj.get(n); dup {
				return nil, nil, op.cannot(outcome.CodeInvalid, "%s: %s.%s does not repeat but is given twice", p.where, typeName(t), p.name)
			}
		}
		obj.set(child.Name, node, "")
		if ext != nil {
			obj.set("_"+child.Name, ext, child.Name)
		}
	}
	return obj, nil, nil
}

// typeName is the FHIR name of a model type: backbone elements are named by path (Patient_Contact →
// Patient.contact).
func typeName(t *model.Type) string {
	before, after, found := strings.Cut(t.Name, "_")
	if !found {
		return t.Name
	}
	return before + "." + strings.ToLower(after[:1]) + after[1:]
}
