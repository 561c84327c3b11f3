package fhirpath

import (
	"strconv"
	"strings"
)

// fnResolve implements resolve() without fetching anything, which is all search parameter expressions need
// (resolve() is Patient). For each Reference (or canonical/uri string) of the input:
//
//   - "#id" yields the contained resource with that id (with its value and location), "#" the resource
//     itself;
//   - "Type/id", "Type/id/_history/v" and absolute URLs ending in one of those yield a node of type Type
//     with a nil Value and the path "<reference path>.resolve()", provided Type is a resource type of the
//     model and id a valid FHIR id;
//   - otherwise (urn:uuid:…, urn:oid:…, a reference with only an identifier) the Reference's type element,
//     when it names a resource type, gives the type of such a node; else the reference is unresolvable and
//     yields nothing, so `resolve() is Patient` is empty (false in where()).
func fnResolve(c *evalCtx, _ *callStep, in, _ []item) ([]item, error) {
	var out []item
	for _, it := range in {
		var ref, hint string
		switch v := it.Value.(type) {
		case map[string]any:
			ref, _ = v["reference"].(string)
			hint, _ = v["type"].(string)
		case string:
			ref = v
		}
		if id, ok := strings.CutPrefix(ref, "#"); ok {
			if target, ok := c.contained(id); ok {
				out = append(out, target)
			}
			continue
		}
		typ := referenceType(ref)
		if typ == "" || !c.m.IsResource(typ) {
			typ = hint
		}
		if typ != "" && c.m.IsResource(typ) {
			out = append(out, item{Node: Node{Type: typ, Path: it.Path + ".resolve()"}})
		}
	}
	return out, nil
}

// contained finds the resource a local reference "#id" points to: the contained resource with that id, or
// the containing resource itself for "#".
func (c *evalCtx) contained(id string) (item, bool) {
	if id == "" {
		return c.root, true
	}
	root, _ := c.root.Value.(map[string]any)
	list, _ := root["contained"].([]any)
	for i, r := range list {
		res, ok := r.(map[string]any)
		if !ok || res["id"] != id {
			continue
		}
		typ, _ := res["resourceType"].(string)
		return item{Node: Node{Value: res, Type: typ, Path: c.root.Path + ".contained[" + strconv.Itoa(i) + "]"}}, true
	}
	return item{}, false
}

// referenceType returns the resource type named by a literal reference — "Patient/1",
// "Patient/1/_history/2", "https://example.org/fhir/Patient/1" — or "" if ref does not have that shape. The
// caller checks that the type is known.
func referenceType(ref string) string {
	if i := strings.IndexAny(ref, "?#"); i >= 0 {
		ref = ref[:i]
	}
	segs := strings.Split(ref, "/")
	n := len(segs)
	if n >= 4 && segs[n-2] == "_history" {
		segs, n = segs[:n-2], n-2
	}
	if n < 2 || !isFHIRID(segs[n-1]) {
		return ""
	}
	typ := segs[n-2]
	if typ == "" || typ[0] < 'A' || typ[0] > 'Z' {
		return ""
	}
	return typ
}

// isFHIRID reports whether s matches the FHIR id type: [A-Za-z0-9\-\.]{1,64}.
func isFHIRID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
