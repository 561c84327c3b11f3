package interaction

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/fhir/bundle"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// The official definitions of Patient/$everything and Encounter/$everything (R4 defines both).
const (
	everythingOperationURL          = "http://hl7.org/fhir/OperationDefinition/Patient-everything"
	encounterEverythingOperationURL = "http://hl7.org/fhir/OperationDefinition/Encounter-everything"
)

// everythingCursor is the position of paging across types ($everything, system search): a type (index into the served types) and the
// search cursor inside it.
type everythingCursor struct {
	Type  int    `json:"t"`
	Inner string `json:"c,omitempty"`
}

// Everything serves GET [base]/Patient/[id]/$everything (patient-operation-everything.html): the patient
// and every resource in its compartment, paged across types with a keyset cursor, restricted by _since
// (lastUpdated), start/end (each type's care date, Registry.CareDate) and _type; and GET
// [base]/Encounter/[id]/$everything (encounter-operation-everything.html): the encounter and every resource
// of its compartment, with _since and _type (R4 defines no start/end for it).
func (s *Service) Everything(ctx context.Context, call Call, typ, id string, params url.Values) (*Result, error) {
	if typ != "Patient" && typ != "Encounter" {
		return nil, outcome.New(http.StatusNotFound, outcome.CodeNotSupported, "$everything is defined on Patient and Encounter")
	}
	if typ == "Encounter" {
		for _, p := range []string{"start", "end"} {
			if params.Has(p) {
				return nil, outcome.At(http.StatusBadRequest, outcome.CodeNotSupported, p, "Encounter/$everything has no parameter %s (R4 defines _since, _type and _count)", p)
			}
		}
	}
	types, err := s.typeList(params)
	if err != nil {
		return nil, err
	}
	members := s.compartments.Members(typ, types)
	req := auth.Request{Interaction: "$everything", Type: typ, ID: id, Types: members, Named: params.Has("_type")}
	if typ == "Encounter" {
		// Not the patient's own operation: authorized as the searches it is (s on each type), which the
		// confine decorator keeps inside the patient's compartment under patient/ scopes.
		req = auth.Request{Interaction: "search-system", Types: members, Named: params.Has("_type")}
	}
	ctx, dec, err := s.authorize(ctx, call, req)
	if err != nil {
		return nil, err
	}
	types = omitted(members, dec)
	if _, err := s.store.Read(ctx, typ, id); err != nil {
		return nil, storageError(err, typ, id)
	}
	return s.pageAcrossTypes(ctx, call, typ+"/"+id+"/$everything", params, types, nil, func(member string) (*search.Query, error) {
		cmp, ok := s.compartments.Lookup(typ, id, member)
		if !ok {
			return nil, nil
		}
		criteria := url.Values{}
		if since := params.Get("_since"); since != "" {
			criteria.Set("_lastUpdated", "ge"+since)
		}
		dp := s.registry.CareDate(member)
		if dp != "" {
			if v := params.Get("start"); v != "" {
				criteria.Add(dp, "ge"+v)
			}
			if v := params.Get("end"); v != "" {
				criteria.Add(dp, "le"+v)
			}
		}
		q, err := s.parseQuery(member, criteria, true)
		if err != nil {
			return nil, err
		}
		// Undated resources (an allergy without recordedDate) stay in the window.
		for i := range q.Criteria {
			if dp != "" && q.Criteria[i].Param.Code == dp {
				q.Criteria[i].OrMissing = true
			}
		}
		q.Compartment = cmp
		return q, nil
	})
}

// SearchSystem serves GET [base]?_type=…&… (search.html#all): the same criteria on each listed type (all
// served types without _type), paged across types. A parameter must exist on every searched type.
func (s *Service) SearchSystem(ctx context.Context, call Call, params url.Values) (*Result, error) {
	types, err := s.typeList(params)
	if err != nil {
		return nil, err
	}
	ctx, dec, err := s.authorize(ctx, call, auth.Request{Interaction: "search-system", Types: types, Named: params.Has("_type")})
	if err != nil {
		return nil, err
	}
	types = omitted(types, dec)
	criteria := crossTypeCriteria(params)
	incs, err := s.crossTypeIncludes(params, types)
	if err != nil {
		return nil, err
	}
	return s.pageAcrossTypes(ctx, call, "", params, types, incs, func(typ string) (*search.Query, error) {
		return s.parseQuery(typ, criteria, true)
	})
}

// typeList reads _type: served types, comma-separated; all served types when absent.
func (s *Service) typeList(params url.Values) ([]string, error) {
	raw := params.Get("_type")
	if raw == "" {
		return s.cfg.Types, nil
	}
	var types []string
	for _, t := range strings.Split(raw, ",") {
		if !s.types[t] {
			return nil, outcome.At(http.StatusBadRequest, outcome.CodeNotSupported, "_type", "_type %q is not a served resource type", t)
		}
		types = append(types, t)
	}
	return types, nil
}

