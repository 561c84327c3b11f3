package interaction

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// maxIncluded bounds the resources _include and _revinclude add to one page.
const maxIncluded = 1000

// maxIterations bounds the rounds of :iterate.
const maxIterations = 4

// searchWithIncludes runs a search and resolves its _include/_revinclude; when there are any and the store
// can, page and includes are read as one, so that a transaction that commits meanwhile is in all of them
// or in none.
// omit are types the includes must leave out (no permission on them).
func (s *Service) searchWithIncludes(ctx context.Context, q *search.Query, omit map[string]bool) (*storage.SearchPage, []*storage.Version, error) {
	var page *storage.SearchPage
	var included []*storage.Version
	run := func(ctx context.Context) error {
		var err error
		if page, err = s.store.Search(ctx, q); err != nil {
			return searchError(err)
		}
		included, err = s.includes(ctx, q, page.Versions, omit)
		return err
	}
	if len(q.Include) == 0 && len(q.RevInclude) == 0 {
		err := run(ctx)
		return page, included, err
	}
	if err := storage.ReadConsistent(ctx, s.store, s.includeTypes(q), run); err != nil {
		return nil, nil, err
	}
	return page, included, nil
}

// includeTypes lists the types a search with includes may return: the searched type and those its
// _include/_revinclude directives can reach (every type when one is a wildcard or :iterate).
func (s *Service) includeTypes(q *search.Query) []string {
	set := map[string]bool{q.Type: true}
	for _, inc := range append(append([]search.Include(nil), q.Include...), q.RevInclude...) {
		if inc.Iterate || inc.Wildcard || inc.Source == "*" || inc.Param == nil {
			return s.cfg.Types
		}
		set[inc.Source] = true
		if inc.Target != "" {
			set[inc.Target] = true
			continue
		}
		if len(inc.Param.Target) == 0 {
			return s.cfg.Types
		}
		for _, t := range inc.Param.Target {
			set[t] = true
		}
	}
	types := make([]string, 0, len(set))
	for t := range set {
		types = append(types, t)
	}
	sort.Strings(types)
	return types
}

// includes resolves _include and _revinclude for one page of matches (search.html#include): the first
// round applies every directive to the matches, later rounds apply the :iterate ones to what the previous
// round added. A resource appears once, as a match or as an include.
func (s *Service) includes(ctx context.Context, q *search.Query, matches []*storage.Version, omit map[string]bool) ([]*storage.Version, error) {
	if len(q.Include) == 0 && len(q.RevInclude) == 0 {
		return nil, nil
	}
	seen := map[string]bool{}
	for _, v := range matches {
		seen[v.Type+"/"+v.ID] = true
	}
	var included []*storage.Version
	frontier := matches
	for round := 0; round < maxIterations && len(frontier) > 0; round++ {
		wanted := map[string][]string{} // type → ids to fetch
		add := func(typ, id string) {
			if key := typ + "/" + id; !seen[key] && s.types[typ] && !omit[typ] {
				seen[key] = true
				wanted[typ] = append(wanted[typ], id)
			}
		}
		var found []*storage.Version
		for _, inc := range q.Include {
			if round > 0 && !inc.Iterate {
				continue
			}
			if err := s.forward(inc, frontier, add); err != nil {
				return nil, err
			}
		}
		for _, inc := range q.RevInclude {
			if round > 0 && !inc.Iterate {
				continue
			}
			vs, err := s.reverse(ctx, inc, frontier, omit)
			if err != nil {
				return nil, err
			}
			for _, v := range vs {
				if key := v.Type + "/" + v.ID; !seen[key] {
					seen[key] = true
					found = append(found, v)
				}
			}
		}
		types := make([]string, 0, len(wanted))
		for t := range wanted {
			types = append(types, t)
		}
		sort.Strings(types)
		for _, t := range types {
			vs, err := s.byIDs(ctx, t, wanted[t])
			if err != nil {
				return nil, err
			}
			found = append(found, vs...)
		}
		included = append(included, found...)
		if len(included) > maxIncluded {
			return nil, outcome.New(http.StatusBadRequest, outcome.CodeTooCostly, "_include/_revinclude would add more than %d resources to the page; lower _count or narrow the search", maxIncluded)
		}
		frontier = found
	}
	return included, nil
}

