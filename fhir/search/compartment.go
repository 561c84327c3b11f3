package search

import (
	"encoding/json"
	"fmt"
)

// Compartment restricts a search to the resources in one compartment instance (Patient/123): those whose
// compartment parameters refer to it, and the compartment's own resource when searching its type.
type Compartment struct {
	Type, ID string
	Params   []*Param // reference parameters of the searched type that link it to the compartment
	Self     bool     // the searched type is the compartment type: the resource itself belongs
}

// Compartments holds the official CompartmentDefinitions careflow serves (the Patient compartment).
type Compartments struct {
	// byType maps compartment type → member resource type → parameter codes.
	byType map[string]map[string][]string
	r      *Registry
}

// NewCompartments loads official CompartmentDefinition resources (fhir/definitions.PatientCompartment).
func (r *Registry) NewCompartments(definitions ...[]byte) (*Compartments, error) {
	c := &Compartments{byType: map[string]map[string][]string{}, r: r}
	for _, data := range definitions {
		var def struct {
			Code     string `json:"code"`
			Resource []struct {
				Code  string   `json:"code"`
				Param []string `json:"param"`
			} `json:"resource"`
		}
		if err := json.Unmarshal(data, &def); err != nil {
			return nil, fmt.Errorf("search: CompartmentDefinition: %w", err)
		}
		members := map[string][]string{}
		for _, res := range def.Resource {
			if _, served := r.byType[res.Code]; served && len(res.Param) > 0 {
				members[res.Code] = res.Param
			}
		}
		c.byType[def.Code] = members
	}
	return c, nil
}

// Lookup returns the compartment restriction for searching typ inside compartment/id; ok is false when
// the compartment is unknown or typ is not a member of it.
func (c *Compartments) Lookup(compartment, id, typ string) (*Compartment, bool) {
	members, ok := c.byType[compartment]
	if !ok {
		return nil, false
	}
	codes, ok := members[typ]
	if !ok {
		return nil, false
	}
	out := &Compartment{Type: compartment, ID: id, Self: typ == compartment}
	for _, code := range codes {
		if p, ok := c.r.Lookup(typ, code); ok {
			out.Params = append(out.Params, p)
		}
	}
	return out, true
}

// Has reports whether compartment is a known compartment type.
func (c *Compartments) Has(compartment string) bool {
	_, ok := c.byType[compartment]
	return ok
}
