package fetch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/careflow/careflow/fhir/search"
)

// indexSearcher is implemented by stores that answer a search from their search index alone, without
// reading a body (the embedded store): for every current resource matching q's criteria (every page), fn
// gets each value the index holds for the named index fields — a key (token, reference, string keys as
// search.Registry.Index writes them), or a date range in Unix microseconds (key "", lo rounded down, hi
// up). field is the position of the field in fields.
type indexSearcher interface {
	SearchIndex(ctx context.Context, q *search.Query, fields []string, fn func(id string, field int, key string, lo, hi int64) error) error
}

// Indexed is what a store's search index holds for one resource, for the parameters IndexIn was asked
// for (in that order).
type Indexed struct {
	ID string
	// Keys are each parameter's index keys, sorted (a reference's normalised reference, search.ReferenceKey).
	Keys [][]string
	// Dates are each parameter's date ranges [Lo, Hi) in microseconds: Lo rounded down, Hi up.
	Dates [][]Range
}

// Range is one date value of the index, in Unix microseconds.
type Range struct{ Lo, Hi int64 }

// Start returns the time of a range's start. exact is false when the stored microseconds may have
// rounded it (a value more precise than 10 µs): callers that compare instants exactly then read bodies.
func (r Range) Start() (t time.Time, exact bool) {
	return time.UnixMicro(r.Lo).UTC(), r.Hi-r.Lo > 1
}

// indexOf returns the store's index search, looking through a Memo.
func indexOf(s Searcher) (indexSearcher, bool) {
	if m, ok := s.(*Memo); ok {
		s = m.s
	}
	x, ok := s.(indexSearcher)
	return x, ok
}

// unsupported turns a store's errors.ErrUnsupported (a wrapper whose store has no index-only searches,
// reported before anything is read) into "no answer": IndexIn then reports ok false and the caller reads
// bodies. Other errors stay errors.
func unsupported(err error) error {
	if errors.Is(err, errors.ErrUnsupported) {
		return nil
	}
	return err
}

// IndexAll is IndexIn without a list of values: every resource of typ matching params.
func (f Fetcher) IndexAll(ctx context.Context, typ string, params url.Values, want []string) ([]*Indexed, bool, error) {
	return f.IndexIn(ctx, typ, "", nil, params, want)
}

