package fhirpath

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/careflow/careflow/fhir/model"
)

// Step is one step from a resource's root object to an element in its JSON: the property Name of an
// object, and the Index of the element in the array that property holds (-1 when it is not an array).
type Step struct {
	Name  string
	Index int
}

// Location is a result item of Locate: the node and where it lives in the resource's JSON.
type Location struct {
	Node
	// Steps lead from the resource root to the node; empty for the resource itself. The last step is the
	// node's property in its parent object. The id and extensions of a primitive live in the primitive's
	// "_name" sibling, so Patient.birthDate.extension[0] is at _birthDate / extension[0].
	Steps []Step
}

// ErrNotElement is returned (wrapped) by Locate when a result item is not an element of the resource: a
// computed value, a literal, or the resource an external reference's resolve() stands for.
var ErrNotElement = errors.New("not an element of the resource")

// Locate evaluates e like Evaluate and returns, for every item of the result, where it is in the resource
// JSON, so that callers (FHIRPath Patch) can modify the elements an expression selects.
func (e *Expression) Locate(m *model.Model, resource map[string]any) ([]Location, error) {
	nodes, err := e.Evaluate(m, resource)
	if err != nil {
		return nil, err
	}
	out := make([]Location, 0, len(nodes))
	for _, n := range nodes {
		steps, err := locate(resource, n.Path)
		if err != nil {
			return nil, fmt.Errorf("fhirpath: locate %q: item %q: %w", e.src, n.Path, err)
		}
		out = append(out, Location{Node: n, Steps: steps})
	}
	return out, nil
}

// locate turns a node Path ("Patient.name[0].given[1]") into steps through the JSON of resource,
// redirecting the id and extensions of primitives to their "_name" siblings.
func locate(resource map[string]any, path string) ([]Step, error) {
	if path == "" || strings.HasSuffix(path, ".resolve()") {
		return nil, ErrNotElement
	}
	segs := strings.Split(path, ".")
	// parents[i] is the object holding steps[i].
	var steps []Step
	var parents []map[string]any
	cur := any(resource)
	for _, seg := range segs[1:] {
		st, err := parseSegment(seg)
		if err != nil {
			return nil, err
		}
		obj, isObj := cur.(map[string]any)
		if !isObj {
			// A primitive: its id and extension are in the "_name" sibling of the primitive.
			if len(steps) == 0 || (st.Name != "extension" && st.Name != "id") {
				return nil, fmt.Errorf("%w: %s is not an object", ErrNotElement, seg)
			}
			last := &steps[len(steps)-1]
			sib, ok := parents[len(parents)-1]["_"+last.Name]
			if !ok {
				return nil, fmt.Errorf("%w: no _%s", ErrNotElement, last.Name)
			}
			if last.Index >= 0 {
				arr, _ := sib.([]any)
				if last.Index >= len(arr) {
					return nil, fmt.Errorf("%w: no _%s[%d]", ErrNotElement, last.Name, last.Index)
				}
				sib = arr[last.Index]
			}
			if obj, isObj = sib.(map[string]any); !isObj {
				return nil, fmt.Errorf("%w: _%s is not an object", ErrNotElement, last.Name)
			}
			last.Name = "_" + last.Name
		}
		v, ok := obj[st.Name]
		if !ok {
			return nil, fmt.Errorf("%w: no property %s", ErrNotElement, st.Name)
		}
		if st.Index >= 0 {
			arr, _ := v.([]any)
			if st.Index >= len(arr) {
				return nil, fmt.Errorf("%w: no %s[%d]", ErrNotElement, st.Name, st.Index)
			}
			v = arr[st.Index]
		}
		steps = append(steps, st)
		parents = append(parents, obj)
		cur = v
	}
	return steps, nil
}

// parseSegment parses "name" or "name[3]".
func parseSegment(seg string) (Step, error) {
	name, rest, indexed := strings.Cut(seg, "[")
	if !indexed {
		return Step{Name: seg, Index: -1}, nil
	}
	n, err := strconv.Atoi(strings.TrimSuffix(rest, "]"))
	if err != nil || !strings.HasSuffix(rest, "]") || n < 0 || name == "" {
		return Step{}, fmt.Errorf("%w: bad path segment %q", ErrNotElement, seg)
	}
	return Step{Name: name, Index: n}, nil
}

// Parent splits an expression that ends with a member name ("Patient.name[0].given") into the
// expression before it ("Patient.name[0]") and the name ("given"); a lone name ("identifier") has the
// parent $this. ok is false for other expressions (functions, indexers, operators at the end).
func (e *Expression) Parent() (parent *Expression, name string, ok bool) {
	p, isPath := e.root.(*pathExpr)
	if !isPath || len(p.steps) == 0 {
		return nil, "", false
	}
	last, isMember := p.steps[len(p.steps)-1].(*memberStep)
	if !isMember {
		return nil, "", false
	}
	var root expr
	switch {
	case len(p.steps) > 1:
		root = &pathExpr{base: p.base, steps: p.steps[: len(p.steps)-1 : len(p.steps)-1]}
	case p.base != nil:
		root = p.base
	default:
		root = &thisExpr{}
	}
	src := strings.TrimSpace(e.src)
	if cut, found := strings.CutSuffix(src, last.name); found {
		src = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(cut), "."))
	}
	if src == "" {
		src = "$this"
	}
	return &Expression{src: src, root: root, types: e.types}, last.name, true
}

// IsSubtype reports whether a value of FHIR type typ may stand where FHIR type base is expected: the same
// type or a specialisation of it (code is a string, Age is a Quantity, Patient is a Resource).
func IsSubtype(m *model.Model, typ, base string) bool {
	if typ == "" || base == "" {
		return false
	}
	ok, err := isType(m, typ, typeSpec{ns: "FHIR", name: base})
	return err == nil && ok
}
