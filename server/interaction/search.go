package interaction

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/fhir/bundle"
	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/resource"
	"github.com/careflow/careflow/fhir/search"
)

// parseQuery parses search parameters of typ.
func (s *Service) parseQuery(typ string, params url.Values, strict bool) (*search.Query, error) {
	q, err := s.registry.Parse(typ, params, search.ParseOptions{Strict: strict, DefaultCount: s.cfg.DefaultCount, MaxCount: s.cfg.MaxCount})
	if err != nil {
		return nil, err
	}
	return q, nil
}

// Search serves search on a type (http.html#search, GET [base]/[type]?… and POST [base]/[type]/_search):
// params are the URL's parameters, merged with a form body's.
func (s *Service) Search(ctx context.Context, call Call, typ string, params url.Values) (*Result, error) {
	ctx, _, err := s.authorize(ctx, call, auth.Request{Interaction: "search-type", Type: typ})
	if err != nil {
		return nil, err
	}
	return s.search(ctx, call, typ, typ, params, nil)
}

// SearchCompartment serves GET [base]/[comp]/[id]/[type]?… (search.html#compartments) with the official
// CompartmentDefinitions (Patient, Practitioner, RelatedPerson, Encounter, Device): the resources of type
// that refer to comp/id through one of the compartment's parameters for the type (ORed), and the criteria.
// type "*" searches every member type of the compartment (_type narrows them), paged across types.
func (s *Service) SearchCompartment(ctx context.Context, call Call, comp, id, typ string, params url.Values) (*Result, error) {
	if typ == "*" {
		return s.searchCompartmentAll(ctx, call, comp, id, params)
	}
	ctx, _, err := s.authorize(ctx, call, auth.Request{Interaction: "search-compartment", Type: typ, ID: id})
	if err != nil {
		return nil, err
	}
	if !s.compartments.Has(comp) {
		return nil, outcome.New(http.StatusNotFound, outcome.CodeNotSupported, "%s is not a compartment this server supports; the compartments are Patient, Practitioner, RelatedPerson, Encounter and Device", comp)
	}
	if !s.types[typ] {
		return nil, outcome.At(http.StatusNotFound, outcome.CodeNotSupported, typ, "resource type %q is not supported by this server", typ)
	}
	cmp, ok := s.compartments.Lookup(comp, id, typ)
	if !ok {
		return nil, outcome.New(http.StatusBadRequest, outcome.CodeNotSupported, "%s resources are not in the %s compartment", typ, comp)
	}
	return s.search(ctx, call, typ, comp+"/"+id+"/"+typ, params, cmp)
}

// searchCompartmentAll serves GET [base]/[comp]/[id]/*?…: the criteria on each member type of the
// compartment (a parameter must exist on each, as in a system search), paged across types in the order of
// the served types. It is authorized as the system search it is: s on each type (those without are left
// out unless _type names them), inside the patient's compartment under patient/ scopes.
func (s *Service) searchCompartmentAll(ctx context.Context, call Call, comp, id string, params url.Values) (*Result, error) {
	if !s.compartments.Has(comp) {
		return nil, outcome.New(http.StatusNotFound, outcome.CodeNotSupported, "%s is not a compartment this server supports; the compartments are Patient, Practitioner, RelatedPerson, Encounter and Device", comp)
	}
	types, err := s.typeList(params)
	if err != nil {
		return nil, err
	}
	members := s.compartments.Members(comp, types)
	ctx, dec, err := s.authorize(ctx, call, auth.Request{Interaction: "search-system", Types: members, Named: params.Has("_type")})
	if err != nil {
		return nil, err
	}
	members = omitted(members, dec)
	criteria := crossTypeCriteria(params)
	incs, err := s.crossTypeIncludes(params, members)
	if err != nil {
		return nil, err
	}
	return s.pageAcrossTypes(ctx, call, comp+"/"+id+"/*", params, members, incs, func(typ string) (*search.Query, error) {
		cmp, _ := s.compartments.Lookup(comp, id, typ)
		q, err := s.parseQuery(typ, criteria, true)
		if err != nil {
			return nil, err
		}
		q.Compartment = cmp
		return q, nil
	})
}

