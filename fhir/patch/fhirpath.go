package patch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/careflow/careflow/fhir/fhirpath"
	"github.com/careflow/careflow/fhir/model"
	"github.com/careflow/careflow/fhir/outcome"
)

// FHIRPath Patch (http://hl7.org/fhir/R4/fhirpatch.html): a Parameters resource whose parameters named
// "operation" each describe one change (add, insert, delete, replace, move) at elements selected by a
// FHIRPath expression. Operations apply in order to the result of the previous ones; the patch applies
// entirely or not at all.

// maxOperations bounds the operations of one FHIRPath Patch (each evaluates its path over the resource).
const maxOperations = 1000

// operation is one parsed "operation" parameter.
type operation struct {
	where string // Parameters.parameter[i], for messages
	kind  string // add, insert, delete, replace, move
	path  *fhirpath.Expression
	name  string
	value *opValue
	// index (insert), source and destination (move); -1 when absent.
	index, source, destination int
}

// opValue is the value of an add, insert or replace, as the Parameters document gives it.
type opValue struct {
	typ   string // FHIR type named by value[x] (date, HumanName) or the resourceType of a resource; "" for parts
	val   any    // tree of the value[x] or resource
	ext   any    // tree of the _value[x] sibling (id and extensions of a primitive), or nil
	parts []namedValue
	// resource is set when the value is a resource (the "resource" of a part): contained resources.
	resource bool
}

// namedValue is one part of a value given as parts: an element of an anonymous (backbone) type.
type namedValue struct {
	name  string
	value *opValue
	where string
}

