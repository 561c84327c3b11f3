package interaction

import (
	"github.com/careflow/careflow/fhir/capability"
	"github.com/careflow/careflow/fhir/search"
)

// typeInteractions are the interactions the service implements for every type.
var typeInteractions = []string{"read", "vread", "update", "delete", "history-instance", "history-type", "create", "search-type", "patch"}

// readOnlyInteractions are those of a read-only type (Config.ReadOnly).
var readOnlyInteractions = []string{"read", "vread", "history-instance", "history-type", "search-type"}

// Capabilities returns the CapabilityStatement (capabilitystatement.html) of the server at base.
func (s *Service) Capabilities(base string) []byte {
	var resources []capability.Resource
	// _revinclude: reference parameters of any served type that can point at each type, in the order of
	// the types and their parameters (one pass: with every R4 type served, looking them up per type cost
	// ~100 ms per request).
	revinclude := map[string][]string{}
	for _, src := range s.cfg.Types {
		for _, p := range s.registry.Params(src) {
			if p.Type != search.TypeReference {
				continue
			}
			for _, t := range p.Target {
				if rs := revinclude[t]; len(rs) == 0 || rs[len(rs)-1] != src+":"+p.Code {
					revinclude[t] = append(rs, src+":"+p.Code)
				}
			}
		}
	}
	for _, t := range s.cfg.Types {
		r := capability.Resource{
			Type:              t,
			Interactions:      typeInteractions,
			ConditionalCreate: true,
			ConditionalUpdate: true,
			ConditionalDelete: "single",
		}
		r.Operations = append(r.Operations, capability.Operation{Name: "validate", Definition: validateOperationURL},
			capability.Operation{Name: "meta", Definition: metaOperationURL})
		if s.readOnly[t] {
			r.Interactions, r.ReadOnly = readOnlyInteractions, true
			r.ConditionalCreate, r.ConditionalUpdate, r.ConditionalDelete = false, false, "not-supported"
		} else {
			r.Operations = append(r.Operations, capability.Operation{Name: "meta-add", Definition: metaAddOperationURL},
				capability.Operation{Name: "meta-delete", Definition: metaDeleteOperationURL})
		}
		switch t {
		case "Patient":
			r.Operations = append(r.Operations, capability.Operation{Name: "everything", Definition: everythingOperationURL})
		case "Encounter":
			r.Operations = append(r.Operations, capability.Operation{Name: "everything", Definition: encounterEverythingOperationURL})
		}
		for _, op := range s.cfg.Operations {
			if d := op.Definition(); d.Resource == t {
				r.Operations = append(r.Operations, capability.Operation{Name: d.Code, Definition: d.URL})
			}
		}
		r.SearchInclude = []string{"*"}
		r.SearchRevInclude = []string{"*"}
		for _, p := range s.registry.Params(t) {
			r.SearchParams = append(r.SearchParams, capability.SearchParam{Name: p.Code, Definition: p.URL, Type: p.Type})
			if p.Type == search.TypeReference {
				r.SearchInclude = append(r.SearchInclude, t+":"+p.Code)
			}
		}
		r.SearchRevInclude = append(r.SearchRevInclude, revinclude[t]...)
		resources = append(resources, r)
	}
	if len(s.cfg.Operations) > 0 {
		// The definitions of the server's own operations, readable at [base]/OperationDefinition/[id].
		resources = append(resources, capability.Resource{Type: "OperationDefinition", Interactions: []string{"read"}, Definitional: true})
	}
	system := []capability.Operation{{Name: "meta", Definition: metaOperationURL}}
	for _, op := range s.cfg.Operations {
		if d := op.Definition(); d.Resource == "" {
			system = append(system, capability.Operation{Name: d.Code, Definition: d.URL})
		}
	}
	doc := capability.Build(capability.Options{
		SystemOperations:  system,
		Compartments:      s.compartments.URLs(),
		Software:          "careflow",
		Version:           s.cfg.Version,
		BaseURL:           base,
		Published:         s.started,
		Resources:         resources,
		SystemInteraction: []string{"transaction", "batch", "history-system", "search-system"},
		OAuth:             s.oauth(),
	})
	return doc
}

// oauth is the security the CapabilityStatement declares: with authorization on, SMART-on-FHIR with the
// authorization server's endpoints when they are known.
func (s *Service) oauth() *capability.OAuth {
	switch {
	case s.cfg.Policy == nil:
		return nil
	case s.cfg.OAuth == nil:
		return &capability.OAuth{}
	}
	return s.cfg.OAuth
}