// search runs a search; path is where it was asked, relative to the base (for the self link).
func (s *Service) search(ctx context.Context, call Call, typ, path string, params url.Values, cmp *search.Compartment) (*Result, error) {
	q, err := s.parseQuery(typ, params, call.Strict)
	if err != nil {
		return nil, err
	}
	q.Compartment = cmp
	ctx, omit, err := s.authorizeSearch(ctx, call, q)
	if err != nil {
		return nil, err
	}
	if q.Summary == "count" {
		q.CountSet, q.Count = true, 0
		if q.Total == "none" || q.Total == "" {
			q.Total = "accurate"
		}
	}
	page, included, err := s.searchWithIncludes(ctx, q, omit)
	if err != nil {
		return nil, err
	}
	base := call.Base
	b := bundle.New("searchset", "", s.now())
	if page.Total >= 0 {
		b.SetTotal(page.Total)
	}
	self := searchSelf(base, path, params, q)
	b.Link = append(b.Link, bundle.Link{Relation: "self", URL: self})
	if page.Next != "" {
		b.Link = append(b.Link, bundle.Link{Relation: "next", URL: withParam(self, CursorParam, page.Next)})
	}
	if page.Prev != "" {
		b.Link = append(b.Link, bundle.Link{Relation: "previous", URL: withParam(self, CursorParam, page.Prev)})
	}
	for i, v := range append(page.Versions, included...) {
		body, err := s.shape(v.Type, v.Body, q)
		if err != nil {
			return nil, err
		}
		mode := "match"
		if i >= len(page.Versions) {
			mode = "include"
		}
		b.Entry = append(b.Entry, bundle.Entry{FullURL: base + "/" + v.Type + "/" + v.ID, Resource: body, Search: &bundle.Search{Mode: mode}})
	}
	if len(q.Ignored) > 0 {
		var issues []outcome.Issue
		for _, ig := range q.Ignored {
			issues = append(issues, outcome.Issue{Severity: outcome.Warning, Code: outcome.CodeNotSupported,
				Diagnostics: "parameter " + ig.Name + " was ignored: " + ig.Reason, Expression: []string{ig.Name}})
		}
		b.Entry = append(b.Entry, bundle.Entry{Resource: outcome.Resource(issues), Search: &bundle.Search{Mode: "outcome"}})
	}
	return &Result{Status: http.StatusOK, Body: b.Encode()}, nil
}

// shape applies _elements and _summary (true, text, data) to a matched resource and tags it SUBSETTED
// (search.html#summary, #elements). Only top-level elements are selected; mandatory elements and the
// modifiers are not added back beyond what the official isSummary flags include.
func (s *Service) shape(typ string, body []byte, q *search.Query) ([]byte, error) {
	var keep map[string]bool
	switch {
	case len(q.Elements) > 0:
		keep = map[string]bool{}
		for _, e := range q.Elements {
			s.keepElement(keep, typ, e[strings.LastIndex(e, ".")+1:])
		}
	case q.Summary == "true":
		keep = s.summary[typ]
	case q.Summary == "text":
		keep = map[string]bool{"text": true}
	case q.Summary == "data":
		out, err := resource.Without(body, "text")
		if err != nil {
			return nil, err
		}
		return resource.Subsetted(out)
	default:
		return body, nil
	}
	out, err := resource.Elements(body, keep)
	if err != nil {
		return nil, err
	}
	return resource.Subsetted(out)
}

// keepElement adds an element name to a selection: its JSON property, its primitive extension ("_name"),
// and for a choice element ("deceased") every alternative ("deceasedBoolean", …).
func (s *Service) keepElement(keep map[string]bool, typ, name string) {
	name = strings.TrimSuffix(name, "[x]")
	keep[name], keep["_"+name] = true, true
	if t, ok := s.registry.Model().Type(typ); ok {
		for _, alt := range t.Choices[name] {
			keep[alt.Name], keep["_"+alt.Name] = true, true
		}
	}
}

// summarySets builds, per served type, the top-level elements _summary=true keeps.
func (s *Service) summarySets() map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, path := range strings.Fields(definitions.SummaryElements) {
		typ, name, ok := strings.Cut(path, ".")
		if !ok {
			continue
		}
		if out[typ] == nil {
			out[typ] = map[string]bool{}
		}
		s.keepElement(out[typ], typ, name)
	}
	return out
}

// searchSelf renders the self link: the parameters that were used, in a stable order, without the ones
// that were ignored and without the paging cursor.
func searchSelf(base, path string, params url.Values, q *search.Query) string {
	ignored := map[string]bool{CursorParam: true}
	for _, ig := range q.Ignored {
		ignored[ig.Name] = true
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		if !ignored[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		for _, v := range params[k] {
			parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(v))
		}
	}
	u := base + "/" + path
	if len(parts) > 0 {
		u += "?" + strings.Join(parts, "&")
	}
	return u
}
