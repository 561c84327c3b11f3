// Package r4 loads careflow's FHIR R4 definitions — the element model, the search registry with the official
// compartments, and the validator — once per process, for the server, the tools and the tests.
//
// It is a pure FHIR package: it imports fhir/definitions and the libraries built from them, never storage or
// HTTP.
package r4

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/model"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/fhir/validate"
)

// R4 is the loaded definitions of the served types (definitions.ResourceTypes). Every field is immutable and
// safe for concurrent use.
type R4 struct {
	Model *model.Model
	// Registry holds the search parameters of the served types.
	Registry *search.Registry
	// Compartments are the official compartments (definitions.Compartments: Patient, Practitioner,
	// RelatedPerson, Encounter, Device) over Registry.
	Compartments *search.Compartments

	validator func() (*validate.Validator, error)
}

// Validator returns the validator of the served types. It is compiled from the JSON schema on the first call
// (about a second, most of the cost of the definitions, so callers that never validate do not pay it) and
// shared afterwards.
func (d *R4) Validator() (*validate.Validator, error) { return d.validator() }

// load builds the definitions on the first call and returns the same ones afterwards.
var load = sync.OnceValues(build)

// Load returns the definitions, built on the first call and shared afterwards.
func Load() (*R4, error) { return load() }

func build() (*R4, error) {
	m, err := model.Load(definitions.Schema)
	if err != nil {
		return nil, fmt.Errorf("load FHIR R4 model: %w", err)
	}
	params, err := servedParameters(definitions.SearchParameters)
	if err != nil {
		return nil, fmt.Errorf("FHIR R4 search parameters: %w", err)
	}
	reg, err := search.NewRegistry(m, params, definitions.ResourceTypes)
	if err != nil {
		return nil, fmt.Errorf("FHIR R4 search registry: %w", err)
	}
	comps, err := reg.NewCompartments(definitions.Compartments()...)
	if err != nil {
		return nil, fmt.Errorf("FHIR R4 compartments: %w", err)
	}
	return &R4{
		Model: m, Registry: reg, Compartments: comps,
		validator: sync.OnceValues(func() (*validate.Validator, error) {
			v, err := validate.New(m)
			if err != nil {
				return nil, fmt.Errorf("FHIR R4 validator: %w", err)
			}
			return v, nil
		}),
	}, nil
}

// indexedOnly restricts types to some of their official search parameters: the others are left out of the
// registry, so they are neither indexed (no index rows written) nor accepted in searches, and the
// CapabilityStatement does not list them. AuditEvent: careflow stores one for every API access, and every
// parameter costs index rows written with it (docs/SECURITY.md, "Audit"); it keeps those issue 12 requires
// (patient, agent, date, action, outcome) and those an access review uses (altid: the user; subtype: the
// interaction; entity, entity-role: the resource or query; address: the client's network address; policy:
// the token, by its jti).
func indexedOnly(typ string) ([]string, bool) {
	if typ == "AuditEvent" {
		return []string{"action", "address", "agent", "altid", "date", "entity", "entity-role", "outcome", "patient", "policy", "subtype"}, true
	}
	return nil, false
}

// servedParameters returns the SearchParameter Bundle without the parameters indexedOnly leaves out (a
// parameter is left out only when every one of its bases is restricted and none keeps it).
func servedParameters(bundle []byte) ([]byte, error) {
	var b struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		return nil, err
	}
	kept := b.Entry[:0]
	for _, e := range b.Entry {
		var sp struct {
			Code string   `json:"code"`
			Base []string `json:"base"`
		}
		if err := json.Unmarshal(e.Resource, &sp); err != nil {
			return nil, err
		}
		keep := len(sp.Base) == 0
		for _, base := range sp.Base {
			if codes, restricted := indexedOnly(base); !restricted || slices.Contains(codes, sp.Code) {
				keep = true
			}
		}
		if keep {
			kept = append(kept, e)
		}
	}
	b.Entry = kept
	return json.Marshal(b)
}
