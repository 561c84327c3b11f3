package search

import "strings"

// RefsField is the index field that holds every literal reference of a resource to a resource type the
// registry serves, wherever it occurs (any Reference.reference: nested, in extensions, in contained
// resources), normalised by ReferenceKey: "Patient/1" for "Patient/1" and "Patient/1/_history/2",
// the whole URL (without a _history part) for absolute references such as
// "https://fhir.example.org/fhir/Patient/1". Unlike the s_<param> fields it does not depend on search
// parameters: it answers "which resources reference Patient/1" (referential integrity) whatever element
// holds the reference. Contained references (#x), urn:uuid:/urn:oid: references, conditional references,
// logical references (identifier only) and references to types the registry does not serve are left out.
const RefsField = "_refs"

// ParseReference splits a literal reference into the base it is relative to ("" for a relative
// reference), the resource type and the id; a version (/_history/n) is ignored. ok is false for anything
// else: contained (#x), urn:, conditional (Type?criteria), malformed types or ids.
func ParseReference(ref string) (base, typ, id string, ok bool) {
	ref = ReferenceKey(ref)
	if ref == "" || strings.ContainsAny(ref, "?#") || strings.HasPrefix(ref, "urn:") {
		return "", "", "", false
	}
	i := strings.LastIndexByte(ref, '/')
	if i <= 0 {
		return "", "", "", false
	}
	id = ref[i+1:]
	j := strings.LastIndexByte(ref[:i], '/')
	typ = ref[j+1 : i]
	if j >= 0 {
		base = ref[:j]
		if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
			return "", "", "", false
		}
	}
	if !isID(id) || !isTypeName(typ) {
		return "", "", "", false
	}
	return base, typ, id, true
}

// isTypeName reports a plausible resource type name: an upper-case letter then letters.
func isTypeName(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// localRefs returns the RefsField values of a resource (sorted, without duplicates).
func (r *Registry) localRefs(resource map[string]any) []string {
	var keys []string
	walkReferences(resource, func(ref string) {
		if _, typ, _, ok := ParseReference(ref); ok && r.byType[typ] != nil {
			keys = append(keys, ReferenceKey(ref))
		}
	})
	return dedupe(keys)
}

// walkReferences calls f with the string value of every "reference" member at any depth of v. An array
// named "reference" is not a Reference.reference; its elements are walked as values.
func walkReferences(v any, f func(string)) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if s, ok := x.(string); ok {
				if k == "reference" {
					f(s)
				}
				continue
			}
			walkReferences(x, f)
		}
	case []any:
		for _, x := range t {
			walkReferences(x, f)
		}
	}
}
