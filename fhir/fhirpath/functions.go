package fhirpath

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// function describes a supported FHIRPath function.
type function struct {
	name             string
	minArgs, maxArgs int
	typeArg          bool // the single argument is a type specifier (is, as, ofType)
	call             func(c *evalCtx, s *callStep, input, this []item) ([]item, error)
}

// lookupFunction returns the function called name. Each call returns a fresh value, so compiled
// expressions share no mutable state.
func lookupFunction(name string) (*function, bool) {
	f := &function{name: name}
	switch name {
	case "empty":
		f.call = func(_ *evalCtx, _ *callStep, in, _ []item) ([]item, error) { return boolResult(len(in) == 0), nil }
	case "exists":
		f.maxArgs = 1
		f.call = fnExists
	case "all":
		f.minArgs, f.maxArgs = 1, 1
		f.call = fnAll
	case "where":
		f.minArgs, f.maxArgs = 1, 1
		f.call = fnWhere
	case "select":
		f.minArgs, f.maxArgs = 1, 1
		f.call = fnSelect
	case "first":
		f.call = func(_ *evalCtx, _ *callStep, in, _ []item) ([]item, error) { return firstN(in, 1), nil }
	case "last":
		f.call = func(_ *evalCtx, _ *callStep, in, _ []item) ([]item, error) {
			if len(in) == 0 {
				return nil, nil
			}
			return in[len(in)-1 : len(in) : len(in)], nil
		}
	case "tail":
		f.call = func(_ *evalCtx, _ *callStep, in, _ []item) ([]item, error) {
			if len(in) < 2 {
				return nil, nil
			}
			return in[1:len(in):len(in)], nil
		}
	case "count":
		f.call = func(_ *evalCtx, _ *callStep, in, _ []item) ([]item, error) {
			return []item{{Node: Node{Value: json.Number(strconv.Itoa(len(in))), Type: typeSystemInteger}}}, nil
		}
	case "not":
		f.call = fnNot
	case "hasValue":
		f.call = fnHasValue
	case "resolve":
		f.call = fnResolve
	case "extension":
		f.minArgs, f.maxArgs = 1, 1
		f.call = fnExtension
	case "ofType", "as":
		f.minArgs, f.maxArgs, f.typeArg = 1, 1, true
		f.call = func(c *evalCtx, s *callStep, in, _ []item) ([]item, error) { return ofType(c, in, s.spec) }
	case "is":
		f.minArgs, f.maxArgs, f.typeArg = 1, 1, true
		f.call = func(c *evalCtx, s *callStep, in, _ []item) ([]item, error) { return isOp(c, in, s.spec, s.text) }
	default:
		return nil, false
	}
	return f, true
}

func firstN(in []item, n int) []item {
	if len(in) < n {
		return in
	}
	return in[:n:n]
}

// criterion evaluates a where/exists/all criteria argument for one input item ($this = it) and converts
// the result to a boolean; empty counts as false.
func criterion(c *evalCtx, arg expr, it item) (bool, error) {
	res, err := arg.eval(c, []item{it})
	if err != nil {
		return false, err
	}
	v, ok, err := singletonBool(res)
	if err != nil {
		return false, fmt.Errorf("criteria on %s: %w", describe(it), err)
	}
	return ok && v, nil
}

func fnWhere(c *evalCtx, s *callStep, in, _ []item) ([]item, error) {
	var out []item
	for _, it := range in {
		ok, err := criterion(c, s.args[0], it)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, it)
		}
	}
	return out, nil
}

func fnExists(c *evalCtx, s *callStep, in, this []item) ([]item, error) {
	if len(s.args) == 0 {
		return boolResult(len(in) > 0), nil
	}
	for _, it := range in {
		ok, err := criterion(c, s.args[0], it)
		if err != nil {
			return nil, err
		}
		if ok {
			return boolResult(true), nil
		}
	}
	return boolResult(false), nil
}

func fnAll(c *evalCtx, s *callStep, in, _ []item) ([]item, error) {
	for _, it := range in {
		ok, err := criterion(c, s.args[0], it)
		if err != nil {
			return nil, err
		}
		if !ok {
			return boolResult(false), nil
		}
	}
	return boolResult(true), nil
}

func fnSelect(c *evalCtx, s *callStep, in, _ []item) ([]item, error) {
	var out []item
	for _, it := range in {
		res, err := s.args[0].eval(c, []item{it})
		if err != nil {
			return nil, err
		}
		out = append(out, res...)
	}
	return out, nil
}

func fnNot(_ *evalCtx, _ *callStep, in, _ []item) ([]item, error) {
	v, ok, err := singletonBool(in)
	if err != nil || !ok {
		return nil, err
	}
	return boolResult(!v), nil
}

// fnHasValue is true for a single primitive value. Primitives without a value never become items, so
// this is "one item that is not a complex value".
func fnHasValue(_ *evalCtx, _ *callStep, in, _ []item) ([]item, error) {
	if len(in) != 1 {
		return boolResult(false), nil
	}
	switch in[0].Value.(type) {
	case map[string]any, nil:
		return boolResult(false), nil
	}
	return boolResult(true), nil
}

// fnExtension implements extension(url): the extensions of each input item whose url equals the argument,
// which is evaluated against $this of the enclosing expression and must be a single string.
func fnExtension(c *evalCtx, s *callStep, in, this []item) ([]item, error) {
	arg, err := s.args[0].eval(c, this)
	if err != nil {
		return nil, err
	}
	if len(arg) != 1 {
		return nil, fmt.Errorf("url: expected a single string, got %d items", len(arg))
	}
	url, ok := arg[0].Value.(string)
	if !ok {
		return nil, fmt.Errorf("url: expected a string, got %T", arg[0].Value)
	}
	var out []item
	for _, it := range in {
		for _, ext := range c.children(nil, it, "extension") {
			if obj, ok := ext.Value.(map[string]any); ok && obj["url"] == url {
				out = append(out, ext)
			}
		}
	}
	return out, nil
}

func describe(it item) string {
	if it.Path != "" {
		return it.Path
	}
	return fmt.Sprintf("%v", it.Value)
}
