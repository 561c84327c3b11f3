package fhirpath

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/careflow/careflow/fhir/model"
)

// Check validates the expression against a model without evaluating it, finding mistakes that evaluation
// would either report only when data reaches them or not at all (FHIRPath navigation to a missing element
// is simply empty):
//
//   - every type name (path roots, is, as, ofType) is a FHIR or System type;
//   - every member navigated to exists on at least one of the types the input can have, following the
//     model's element types, choice alternatives and the types named by as/ofType;
//   - as, is and ofType name a type the input can have (`Patient.deceased as Quantity` never matches);
//   - resolve() is applied to references, canonicals or URIs.
//
// Inputs of unknown type (the start of an expression without a type name, %resource) are not checked.
func (e *Expression) Check(m *model.Model) error {
	if m == nil {
		return fmt.Errorf("fhirpath: check %q: nil model", e.src)
	}
	for _, s := range e.types {
		if _, err := namespace(m, s); err != nil {
			return fmt.Errorf("fhirpath: check %q: %w (column %d)", e.src, err, column(e.src, s.pos))
		}
	}
	ck := &checker{m: m}
	if _, err := ck.expr(e.root, anyType()); err != nil {
		return fmt.Errorf("fhirpath: check %q: %w", e.src, err)
	}
	return nil
}

// staticTypes is the set of types a collection's items can have; the element "*" stands for any type.
type staticTypes []string

// anyType is the static type of an input about which nothing is known.
func anyType() staticTypes { return staticTypes{"*"} }

func (s staticTypes) String() string {
	if len(s) == 1 {
		return s[0]
	}
	return "(" + strings.Join(s, " | ") + ")"
}

// add returns s with t added unless present.
func (s staticTypes) add(t ...string) staticTypes {
	for _, x := range t {
		found := false
		for _, y := range s {
			if x == y {
				found = true
				break
			}
		}
		if !found {
			s = append(s, x)
		}
	}
	return s
}

type checker struct {
	m *model.Model
}

func (ck *checker) expr(x expr, this staticTypes) (staticTypes, error) {
	switch x := x.(type) {
	case *literalExpr:
		var out staticTypes
		for _, it := range x.items {
			out = out.add(it.Type)
		}
		return out, nil
	case *thisExpr:
		return this, nil
	case *resourceExpr:
		return anyType(), nil
	case *typeFilterExpr:
		return staticTypes{qualifiedName(ck.m, x.spec)}, nil
	case *pathExpr:
		cur := this
		if x.base != nil {
			var err error
			if cur, err = ck.expr(x.base, this); err != nil {
				return nil, err
			}
		}
		for _, s := range x.steps {
			var err error
			if cur, err = ck.step(s, cur, this); err != nil {
				return nil, err
			}
		}
		return cur, nil
	case *unionExpr:
		var out staticTypes
		for _, p := range x.parts {
			types, err := ck.expr(p, this)
			if err != nil {
				return nil, err
			}
			out = out.add(types...)
		}
		return out, nil
	case *binaryExpr:
		if _, err := ck.expr(x.left, this); err != nil {
			return nil, err
		}
		if _, err := ck.expr(x.right, this); err != nil {
			return nil, err
		}
		return staticTypes{typeSystemBoolean}, nil
	case *typeExpr:
		in, err := ck.expr(x.operand, this)
		if err != nil {
			return nil, err
		}
		out, err := ck.typeTest(in, x.spec, x.text)
		if x.op == "is" {
			out = staticTypes{typeSystemBoolean}
		}
		return out, err
	}
	return nil, fmt.Errorf("internal error: unexpected expression %T", x)
}

func (ck *checker) step(s step, in, this staticTypes) (staticTypes, error) {
	switch s := s.(type) {
	case *memberStep:
		return ck.member(in, s.name)
	case *indexStep:
		if _, err := ck.expr(s.index, this); err != nil {
			return nil, err
		}
		return in, nil
	case *callStep:
		return ck.call(s, in, this)
	}
	return nil, fmt.Errorf("internal error: unexpected step %T", s)
}

func (ck *checker) call(s *callStep, in, this staticTypes) (staticTypes, error) {
	// Lambda arguments see each input item as $this; others see the enclosing $this.
	argThis := this
	switch s.fn.name {
	case "where", "select", "exists", "all":
		argThis = in
	}
	var last staticTypes
	for _, a := range s.args {
		var err error
		if last, err = ck.expr(a, argThis); err != nil {
			return nil, err
		}
	}
	switch s.fn.name {
	case "where", "first", "last", "tail":
		return in, nil
	case "select":
		return last, nil
	case "count":
		return staticTypes{typeSystemInteger}, nil
	case "extension":
		return staticTypes{"Extension"}, nil
	case "ofType", "as":
		return ck.typeTest(in, s.spec, s.text)
	case "is":
		_, err := ck.typeTest(in, s.spec, s.text)
		return staticTypes{typeSystemBoolean}, err
	case "resolve":
		for _, t := range in {
			if t == "*" || t == "Reference" || ck.isSub(t, "uri") || ck.isSub(t, "string") || t == typeSystemString {
				return staticTypes{"Resource"}, nil
			}
		}
		return nil, fmt.Errorf("%s: input of type %s is not a reference", s.text, in)
	}
	return staticTypes{typeSystemBoolean}, nil
}