// IndexIn is In answered from the store's search index alone: for every resource of typ whose parameter
// param matches one of values and that matches params, what the index holds for the parameters want
// (codes of typ's search parameters), ordered by id. ok is false, with nothing read, when the store has
// no such answer (the MongoDB store): the caller then reads bodies through In.
func (f Fetcher) IndexIn(ctx context.Context, typ, param string, values []string, params url.Values, want []string) ([]*Indexed, bool, error) {
	x, ok := indexOf(f.Store)
	if !ok || f.Registry == nil {
		return nil, false, nil
	}
	h, ok := x.(batchHint)
	if !ok || h.SearchBatch() <= 0 {
		return nil, false, nil
	}
	batch := h.SearchBatch()
	if f.Batch > 0 {
		batch = f.Batch
	}
	fields := make([]string, len(want))
	for i, code := range want {
		p, ok := f.Registry.Lookup(typ, code)
		if !ok {
			return nil, false, fmt.Errorf("fetch: %s has no search parameter %s", typ, code)
		}
		fields[i] = p.Field
	}
	byID := map[string]*Indexed{}
	add := func(id string, field int, key string, lo, hi int64) error {
		r := byID[id]
		if r == nil {
			r = &Indexed{ID: id, Keys: make([][]string, len(fields)), Dates: make([][]Range, len(fields))}
			byID[id] = r
		}
		if field < 0 || field >= len(fields) {
			return fmt.Errorf("fetch: index search %s: field %d of %d", typ, field, len(fields))
		}
		if key != "" {
			r.Keys[field] = append(r.Keys[field], key)
		} else {
			r.Dates[field] = append(r.Dates[field], Range{lo, hi})
		}
		return nil
	}
	search := func(p url.Values, fields []string, fn func(id string, field int, key string, lo, hi int64) error) error {
		p.Set("_total", "none")
		q, oerr := f.Registry.Parse(typ, p, search.ParseOptions{Strict: true})
		if oerr != nil {
			return fmt.Errorf("fetch: %s?%s: %w", typ, p.Encode(), oerr)
		}
		if err := x.SearchIndex(ctx, q, fields, fn); err != nil {
			return fmt.Errorf("fetch: index search %s?%s: %w", typ, p.Encode(), err)
		}
		return nil
	}
	uniq := dedupe(values)
	if ref, ok := f.Registry.Lookup(typ, param); ok && len(uniq) > scanBatches*batch && literalRefs(ref, uniq) {
		// So many references (a population's) that one search without them — the index read in order,
		// not seeked per value and candidate — and a filter here cost less than len(uniq)/batch searches.
		// A literal reference "Type/id" matches exactly the resources with that index key.
		in := make(map[string]bool, len(uniq))
		for _, v := range uniq {
			in[v] = true
		}
		p := url.Values{}
		for k, v := range params {
			p[k] = append([]string(nil), v...)
		}
		all := map[string]*Indexed{}
		with, x := fields, slices.Index(fields, ref.Field) // x: the parameter's own keys
		if x < 0 {
			with, x = append(slices.Clip(fields), ref.Field), len(fields)
		}
		err := search(p, with, func(id string, field int, key string, lo, hi int64) error {
			r := all[id]
			if r == nil {
				r = &Indexed{ID: id, Keys: make([][]string, len(with)), Dates: make([][]Range, len(with))}
				all[id] = r
			}
			if field < 0 || field >= len(with) {
				return fmt.Errorf("fetch: index search %s: field %d of %d", typ, field, len(with))
			}
			if key != "" {
				r.Keys[field] = append(r.Keys[field], key)
			} else {
				r.Dates[field] = append(r.Dates[field], Range{lo, hi})
			}
			return nil
		})
		if err != nil {
			return nil, false, unsupported(err)
		}
		for id, r := range all {
			if slices.ContainsFunc(r.Keys[x], func(k string) bool { return in[k] }) {
				byID[id] = &Indexed{ID: id, Keys: r.Keys[:len(fields)], Dates: r.Dates[:len(fields)]}
			}
		}
	} else if param == "" {
		p := url.Values{}
		for k, v := range params {
			p[k] = append([]string(nil), v...)
		}
		if err := search(p, fields, add); err != nil {
			return nil, false, unsupported(err)
		}
	} else {
		for i := 0; i < len(uniq); i += batch {
			chunk := uniq[i:min(i+batch, len(uniq))]
			p := url.Values{}
			for k, v := range params {
				p[k] = append([]string(nil), v...)
			}
			p.Set(param, joinEscaped(chunk))
			if err := search(p, fields, add); err != nil {
				return nil, false, unsupported(err)
			}
		}
	}
	out := make([]*Indexed, 0, len(byID))
	for _, r := range byID {
		for i := range r.Keys {
			slices.Sort(r.Keys[i])
			r.Keys[i] = slices.Compact(r.Keys[i])
			slices.SortFunc(r.Dates[i], func(a, b Range) int { return cmp.Or(cmp.Compare(a.Lo, b.Lo), cmp.Compare(a.Hi, b.Hi)) })
			r.Dates[i] = slices.Compact(r.Dates[i])
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *Indexed) int { return strings.Compare(a.ID, b.ID) })
	return out, true, nil
}

// scanBatches is the number of batches of references beyond which IndexIn searches without them and keeps
// the matches that have one (see IndexIn).
const scanBatches = 4

// literalRefs reports whether every value of a reference parameter is a plain literal reference "Type/id"
// to one of its target types, which the search matches by that index key alone (search.ReferenceKeys).
func literalRefs(p *search.Param, values []string) bool {
	if p.Type != search.TypeReference {
		return false
	}
	for _, v := range values {
		t, id, ok := strings.Cut(v, "/")
		if !ok || !slices.Contains(p.Target, t) || !fhirID(id) {
			return false
		}
	}
	return true
}

// fhirID reports whether s is a valid FHIR id ([A-Za-z0-9\-\.]{1,64}).
func fhirID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
