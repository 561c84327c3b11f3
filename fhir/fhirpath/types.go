package fhirpath

import (
	"fmt"
	"strings"

	"github.com/careflow/careflow/fhir/model"
)

// Types of values that do not come from a resource element (literals, function results). FHIR values are
// typed with their FHIR type name from the model ("string", "dateTime", "HumanName"); system values with
// the FHIRPath system type, qualified so that they cannot be mistaken for a FHIR type.
const (
	typeSystemString  = "System.String"
	typeSystemBoolean = "System.Boolean"
	typeSystemInteger = "System.Integer"
	typeSystemDecimal = "System.Decimal"
)

// typeSpec is a type specifier as written: Patient, FHIR.Quantity, System.String.
type typeSpec struct {
	ns   string // "FHIR", "System", or "" when unqualified
	name string
	pos  int // byte offset in the source
}

func (s typeSpec) String() string {
	if s.ns == "" {
		return s.name
	}
	return s.ns + "." + s.name
}

// isSystemType reports whether name is a type of FHIRPath's System namespace.
func isSystemType(name string) bool {
	switch name {
	case "Any", "Boolean", "String", "Integer", "Decimal", "Date", "DateTime", "Time", "Quantity":
		return true
	}
	return false
}

// isFHIRType reports whether name is a FHIR type: a resource, data type or primitive type of the model, or
// one of the abstract or profiled types the JSON schema does not define (Resource, DomainResource,
// BackboneElement, SimpleQuantity, MoneyQuantity). Backbone element names of the model ("Patient_Contact")
// are not FHIR type names.
func isFHIRType(m *model.Model, name string) bool {
	switch name {
	case "Resource", "DomainResource", "BackboneElement", "SimpleQuantity", "MoneyQuantity":
		return true
	}
	if m.IsPrimitive(name) {
		return true
	}
	_, ok := m.Type(name)
	return ok && !strings.Contains(name, "_")
}

// namespace resolves the namespace of s against the model: an unqualified name is a FHIR type if the model
// knows it, else a System type (so Quantity is FHIR.Quantity and String is System.String).
func namespace(m *model.Model, s typeSpec) (string, error) {
	switch s.ns {
	case "FHIR":
		if isFHIRType(m, s.name) {
			return "FHIR", nil
		}
	case "System":
		if isSystemType(s.name) {
			return "System", nil
		}
	default:
		if isFHIRType(m, s.name) {
			return "FHIR", nil
		}
		if isSystemType(s.name) {
			return "System", nil
		}
	}
	return "", fmt.Errorf("unknown type %s", s)
}

// fhirBase returns the FHIR type that name specialises, or "" at the top of the hierarchy (Resource,
// Element) or for unknown names. The JSON schema has no inheritance, so the hierarchy is derived from the
// FHIR specification's fixed rules: resources with narrative are DomainResources; non-resource types with
// modifierExtension are BackboneElements; the Quantity profiles and the string, uri and integer
// specialisations are listed.
func fhirBase(m *model.Model, name string) string {
	switch name {
	case "Resource", "Element", "":
		return ""
	case "DomainResource":
		return "Resource"
	case "BackboneElement":
		return "Element"
	case "code", "id", "markdown":
		return "string"
	case "url", "canonical", "oid", "uuid":
		return "uri"
	case "positiveInt", "unsignedInt":
		return "integer"
	case "Age", "Count", "Distance", "Duration", "MoneyQuantity", "SimpleQuantity":
		return "Quantity"
	}
	if m.IsPrimitive(name) {
		return "Element"
	}
	t, ok := m.Type(name)
	if !ok {
		return ""
	}
	if m.IsResource(name) {
		if _, hasText := t.Elements["text"]; hasText {
			return "DomainResource"
		}
		return "Resource"
	}
	if _, ok := t.Elements["modifierExtension"]; ok {
		return "BackboneElement"
	}
	return "Element"
}

// isType reports whether a value of type nodeType is of the type s (or a specialisation of it). FHIR and
// System types are distinct: a FHIR string is not a System.String (FHIRPath §Models); literals and function
// results have System types.
func isType(m *model.Model, nodeType string, s typeSpec) (bool, error) {
	if nodeType == s.name && s.ns != "System" && !strings.HasPrefix(nodeType, "System.") && nodeType != "" {
		// Fast path: FHIR node types come from the model, so the name is a known FHIR type.
		return true, nil
	}
	ns, err := namespace(m, s)
	if err != nil {
		return false, err
	}
	if ns == "System" {
		if s.name == "Any" {
			// System.Any is the root of every type, FHIR types included.
			return nodeType != "", nil
		}
		name, ok := strings.CutPrefix(nodeType, "System.")
		return ok && name == s.name, nil
	}
	if !hasSpecialisations(s.name) || strings.HasPrefix(nodeType, "System.") {
		return false, nil
	}
	for t := fhirBase(m, nodeType); t != ""; t = fhirBase(m, t) {
		if t == s.name {
			return true, nil
		}
	}
	return false, nil
}

// hasSpecialisations reports whether any FHIR type specialises name (per fhirBase); other types only
// match themselves.
func hasSpecialisations(name string) bool {
	switch name {
	case "Resource", "DomainResource", "Element", "BackboneElement", "string", "uri", "integer", "Quantity":
		return true
	}
	return false
}