// referenceParams lists the parameters an include directive follows on a resource of type typ.
func (s *Service) referenceParams(inc search.Include, typ string) []*search.Param {
	if inc.Source != "*" && inc.Source != typ {
		return nil
	}
	if !inc.Wildcard {
		return []*search.Param{inc.Param}
	}
	var out []*search.Param
	for _, p := range s.registry.Params(typ) {
		if p.Type == search.TypeReference {
			out = append(out, p)
		}
	}
	return out
}

// forward collects the local references an _include directive follows from resources.
func (s *Service) forward(inc search.Include, from []*storage.Version, add func(typ, id string)) error {
	for _, v := range from {
		params := s.referenceParams(inc, v.Type)
		if len(params) == 0 {
			continue
		}
		tree, err := decode(v.Body)
		if err != nil {
			return err
		}
		for _, p := range params {
			nodes, err := p.Expression.Evaluate(s.registry.Model(), tree)
			if err != nil {
				return err
			}
			for _, n := range nodes {
				m, ok := n.Value.(map[string]any)
				if !ok {
					continue
				}
				ref, _ := m["reference"].(string)
				typ, id, ok := localReference(search.ReferenceKey(ref))
				if ok && (inc.Target == "" || inc.Target == typ) {
					add(typ, id)
				}
			}
		}
	}
	return nil
}

// localReference splits "Type/id" (relative references only).
func localReference(ref string) (string, string, bool) {
	typ, id, ok := strings.Cut(ref, "/")
	if !ok || strings.Contains(id, "/") || strings.Contains(typ, ":") || typ == "" || id == "" {
		return "", "", false
	}
	return typ, id, true
}

// reverse finds resources of the directive's source type that refer to resources in to.
func (s *Service) reverse(ctx context.Context, inc search.Include, to []*storage.Version, omit map[string]bool) ([]*storage.Version, error) {
	var sources []string
	if inc.Source == "*" {
		sources = s.cfg.Types
	} else {
		sources = []string{inc.Source}
	}
	var out []*storage.Version
	for _, src := range sources {
		if omit[src] {
			continue
		}
		for _, p := range s.referenceParams(search.Include{Source: src, Param: inc.Param, Wildcard: inc.Wildcard}, src) {
			var values []search.Value
			for _, v := range to {
				if (inc.Target == "" || inc.Target == v.Type) && (len(p.Target) == 0 || contains(p.Target, v.Type)) {
					values = append(values, search.Value{RefType: v.Type, RefID: v.ID})
				}
			}
			if len(values) == 0 {
				continue
			}
			q := &search.Query{Type: src, Criteria: []search.Criterion{{Param: p, Values: values}},
				Count: maxIncluded + 1, CountSet: true, Total: "none"}
			page, err := s.store.Search(ctx, q)
			if err != nil {
				return nil, searchError(err)
			}
			out = append(out, page.Versions...)
		}
	}
	return out, nil
}

// byIDs reads resources of one type by id with one query.
func (s *Service) byIDs(ctx context.Context, typ string, ids []string) ([]*storage.Version, error) {
	idParam, ok := s.registry.Lookup(typ, "_id")
	if !ok {
		return nil, nil
	}
	values := make([]search.Value, len(ids))
	for i, id := range ids {
		values[i] = search.Value{Code: id}
	}
	q := &search.Query{Type: typ, Criteria: []search.Criterion{{Param: idParam, Values: values}},
		Count: len(ids), CountSet: true, Total: "none"}
	page, err := s.store.Search(ctx, q)
	if err != nil {
		return nil, searchError(err)
	}
	return page.Versions, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// decode parses a stored resource for FHIRPath evaluation (numbers kept exact).
func decode(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}
