package search

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Compartment restricts a search to the resources in one compartment instance (Patient/123): those whose
// compartment parameters refer to it, and the compartment's own resource when searching its type.
type Compartment struct {
	Type, ID string
	Params   []*Param // reference parameters of the searched type that link it to the compartment
	Self     bool     // the searched type is the compartment type: the resource itself belongs
	// Within, when set, is another compartment the resources must also be in: the confining patient's,
	// for a search of another compartment (Practitioner/x/Observation) under patient/ scopes.
	Within *Compartment
}

// Compartments holds the official CompartmentDefinitions careflow serves (Patient, Practitioner,
// RelatedPerson, Encounter, Device: fhir/definitions.Compartments).
type Compartments struct {
	// byType maps compartment type → member resource type → parameter codes.
	byType map[string]map[string][]string
	urls   []string // the definitions' canonical URLs, in order
	r      *Registry
}

// NewCompartments loads official CompartmentDefinition resources (fhir/definitions.Compartments). A member
// type's parameters are ORed (compartmentdefinition.html); the parameter "{def}" marks the compartment's own
// type, which is a member by its id alone. A parameter the registry does not know is an error: a compartment
// that silently lost a link would hide resources from compartment searches and confine them wrongly.
func (r *Registry) NewCompartments(definitions ...[]byte) (*Compartments, error) {
	c := &Compartments{byType: map[string]map[string][]string{}, r: r}
	for _, data := range definitions {
		var def struct {
			URL      string `json:"url"`
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
			if _, served := r.byType[res.Code]; !served || len(res.Param) == 0 {
				continue
			}
			for _, code := range res.Param {
				if _, ok := r.Lookup(res.Code, code); !ok && code != selfParam {
					return nil, fmt.Errorf("search: CompartmentDefinition %s: %s has no search parameter %q", def.Code, res.Code, code)
				}
			}
			members[res.Code] = res.Param
		}
		c.byType[def.Code] = members
		c.urls = append(c.urls, def.URL)
	}
	return c, nil
}

// selfParam is the parameter code CompartmentDefinitions give the compartment's own type.
const selfParam = "{def}"

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

// Members returns, in the order of types, those that are members of compartment.
func (c *Compartments) Members(compartment string, types []string) []string {
	var out []string
	for _, t := range types {
		if _, ok := c.byType[compartment][t]; ok {
			out = append(out, t)
		}
	}
	return out
}

// URLs returns the canonical URLs of the CompartmentDefinitions, in the order they were loaded.
func (c *Compartments) URLs() []string { return slices.Clone(c.urls) }

// Has reports whether compartment is a known compartment type.
func (c *Compartments) Has(compartment string) bool {
	_, ok := c.byType[compartment]
	return ok
}