// pageAcrossTypes serves one searchset page drawn from several types in order: build returns each type's
// query (nil to skip the type); the cursor holds the type reached and the keyset cursor inside it.
//
// incs, when not nil, holds the _include and _revinclude directives (crossTypeIncludes): they are resolved
// over the page's matches of every type, read consistently with them, and added in mode include. Each
// type's query is authorized for what it reaches beyond its type (chains, _has) before anything is read.
func (s *Service) pageAcrossTypes(ctx context.Context, call Call, path string, params url.Values, types []string, incs *search.Query, build func(typ string) (*search.Query, error)) (*Result, error) {
	count, err := s.pageSize(params)
	if err != nil {
		return nil, err
	}
	if count == 0 {
		count = s.cfg.DefaultCount
	}
	var pos everythingCursor
	if raw := params.Get(CursorParam); raw != "" {
		data, err := base64.RawURLEncoding.DecodeString(raw)
		if err != nil || json.Unmarshal(data, &pos) != nil || pos.Type < 0 || pos.Type >= len(types) {
			return nil, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, CursorParam, "invalid paging cursor")
		}
	}
	base := call.Base
	b := bundle.New("searchset", "", s.now())
	queries := make([]*search.Query, len(types))
	for ti := pos.Type; ti < len(types); ti++ {
		if queries[ti], err = build(types[ti]); err != nil {
			return nil, err
		}
		if queries[ti] != nil {
			if ctx, _, err = s.authorizeSearch(ctx, call, queries[ti]); err != nil {
				return nil, err
			}
		}
	}
	var omit map[string]bool
	readTypes := types
	if incs != nil {
		if ctx, omit, err = s.authorizeSearch(ctx, call, incs); err != nil {
			return nil, err
		}
		readTypes = append(slices.Clone(types), s.includeTypes(incs)...)
		slices.Sort(readTypes)
		readTypes = slices.Compact(readTypes)
	}
	// The page's searches are read as one (storage.ConsistentReader): a transaction that commits meanwhile
	// is on the page whole or not at all. The store may run read more than once: it starts afresh.
	next := ""
	err = storage.ReadConsistent(ctx, s.store, readTypes, func(ctx context.Context) error {
		b.Entry, next = nil, ""
		var matches []*storage.Version
		for ti := pos.Type; ti < len(types) && len(b.Entry) < count; ti++ {
			q := queries[ti]
			if q == nil {
				continue
			}
			q.Total, q.Sort = "none", nil
			q.Count, q.CountSet = count-len(b.Entry), true
			q.Cursor = ""
			if ti == pos.Type {
				q.Cursor = pos.Inner
			}
			page, err := s.store.Search(ctx, q)
			if err != nil {
				return searchError(err)
			}
			for _, v := range page.Versions {
				b.Entry = append(b.Entry, bundle.Entry{FullURL: base + "/" + v.Type + "/" + v.ID, Resource: v.Body, Search: &bundle.Search{Mode: "match"}})
			}
			matches = append(matches, page.Versions...)
			switch {
			case page.Next != "":
				next = encodeEverything(everythingCursor{Type: ti, Inner: page.Next})
			case ti+1 < len(types):
				next = encodeEverything(everythingCursor{Type: ti + 1})
			default:
				next = ""
			}
		}
		if incs == nil {
			return nil
		}
		included, err := s.includes(ctx, incs, matches, omit)
		if err != nil {
			return err
		}
		for _, v := range included {
			b.Entry = append(b.Entry, bundle.Entry{FullURL: base + "/" + v.Type + "/" + v.ID, Resource: v.Body, Search: &bundle.Search{Mode: "include"}})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	self := selfURL(base, path, params)
	b.Link = append(b.Link, bundle.Link{Relation: "self", URL: self})
	if next != "" {
		b.Link = append(b.Link, bundle.Link{Relation: "next", URL: withParam(self, CursorParam, next)})
	}
	return &Result{Status: http.StatusOK, Body: b.Encode()}, nil
}

func encodeEverything(c everythingCursor) string {
	data, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(data)
}

// crossTypeCriteria are the search criteria of a search across types: params without _type, the paging
// cursor and _count, which the paging across types handles itself.
// The include directives are parsed once for all types (crossTypeIncludes).
func crossTypeCriteria(params url.Values) url.Values {
	criteria := url.Values{}
	for k, vs := range params {
		switch {
		case k == "_type", k == CursorParam, k == "_count", isIncludeParam(k):
		default:
			criteria[k] = vs
		}
	}
	return criteria
}

// isIncludeParam reports whether a parameter name is _include or _revinclude, with or without a modifier.
func isIncludeParam(name string) bool {
	base, _, _ := strings.Cut(name, ":")
	return base == "_include" || base == "_revinclude"
}

// crossTypeIncludes parses the _include and _revinclude directives of a search across types (nil when there
// are none). A directive is valid when it is valid on one of the searched types — _include=Observation:subject
// when Observation is searched, _revinclude=Provenance:target when one searched type can be its target —
// and applies to the matches of every type it fits (search.html#include: a directive applies to the
// resources of its source type).
func (s *Service) crossTypeIncludes(params url.Values, types []string) (*search.Query, error) {
	var names []string
	for k := range params {
		if isIncludeParam(k) {
			names = append(names, k)
		}
	}
	if len(names) == 0 || len(types) == 0 {
		return nil, nil
	}
	sort.Strings(names)
	incs := &search.Query{Type: types[0]}
	for _, name := range names {
		for _, v := range params[name] {
			// The directive's own source type first: its errors are the ones that explain.
			candidates := types
			if src, _, _ := strings.Cut(v, ":"); slices.Contains(types, src) {
				candidates = append([]string{src}, types...)
			} else if name == "_include" && src != "*" && s.types[src] {
				return nil, outcome.At(http.StatusBadRequest, outcome.CodeNotSupported, name,
					"%s=%s: %s is not among the searched types (use _type)", name, v, src)
			}
			var first error
			for _, t := range candidates {
				q, err := s.parseQuery(t, url.Values{name: {v}}, true)
				if err != nil {
					if first == nil {
						first = err
					}
					continue
				}
				incs.Include = append(incs.Include, q.Include...)
				incs.RevInclude = append(incs.RevInclude, q.RevInclude...)
				first = nil
				break
			}
			if first != nil {
				return nil, first
			}
		}
	}
	if len(incs.Include)+len(incs.RevInclude) == 0 {
		return nil, nil
	}
	return incs, nil
}
