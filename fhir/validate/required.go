package validate

import (
	"fmt"
	"strings"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/model"
)

// requirement is one line of definitions.RequiredElements, resolved against the element model.
type requirement struct {
	name string           // JSON property name, or choice base name + "[x]"
	ext  string           // "_" + name: a primitive present with extensions only
	alts []*model.Element // choice alternatives
}

// loadRequirements resolves definitions.RequiredElements (the mandatory primitive and choice elements
// of the official StructureDefinitions, which the schema cannot require) against the element model, by the model type that holds them
// (backbone elements have their own types, such as CarePlan_Detail).
func loadRequirements(m *model.Model) (map[*model.Type][]requirement, error) {
	out := map[*model.Type][]requirement{}
	for _, path := range strings.Fields(definitions.RequiredElements) {
		segs := strings.Split(path, ".")
		t, ok := m.Type(segs[0])
		for _, seg := range segs[1 : len(segs)-1] {
			if !ok {
				break
			}
			e := t.Elements[seg]
			if e == nil {
				ok = false
				break
			}
			t, ok = m.Type(e.Type)
		}
		if !ok {
			return nil, fmt.Errorf("required element %s: no such element in the model", path)
		}
		last := segs[len(segs)-1]
		r := requirement{name: last, ext: "_" + last}
		if base, isChoice := strings.CutSuffix(last, "[x]"); isChoice {
			r.alts = t.Choices[base]
			if len(r.alts) == 0 {
				return nil, fmt.Errorf("required element %s: %s is not a choice element in the model", path, last)
			}
		} else if t.Elements[last] == nil {
			return nil, fmt.Errorf("required element %s: no such element in the model", path)
		}
		out[t] = append(out[t], r)
	}
	return out, nil
}

// present reports whether obj has the required element.
func (r *requirement) present(obj map[string]any) bool {
	if r.alts == nil {
		_, ok := obj[r.name]
		if !ok {
			_, ok = obj[r.ext]
		}
		return ok
	}
	for _, e := range r.alts {
		if _, ok := obj[e.Name]; ok {
			return true
		}
		if _, ok := obj["_"+e.Name]; ok {
			return true
		}
	}
	return false
}

// describe names what is missing for diagnostics.
func (r *requirement) describe() string {
	if r.alts == nil {
		return "required element " + quote(r.name) + " is missing"
	}
	names := make([]string, len(r.alts))
	for i, e := range r.alts {
		names[i] = e.Name
	}
	return "required element " + quote(r.name) + " is missing (give one of " + shortList(names, 8) + ")"
}