// ApplyFHIRPath applies a FHIRPath Patch document (a Parameters resource, JSON) to a resource. A malformed
// document (not a Parameters resource, unknown operation type, missing or unexpected parts, a path that
// is not valid FHIRPath) is a 400; a patch that cannot be applied to this resource (a path that does not
// select exactly one element, an index out of range, a value of the wrong type for its element) is a 422,
// like JSON Patch. Untouched content keeps its bytes and member order; new members are appended to their
// object (a primitive's "_name" sibling right after it).
func ApplyFHIRPath(m *model.Model, resource, doc []byte) ([]byte, error) {
	ops, err := parseFHIRPathPatch(m, doc)
	if err != nil {
		return nil, err
	}
	root, err := parseTree(resource)
	if err != nil {
		return nil, fmt.Errorf("fhirpath patch: parse the resource: %w", err)
	}
	if _, ok := root.(*object); !ok {
		return nil, fmt.Errorf("fhirpath patch: the resource is not a JSON object")
	}
	for _, op := range ops {
		if err := op.apply(m, root); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	encodeTree(&buf, root)
	return buf.Bytes(), nil
}

// IsFHIRPathPatch reports whether a JSON body is a Parameters resource (and so a FHIRPath Patch).
func IsFHIRPathPatch(body []byte) bool {
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	return json.Unmarshal(body, &head) == nil && head.ResourceType == "Parameters"
}

func bad(where, format string, args ...any) error {
	return outcome.At(http.StatusBadRequest, outcome.CodeInvalid, where, "FHIRPath Patch: "+format, args...)
}

// parseFHIRPathPatch parses and checks a FHIRPath Patch document.
func parseFHIRPathPatch(m *model.Model, doc []byte) ([]*operation, error) {
	tree, err := parseTree(doc)
	if err != nil {
		return nil, outcome.New(http.StatusBadRequest, outcome.CodeStructure, "FHIRPath Patch: the Parameters resource is not valid JSON: %v", err)
	}
	params, ok := tree.(*object)
	if !ok {
		return nil, bad("Parameters", "the body must be a Parameters resource (a JSON object)")
	}
	if rt, _ := params.get("resourceType"); !isString(rt, "Parameters") {
		return nil, bad("Parameters", "the body must be a Parameters resource (resourceType \"Parameters\")")
	}
	list, present := params.get("parameter")
	if !present {
		return nil, nil
	}
	arr, ok := list.(*array)
	if !ok {
		return nil, bad("Parameters.parameter", "parameter must be an array")
	}
	if len(arr.items) > maxOperations {
		return nil, outcome.At(http.StatusBadRequest, outcome.CodeTooCostly, "Parameters.parameter", "FHIRPath Patch: %d operations; at most %d are accepted", len(arr.items), maxOperations)
	}
	ops := make([]*operation, 0, len(arr.items))
	for i, p := range arr.items {
		op, err := parseOperation(m, "Parameters.parameter["+strconv.Itoa(i)+"]", p)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// required and allowed parts of each operation type (fhirpatch.html, Operations table).
var opParts = map[string]struct{ required, optional []string }{
	"add":     {required: []string{"path", "name", "value"}},
	"insert":  {required: []string{"path", "value", "index"}},
	"delete":  {required: []string{"path"}},
	"replace": {required: []string{"path", "value"}},
	"move":    {required: []string{"path", "source", "destination"}},
}

func parseOperation(m *model.Model, where string, p any) (*operation, error) {
	obj, ok := p.(*object)
	if !ok {
		return nil, bad(where, "a parameter must be an object")
	}
	if name, _ := obj.get("name"); !isString(name, "operation") {
		return nil, bad(where+".name", "every parameter must be named \"operation\"")
	}
	for _, mb := range obj.members {
		if strings.HasPrefix(mb.key, "value") || mb.key == "resource" {
			return nil, bad(where, "an operation has parts, not a %s", mb.key)
		}
	}
	partsV, _ := obj.get("part")
	partsA, ok := partsV.(*array)
	if !ok {
		return nil, bad(where+".part", "an operation needs its parts (type, path, …)")
	}
	parts := map[string]*object{}
	partAt := map[string]string{}
	for j, pv := range partsA.items {
		pw := where + ".part[" + strconv.Itoa(j) + "]"
		part, ok := pv.(*object)
		if !ok {
			return nil, bad(pw, "a part must be an object")
		}
		nv, _ := part.get("name")
		name, ok := rawString(nv)
		if !ok {
			return nil, bad(pw+".name", "a part needs a name")
		}
		switch name {
		case "type", "path", "name", "value", "index", "source", "destination":
		default:
			return nil, bad(pw+".name", "unknown part %q (expected type, path, name, value, index, source or destination)", name)
		}
		if _, dup := parts[name]; dup {
			return nil, bad(pw, "part %q is given twice", name)
		}
		parts[name], partAt[name] = part, pw
	}
	op := &operation{where: where, index: -1, source: -1, destination: -1}
	if parts["type"] == nil {
		return nil, bad(where, "the operation has no type part")
	}
	kind, err := stringPart(parts["type"], "valueCode", partAt["type"])
	if err != nil {
		return nil, err
	}
	spec, known := opParts[kind]
	if !known {
		return nil, outcome.At(http.StatusBadRequest, outcome.CodeNotSupported, partAt["type"]+".valueCode",
			"FHIRPath Patch: unknown operation type %q (expected add, insert, delete, replace or move)", kind)
	}
	op.kind = kind
	for _, r := range spec.required {
		if parts[r] == nil {
			return nil, bad(where, "a %s operation needs a %s part", kind, r)
		}
	}
	for name, pw := range partAt {
		if name != "type" && !contains(spec.required, name) {
			return nil, bad(pw, "a %s operation takes no %s part", kind, name)
		}
	}
	src, err := stringPart(parts["path"], "valueString", partAt["path"])
	if err != nil {
		return nil, err
	}
	if op.path, err = fhirpath.Compile(src); err != nil {
		return nil, bad(partAt["path"]+".valueString", "path %q is not a valid FHIRPath expression: %v", src, err)
	}
	if parts["name"] != nil {
		if op.name, err = stringPart(parts["name"], "valueString", partAt["name"]); err != nil {
			return nil, err
		}
	}
	if parts["value"] != nil {
		if op.value, err = parseValuePart(m, parts["value"], partAt["value"], 0); err != nil {
			return nil, err
		}
	}
	for _, n := range []struct {
		name string
		dst  *int
	}{{"index", &op.index}, {"source", &op.source}, {"destination", &op.destination}} {
		if parts[n.name] != nil {
			if *n.dst, err = intPart(parts[n.name], partAt[n.name]); err != nil {
				return nil, err
			}
		}
	}
	return op, nil
}

// stringPart returns the string in the part's valueKey (valueString, valueCode).
func stringPart(part *object, valueKey, where string) (string, error) {
	v, _ := part.get(valueKey)
	s, ok := rawString(v)
	if !ok || strings.TrimSpace(s) == "" {
		return "", bad(where, "the part needs a non-empty %s", valueKey)
	}
	return s, nil
}

// intPart returns the non-negative valueInteger of a part.
func intPart(part *object, where string) (int, error) {
	v, _ := part.get("valueInteger")
	r, ok := v.(json.RawMessage)
	n, err := strconv.Atoi(string(r))
	if !ok || err != nil || n < 0 {
		return 0, bad(where, "the part needs a valueInteger of 0 or more")
	}
	return n, nil
}

// maxValueDepth bounds the nesting of values given as parts.
const maxValueDepth = 32

// parseValuePart reads a value: exactly one of value[x] (with its _value[x] sibling for primitives),
// resource, or part (the elements of an anonymous type, each a part named after the element).
func parseValuePart(m *model.Model, part *object, where string, depth int) (*opValue, error) {
	if depth > maxValueDepth {
		return nil, bad(where, "values nest deeper than %d levels", maxValueDepth)
	}
	var found []string
	v := &opValue{}
	for _, mb := range part.members {
		switch {
		case mb.key == "name" || mb.key == "id" || mb.key == "extension" || mb.key == "modifierExtension":
		case strings.HasPrefix(mb.key, "_value"):
			if _, ok := part.get(mb.key[1:]); !ok {
				return nil, bad(where, "%s without %s", mb.key, mb.key[1:])
			}
		case strings.HasPrefix(mb.key, "value") && len(mb.key) > len("value"):
			found = append(found, mb.key)
			typ, ok := valueType(m, mb.key[len("value"):])
			if !ok {
				return nil, bad(where+"."+mb.key, "%s names no FHIR data type", mb.key)
			}
			v.typ, v.val = typ, mb.val
			if ext, ok := part.get("_" + mb.key); ok {
				v.ext = ext
			}
		case mb.key == "resource":
			found = append(found, mb.key)
			obj, ok := mb.val.(*object)
			rt, _ := obj.get("resourceType")
			typ, isStr := rawString(rt)
			if !ok || !isStr || !m.IsResource(typ) {
				return nil, bad(where+".resource", "resource must be a resource with a known resourceType")
			}
			v.typ, v.val, v.resource = typ, mb.val, true
		case mb.key == "part":
			found = append(found, mb.key)
			arr, ok := mb.val.(*array)
			if !ok || len(arr.items) == 0 {
				return nil, bad(where+".part", "part must be a non-empty array")
			}
			for j, pv := range arr.items {
				pw := where + ".part[" + strconv.Itoa(j) + "]"
				sub, ok := pv.(*object)
				if !ok {
					return nil, bad(pw, "a part must be an object")
				}
				nv, _ := sub.get("name")
				name, ok := rawString(nv)
				if !ok || name == "" {
					return nil, bad(pw+".name", "a part of a value needs the name of the element it gives")
				}
				val, err := parseValuePart(m, sub, pw, depth+1)
				if err != nil {
					return nil, err
				}
				v.parts = append(v.parts, namedValue{name: name, value: val, where: pw})
			}
		default:
			return nil, bad(where, "unexpected property %q in a part", mb.key)
		}
	}
	switch {
	case len(found) == 0:
		return nil, bad(where, "the value is missing: give a value[x], a resource, or parts")
	case len(found) > 1:
		return nil, bad(where, "a part has one value; found %s", strings.Join(found, " and "))
	}
	if v.parts == nil && isNull(v.val) {
		return nil, bad(where, "%s is null", found[0])
	}
	return v, nil
}

// valueType returns the FHIR data type a value[x] suffix names: Date → date, HumanName → HumanName.
// Backbone elements and resources are not data types.
func valueType(m *model.Model, suffix string) (string, bool) {
	if suffix == "" {
		return "", false
	}
	if prim := strings.ToLower(suffix[:1]) + suffix[1:]; m.IsPrimitive(prim) {
		return prim, true
	}
	if _, ok := m.Type(suffix); ok && !strings.Contains(suffix, "_") && !m.IsResource(suffix) && suffix[0] >= 'A' && suffix[0] <= 'Z' {
		return suffix, true
	}
	return "", false
}

func isString(v any, want string) bool {
	s, ok := rawString(v)
	return ok && s == want
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
