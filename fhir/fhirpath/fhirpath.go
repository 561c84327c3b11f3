package fhirpath

import (
	"errors"
	"fmt"

	"github.com/careflow/careflow/fhir/model"
)

// Node is one item of the result collection.
type Node struct {
	// Value is the JSON value: map[string]any for complex types and resources, string, bool or json.Number
	// for primitives (float64 if the resource was decoded without UseNumber). It is nil only for the
	// resource a resolve() of an external reference stands for.
	Value any
	// Type is the FHIR type from the model ("Reference", "Period", "dateTime", "HumanName", "code", a
	// resource type), a FHIRPath system type for literals and computed values ("System.Boolean",
	// "System.String", "System.Integer", "System.Decimal"), or "" if unknown.
	Type string
	// Path is the FHIRPath location of the value, using JSON property names and indexes into arrays, e.g.
	// "Patient.name[0].given[1]" or "Patient.deceasedBoolean". It is "" for computed values (exists(),
	// comparisons, literals); resolve() of an external reference gives "<reference path>.resolve()".
	Path string
}

// item is a Node during evaluation, with the "_name" sibling object of a primitive value (which holds its
// id and extensions) so that .extension works on primitives.
type item struct {
	Node
	ext map[string]any
}

// Expression is a compiled FHIRPath expression; immutable and safe for concurrent use.
type Expression struct {
	src   string
	root  expr
	types []typeSpec // every type specifier, for Check
}

// Compile parses a FHIRPath expression. Syntax errors, unknown functions, wrong argument counts and
// unsupported operators are reported as a *SyntaxError carrying the position of the offending text.
func Compile(expr string) (*Expression, error) {
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	p := &parser{src: expr, toks: toks}
	root, err := p.parseExpr(1)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.errorf(t, "unexpected %s after complete expression", t)
	}
	return &Expression{src: expr, root: root, types: p.types}, nil
}

// MustCompile is like Compile but panics on error; for expressions that are constants of the program.
func MustCompile(expr string) *Expression {
	e, err := Compile(expr)
	if err != nil {
		panic(err)
	}
	return e
}

// String returns the expression's source text.
func (e *Expression) String() string { return e.src }

// Evaluate runs the expression against a resource (root type = resource["resourceType"]). The resource is
// decoded JSON (map[string]any, []any, string, bool, json.Number) and is not modified; result values share
// memory with it. An empty result is a nil slice.
//
// Errors are evaluation errors that FHIRPath defines (a multi-item collection where one item is required)
// and type names the model does not know; the latter are only detected when evaluation reaches them, so
// call Check once after compiling to find them up front.
func (e *Expression) Evaluate(m *model.Model, resource map[string]any) ([]Node, error) {
	if m == nil {
		return nil, errors.New("fhirpath: evaluate: nil model")
	}
	rt, _ := resource["resourceType"].(string)
	if rt == "" {
		return nil, fmt.Errorf("fhirpath: evaluate %q: resource has no resourceType", e.src)
	}
	if !m.IsResource(rt) {
		return nil, fmt.Errorf("fhirpath: evaluate %q: unknown resource type %q", e.src, rt)
	}
	c := &evalCtx{m: m, root: item{Node: Node{Value: resource, Type: rt, Path: rt}}}
	items, err := e.root.eval(c, []item{c.root})
	if err != nil {
		return nil, fmt.Errorf("fhirpath: evaluate %q on %s: %w", e.src, rt, err)
	}
	if len(items) == 0 {
		return nil, nil
	}
	out := make([]Node, len(items))
	for i, it := range items {
		out[i] = it.Node
	}
	return out, nil
}
