// Package model is FHIR R4's element model as the official JSON schema describes it: for every complex type,
// resource and backbone element, the type of each element, whether it repeats, and which elements are choice
// ([x]) alternatives. Validation and FHIRPath evaluation navigate resources with it.
package model

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode"
)

// Element describes one JSON property of a type.
type Element struct {
	Name  string // JSON property name, e.g. "deceasedBoolean"
	Type  string // FHIR type, e.g. "boolean", "HumanName", "Patient_Contact" (backbone), "Resource" (contained)
	Array bool   // the property is a JSON array
	// Choice is the choice element's base name ("deceased") when this property is one alternative of a
	// choice element (deceased[x]); empty otherwise.
	Choice string
	// Enum lists the allowed codes when the schema fixes them (required bindings).
	Enum []string
}

// Type describes one complex type, resource or backbone element.
type Type struct {
	Name     string
	Elements map[string]*Element // by JSON property name (primitive extension "_x" properties excluded)
	// Choices maps a choice base name ("deceased") to its alternatives, sorted by property name.
	Choices map[string][]*Element
}

// Model is the set of types of the schema. It is immutable after Load and safe for concurrent use.
type Model struct {
	types      map[string]*Type
	primitives map[string]bool
}

// Load derives the model from the official fhir.schema.json.
func Load(schema []byte) (*Model, error) {
	var doc struct {
		Definitions map[string]json.RawMessage `json:"definitions"`
	}
	if err := json.Unmarshal(schema, &doc); err != nil {
		return nil, fmt.Errorf("model: parse schema: %w", err)
	}
	type prop struct {
		Ref     string          `json:"$ref"`
		Desc    string          `json:"description"`
		Type    string          `json:"type"`
		Pattern string          `json:"pattern"`
		Enum    []string        `json:"enum"`
		Const   string          `json:"const"`
		Items   *prop           `json:"items"`
		Props   map[string]prop `json:"properties"`
	}
	defs := map[string]prop{}
	for name, raw := range doc.Definitions {
		var p prop
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("model: definition %s: %w", name, err)
		}
		defs[name] = p
	}
	m := &Model{types: map[string]*Type{}, primitives: map[string]bool{}}
	// Primitive types are the definitions without properties (ResourceList aside).
	for name, d := range defs {
		if d.Props == nil && name != "ResourceList" {
			m.primitives[name] = true
		}
	}
	refType := func(ref string) string { return strings.TrimPrefix(ref, "#/definitions/") }
	for name, d := range defs {
		if d.Props == nil {
			continue
		}
		t := &Type{Name: name, Elements: map[string]*Element{}, Choices: map[string][]*Element{}}
		for pname, p := range d.Props {
			if strings.HasPrefix(pname, "_") || p.Const != "" {
				continue
			}
			e := &Element{Name: pname}
			src := p
			if p.Items != nil {
				e.Array = true
				src = *p.Items
			}
			switch {
			case src.Ref != "":
				e.Type = refType(src.Ref)
				if e.Type == "ResourceList" {
					e.Type = "Resource"
				}
			case src.Enum != nil:
				e.Type, e.Enum = "code", src.Enum
			case src.Pattern != "":
				// Inline patterns appear only on choice alternatives (Extension.valueBase64Binary…): the
				// property name ends with the primitive type's name; the longest such name wins
				// (valueDateTime is a dateTime, not a time).
				for prim := range m.primitives {
					if strings.HasSuffix(strings.ToLower(pname), strings.ToLower(prim)) && len(prim) > len(e.Type) {
						e.Type = prim
					}
				}
				if e.Type == "" {
					return nil, fmt.Errorf("model: %s.%s: no primitive type for inline pattern", name, pname)
				}
			default:
				return nil, fmt.Errorf("model: %s.%s: unknown property shape", name, pname)
			}
			t.Elements[pname] = e
		}
		// A choice element's alternatives are named base + TypeName and never repeat; require two or
		// more so that ordinary elements such as birthDate (a date) are not mistaken for one, and skip
		// arrays so that pairs such as CarePlan.activity.outcomeCodeableConcept / outcomeReference are not.
		// The schema describes every alternative of a choice with the choice element's one description,
		// which tells distinct elements sharing a prefix apart (Task.instantiatesCanonical and
		// instantiatesUri, PaymentReconciliation.paymentDate and paymentIdentifier are not choices).
		type group struct{ base, desc string }
		groups := map[group][]*Element{}
		for _, e := range t.Elements {
			if e.Array {
				continue
			}
			if base, ok := choiceBase(e.Name, e.Type); ok {
				g := group{base, d.Props[e.Name].Desc}
				groups[g] = append(groups[g], e)
			}
		}
		for g, alts := range groups {
			base := g.base
			if len(alts) < 2 {
				continue
			}
			sort.Slice(alts, func(i, j int) bool { return alts[i].Name < alts[j].Name })
			for _, e := range alts {
				e.Choice = base
			}
			t.Choices[base] = alts
		}
		m.types[name] = t
	}
	if _, ok := m.types["Patient"]; !ok {
		return nil, fmt.Errorf("model: schema has no Patient definition")
	}
	return m, nil
}

func choiceBase(name, typ string) (string, bool) {
	if typ == "" {
		return "", false
	}
	suffix := string(unicode.ToUpper(rune(typ[0]))) + typ[1:]
	if base, ok := strings.CutSuffix(name, suffix); ok && base != "" {
		return base, true
	}
	return "", false
}

// Type returns a complex type, resource or backbone element by name.
func (m *Model) Type(name string) (*Type, bool) {
	t, ok := m.types[name]
	return t, ok
}

// IsPrimitive reports whether name is a FHIR primitive type (string, date, decimal, …).
func (m *Model) IsPrimitive(name string) bool { return m.primitives[name] }

// IsResource reports whether name is a resource type (a type with a resourceType property in the schema).
func (m *Model) IsResource(name string) bool {
	t, ok := m.types[name]
	if !ok {
		return false
	}
	_, hasMeta := t.Elements["meta"]
	_, hasImplicit := t.Elements["implicitRules"]
	return hasMeta && hasImplicit
}
