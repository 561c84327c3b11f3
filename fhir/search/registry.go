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
	// Field is the name of the index field that holds this parameter's values, safe as a database field
	// name (letters, digits, underscore). It never comes from a client. Parameters of a type that select
	// the same elements share one field (sharedFields: Patient phonetic is stored as name).
	Field string
	// Components are a composite parameter's parts, in order (SearchParameter.component): a search value
	// is one value per component, joined by "$" (composite.go).
	Components []Component

	// expression is the official expression's text; shared: Field belongs to another parameter of the
	// type, whose values Index stores.
	expression string
	shared     bool
}

// Registry holds the search parameters of the served resource types. It is immutable after NewRegistry
// but for a bounded cache of parsed units, safe for concurrent use.
type Registry struct {
	model  *model.Model
	byType map[string]map[string]*Param
	// notIndexed maps type → code → why the official parameter is not indexed (Indexable): such
	// parameters are neither extracted at write time nor listed by Params, and searching by one is a 400.
	notIndexed map[string]map[string]string
	// units memoises UCUM unit parsing for Index (numeric.go).
	units *unitCache
	// componentExprs are, per type, the expressions of its composites' components, whose results Index
	// keeps for the other composites and parameters that share them.
	componentExprs map[string]map[string]bool
}

// Indexable reports whether careflow indexes parameters of type ptype: string, token, reference, date,
// uri, number, quantity and composite, and special (only Location near exists in R4: near.go). A
// composite parameter is indexed when its components' kinds are ones compositeKinds handles.
func Indexable(ptype string) bool {
	switch ptype {
	case TypeString, TypeToken, TypeReference, TypeDate, TypeURI, TypeNumber, TypeQuantity, TypeComposite, TypeSpecial:
		return true
	}
	return false
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
				Component  []struct {
					Definition string `json:"definition"`
					Expression string `json:"expression"`
				} `json:"component"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		return nil, fmt.Errorf("search: parse SearchParameter bundle: %w", err)
	}
	r := &Registry{model: m, byType: map[string]map[string]*Param{}, notIndexed: map[string]map[string]string{}, units: newUnitCache()}
	// Every definition by URL, whatever its base: a composite's components name theirs.
	defs := map[string]componentDef{}
	for _, e := range b.Entry {
		sp := e.Resource
		defs[sp.URL] = componentDef{code: sp.Code, url: sp.URL, typ: sp.Type, target: sp.Target, expression: sp.Expression}
	}
	served := map[string]bool{}
	for _, t := range types {
		served[t] = true
		r.byType[t] = map[string]*Param{}
		r.notIndexed[t] = map[string]string{}
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
		why := ""
		expr, err := fhirpath.Compile(sp.Expression)
		var comps []Component
		switch {
		case sp.Type == TypeSpecial && sp.Code != "near":
			why = "special parameters other than Location near are not indexed"
		case sp.Type == TypeComposite:
			var parts []compositePart
			for _, c := range sp.Component {
				parts = append(parts, compositePart{definition: c.Definition, expression: c.Expression})
			}
			if comps, why = compositeComponents(m, defs, parts, types); why == "" && err == nil {
				if cerr := expr.Check(m); cerr != nil {
					why = "its expression does not fit the R4 element model: " + cerr.Error()
				}
			}
			if err != nil {
				why = "its expression is outside careflow's FHIRPath subset: " + err.Error()
			}
		case !Indexable(sp.Type):
			why = sp.Type + " parameters are not indexed yet"
		case err != nil:
			why = "its expression is outside careflow's FHIRPath subset: " + err.Error()
		case sp.Type == TypeReference && !selectsReferences(expr, m):
			// Bundle composition and message select the Bundle's first entry, a resource and not a
			// Reference: searching them means chaining into the Bundle's own content.
			why = "its expression selects a resource, not a reference (a chain into the resource's own content), which careflow does not index; search that resource itself"
		default:
			if err := expr.Check(m); err != nil {
				why = "its expression does not fit the R4 element model: " + err.Error()
			}
		}
		for _, t := range bases {
			_, dup := r.byType[t][sp.Code]
			if _, dupNot := r.notIndexed[t][sp.Code]; dup || dupNot {
				return nil, fmt.Errorf("search: %s has two parameters named %q", t, sp.Code)
			}
			if why != "" {
				r.notIndexed[t][sp.Code] = why
				continue
			}
			target := sp.Target
			if sp.Type == TypeReference && len(target) == 0 {
				// No target listed (RequestGroup instantiates-canonical…): any type (SearchParameter.target).
				target = types
			}
			r.byType[t][sp.Code] = &Param{
				Code: sp.Code, URL: sp.URL, Type: sp.Type, Target: target, Expression: expr,
				Field: fieldName(sp.Code), expression: sp.Expression, Components: comps,
			}
		}
	}
	r.shareFields()
	r.componentExprs = map[string]map[string]bool{}
	for typ, params := range r.byType {
		for _, p := range params {
			for _, c := range p.Components {
				if r.componentExprs[typ] == nil {
					r.componentExprs[typ] = map[string]bool{}
				}
				r.componentExprs[typ][c.Expression.String()] = true
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

// NotIndexed returns why a type's official parameter code is not indexed; ok is false when the type has
// no such parameter or careflow indexes it (Lookup finds it).
func (r *Registry) NotIndexed(typ, code string) (why string, ok bool) {
	why, ok = r.notIndexed[typ][code]
	return why, ok
}

// NotIndexedParams returns the codes of a type's official parameters that are not indexed, sorted.
func (r *Registry) NotIndexedParams(typ string) []string {
	out := make([]string, 0, len(r.notIndexed[typ]))
	for code := range r.notIndexed[typ] {
		out = append(out, code)
	}
	sort.Strings(out)
	return out
}

// Params returns a type's indexed parameters sorted by code.
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

// selectsReferences reports whether a reference parameter's expression can select something a reference
// index holds: a Reference, canonical or uri (or a value whose type the checker cannot tell).
func selectsReferences(expr *fhirpath.Expression, m *model.Model) bool {
	types, err := expr.ResultTypes(m)
	if err != nil {
		return true // Check reports it
	}
	for _, t := range types {
		switch t {
		case "*", "Reference", "canonical", "uri", "url", "oid", "uuid", "string":
			return true
		}
	}
	return false
}