// typeTest checks that some input type is compatible with spec (a specialisation or generalisation of it)
// and returns the types as/ofType yield.
func (ck *checker) typeTest(in staticTypes, spec typeSpec, text string) (staticTypes, error) {
	want := qualifiedName(ck.m, spec)
	for _, t := range in {
		if t == "*" || ck.isSub(t, want) || ck.isSub(want, t) {
			return staticTypes{want}, nil
		}
	}
	return nil, fmt.Errorf("%s: input of type %s can never be a %s", text, in, spec)
}

// qualifiedName is the static type name of spec: the FHIR type name, or "System.Name".
func qualifiedName(m *model.Model, spec typeSpec) string {
	if ns, _ := namespace(m, spec); ns == "System" {
		return "System." + spec.name
	}
	return spec.name
}

// isSub reports whether type a is b or a specialisation of it (static type names).
func (ck *checker) isSub(a, b string) bool {
	if a == b || b == "System.Any" {
		return true
	}
	if strings.HasPrefix(a, "System.") || strings.HasPrefix(b, "System.") {
		return false
	}
	for t := a; t != ""; t = fhirBase(ck.m, t) {
		if t == b {
			return true
		}
	}
	return false
}

// member returns the types of the children called name of items of the types in.
func (ck *checker) member(in staticTypes, name string) (staticTypes, error) {
	var out staticTypes
	found := false
	for _, t := range in {
		if t == "*" {
			out, found = out.add("*"), true
			continue
		}
		if types, ok := ck.memberTypes(t, name); ok {
			out, found = out.add(types...), true
		}
	}
	if !found && len(in) > 0 {
		return nil, fmt.Errorf("no element %q on %s%s", name, in, ck.hint(in, name))
	}
	return out, nil
}

func (ck *checker) hint(in staticTypes, name string) string {
	for _, t := range in {
		if t == "Resource" || t == "DomainResource" {
			return " (narrow it with ofType() first)"
		}
		if tt, ok := ck.m.Type(t); ok {
			var names []string
			for n, e := range tt.Elements {
				if e.Choice != "" {
					n = e.Choice
				}
				if editDistance(strings.ToLower(n), strings.ToLower(name)) <= 2 && !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
			sort.Strings(names)
			if len(names) > 0 {
				return " (did you mean " + strings.Join(names, ", ") + "?)"
			}
		}
	}
	return ""
}

// memberTypes returns the types of element name of type t, in the model's terms.
func (ck *checker) memberTypes(t, name string) ([]string, bool) {
	switch t {
	case "SimpleQuantity", "MoneyQuantity":
		t = "Quantity"
	case "Resource", "DomainResource", "Element", "BackboneElement":
		return abstractElement(t, name)
	}
	if ck.m.IsPrimitive(t) {
		// Evaluation reaches a primitive's id and extensions (in its "_name" sibling).
		return abstractElement("Element", name)
	}
	mt, ok := ck.m.Type(t)
	if !ok {
		return nil, false
	}
	if alts, ok := mt.Choices[name]; ok {
		var out []string
		for _, e := range alts {
			out = append(out, e.Type)
		}
		return out, true
	}
	if e, ok := mt.Elements[name]; ok {
		return []string{e.Type}, true
	}
	return nil, false
}

// abstractElement gives the elements of the abstract types the JSON schema does not define.
func abstractElement(t, name string) ([]string, bool) {
	switch name {
	case "id":
		if t == "Resource" || t == "DomainResource" {
			return []string{"id"}, true
		}
		return []string{"string"}, true
	case "extension":
		return []string{"Extension"}, t != "Resource"
	case "modifierExtension":
		return []string{"Extension"}, t == "DomainResource" || t == "BackboneElement"
	case "meta":
		return []string{"Meta"}, t == "Resource" || t == "DomainResource"
	case "implicitRules":
		return []string{"uri"}, t == "Resource" || t == "DomainResource"
	case "language":
		return []string{"code"}, t == "Resource" || t == "DomainResource"
	case "text":
		return []string{"Narrative"}, t == "DomainResource"
	case "contained":
		return []string{"Resource"}, t == "DomainResource"
	}
	return nil, false
}

// editDistance is the Levenshtein distance between a and b, for "did you mean" hints.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// ResultTypes returns the types the items of the expression's result can have, against m ("*" when the
// checker cannot tell).
func (e *Expression) ResultTypes(m *model.Model) ([]string, error) {
	t, err := (&checker{m: m}).expr(e.root, anyType())
	if err != nil {
		return nil, fmt.Errorf("fhirpath: check %q: %w", e.src, err)
	}
	return []string(t), nil
}
