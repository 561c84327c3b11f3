// Package search is FHIR R4 search (http://hl7.org/fhir/R4/search.html) independent of any database: the
// registry of search parameters loaded from the official SearchParameter resources, the extraction of
// normalised index values from resources at write time, and the parsing of query strings into typed
// queries. storage implementations translate those queries; nothing here knows MongoDB.
package search

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/careflow/careflow/fhir/fhirpath"
	"github.com/careflow/careflow/fhir/model"
)

// Parameter types (SearchParameter.type).
const (
	TypeToken     = "token"
	TypeString    = "string"
	TypeReference = "reference"
	TypeDate      = "date"
	TypeURI       = "uri"
	TypeNumber    = "number"
	TypeQuantity  = "quantity"
	TypeComposite = "composite"
	TypeSpecial   = "special"
)

// Param is one search parameter as it applies to one resource type.
type Param struct {
	Code       string // the name used in queries, e.g. "birthdate"
	URL        string // canonical URL of the official definition
	Type       string // TypeToken, TypeString, …
	Target     []string
	Expression *fhirpath.Expression
	// Field is the name of the index field that holds this parameter's values, unique per resource type
	// and safe as a database field name (letters, digits, underscore). It never comes from a client.
	Field string
}

// Registry holds the search parameters of the served resource types. It is immutable after NewRegistry.
type Registry struct {
	model  *model.Model
	byType map[string]map[string]*Param
}

// NewRegistry loads the official SearchParameter Bundle (fhir/definitions.SearchParameters) for types.
// Parameters whose base is Resource or DomainResource apply to every type.
func NewRegistry(m *model.Model, bundle []byte, types []string) (*Registry, error) {
	var b struct {
		Entry []struct {
			Resource struct {
				URL        string   `json:"url"`
				Code       string   `json:"code"`
				Type       string   `json:"type"`
				Base       []string `json:"base"`
				Target     []string `json:"target"`
				Expression string   `json:"expression"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		return nil, fmt.Errorf("search: parse SearchParameter bundle: %w", err)
	}
	r := &Registry{model: m, byType: map[string]map[string]*Param{}}
	served := map[string]bool{}
	for _, t := range types {
		served[t] = true
		r.byType[t] = map[string]*Param{}
	}
	for _, e := range b.Entry {
		sp := e.Resource
		var bases []string
		for _, base := range sp.Base {
			switch {
			case base == "Resource" || base == "DomainResource":
				bases = append(bases, types...)
			case served[base]:
				bases = append(bases, base)
			}
		}
		if len(bases) == 0 || sp.Expression == "" {
			continue
		}
		expr, err := fhirpath.Compile(sp.Expression)
		if err != nil {
			return nil, fmt.Errorf("search: parameter %s: %w", sp.URL, err)
		}
		for _, t := range bases {
			if _, dup := r.byType[t][sp.Code]; dup {
				return nil, fmt.Errorf("search: %s has two parameters named %q", t, sp.Code)
			}
			r.byType[t][sp.Code] = &Param{
				Code: sp.Code, URL: sp.URL, Type: sp.Type, Target: sp.Target, Expression: expr,
				Field: fieldName(sp.Code),
			}
		}
	}
	return r, nil
}

// fieldName maps a parameter code to an index field name: "s_" then the code with every character outside
// [A-Za-z0-9] replaced by "_" ("_lastUpdated" → "s__lastUpdated", "clinical-status" → "s_clinical_status").
func fieldName(code string) string {
	out := []byte("s_")
	for i := 0; i < len(code); i++ {
		c := code[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			out = append(out, c)
		} else {
			out = append(out, '_')
		}
	}
	return string(out)
}

// Lookup returns a type's parameter by code.
func (r *Registry) Lookup(typ, code string) (*Param, bool) {
	p, ok := r.byType[typ][code]
	return p, ok
}

// Params returns a type's parameters sorted by code.
func (r *Registry) Params(typ string) []*Param {
	var out []*Param
	for _, p := range r.byType[typ] {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// Model returns the element model the registry evaluates expressions with.
func (r *Registry) Model() *model.Model { return r.model }
