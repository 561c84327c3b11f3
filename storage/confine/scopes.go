package confine

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// Granular scopes (SMART App Launch 2.0, patient/Observation.rs?category=…). A request whose access rests
// on scopes with a query runs with WithScopes: per resource type, the criteria a resource must match. The
// same decorator that confines patient/ access enforces them, on every store call the request makes, so
// that _include, _revinclude, $everything and batch entries (all reads and searches through this store)
// are held to them exactly as the request's own type is:
//
//   - Search of a restricted type: the criteria are ANDed into the query (several alternatives for one
//     permission, from several scopes, are merged into one criterion when they name the same parameter, as
//     an OR of its values; alternatives on different parameters cannot be expressed as one query and are
//     refused). Chained criteria and _has through a restricted type are refused (their answer depends on
//     resources outside the scopes).
//   - Read and VRead of a version that does not match: refused (*ScopeError, a 403), whether or not the
//     resource exists otherwise. History: versions that do not match are left out.
//   - Create, Update, Delete and Transact: the resource written must match, and for an update or delete the
//     stored resource too.
//   - Distinct and Exists on a restricted type, and Referrers under any restriction, are refused.

// Scopes is what granular scopes allow: per resource type, a conjunction (every element must hold) of
// disjunctions (one alternative of the element must match), each alternative a list of criteria that must
// all match. A type without an entry is not restricted by granular scopes.
type Scopes map[string][][][]search.Criterion

type scopesKey struct{}

// WithScopes returns ctx restricted further by s (merged, type by type, with any restriction ctx already
// carries: both must hold).
func WithScopes(ctx context.Context, s Scopes) context.Context {
	if len(s) == 0 {
		return ctx
	}
	merged := Scopes{}
	for t, conj := range ScopesOf(ctx) {
		merged[t] = slices.Clone(conj)
	}
	for t, conj := range s {
		merged[t] = append(merged[t], conj...)
	}
	return context.WithValue(ctx, scopesKey{}, merged)
}

// ScopesOf returns the granular-scope restriction ctx carries (nil: none).
func ScopesOf(ctx context.Context) Scopes {
	s, _ := ctx.Value(scopesKey{}).(Scopes)
	return s
}

// ScopeError refuses an access to a resource outside the granular scopes of the token (403).
type ScopeError struct {
	Type, ID string
	Reason   string
}

func (e *ScopeError) Error() string {
	what := e.Type
	if e.ID != "" {
		what += "/" + e.ID
	}
	return fmt.Sprintf("%s: %s %s", storage.ErrConfined, what, e.Reason)
}

// Unwrap makes a ScopeError a storage.ErrConfined.
func (e *ScopeError) Unwrap() error { return storage.ErrConfined }

const outside = "does not match the granular scopes (scopes with search parameters) of the access token"

// FiltersScopes reports that this store enforces WithScopes (the interaction layer refuses to run with
// authorization on without it).
func (s *Store) FiltersScopes() bool { return true }

// matchIndex reports whether a resource with these index values matches the restriction on its type.
func matchIndex(conj [][][]search.Criterion, id string, index map[string]any) bool {
	for _, alts := range conj {
		ok := false
		for _, crit := range alts {
			if m, supported := search.Match(crit, id, index); supported && m {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// versionMatches reports whether version v (its own content; a deletion: the content before it) matches
// the restriction on its type.
func (s *Store) versionMatches(ctx context.Context, conj [][][]search.Criterion, v *storage.Version) (bool, error) {
	if v.Deleted || len(v.Body) == 0 {
		if v.VersionID < 2 {
			return false, nil
		}
		prev, err := s.Store.VRead(ctx, v.Type, v.ID, v.VersionID-1)
		if err != nil {
			return false, err
		}
		v = prev
	}
	index, err := s.indexOf(v)
	if err != nil {
		return false, err
	}
	return matchIndex(conj, v.ID, index), nil
}

// scopedSearch ANDs the restriction on q's type into q, and refuses chains and _has through a restricted
// type. It returns q itself when nothing applies.
func scopedSearch(sc Scopes, q *search.Query) (*search.Query, error) {
	for _, c := range q.Criteria {
		for _, t := range c.ChainTypes() {
			if _, ok := sc[t]; ok {
				return nil, &ScopeError{Type: t, Reason: "is restricted by granular scopes: chained parameters and _has through it need a scope without search parameters"}
			}
		}
	}
	conj, ok := sc[q.Type]
	if !ok {
		return q, nil
	}
	out := *q
	out.Criteria = slices.Clone(q.Criteria)
	for _, alts := range conj {
		if len(alts) == 1 {
			out.Criteria = append(out.Criteria, alts[0]...)
			continue
		}
		merged, ok := mergeAlternatives(alts)
		if !ok {
			return nil, &ScopeError{Type: q.Type, Reason: "is granted for this search by several granular scopes on different search parameters, which one search cannot combine; search with one of them at a time"}
		}
		out.Criteria = append(out.Criteria, merged)
	}
	return &out, nil
}

// mergeAlternatives merges alternatives that are each one criterion on the same parameter and modifier
// into one criterion with all their values (comma = OR).
func mergeAlternatives(alts [][]search.Criterion) (search.Criterion, bool) {
	var out search.Criterion
	for i, crit := range alts {
		if len(crit) != 1 || crit[0].Chain != nil || crit[0].Has != nil || crit[0].Param == nil {
			return search.Criterion{}, false
		}
		c := crit[0]
		if i == 0 {
			out = search.Criterion{Param: c.Param, Modifier: c.Modifier}
		} else if c.Param.Code != out.Param.Code || c.Modifier != out.Modifier {
			return search.Criterion{}, false
		}
		out.Values = append(out.Values, c.Values...)
	}
	return out, true
}

// checkScopedRead refuses version v when it is outside the granular scopes.
func (s *Store) checkScopedRead(ctx context.Context, v *storage.Version, err error) (*storage.Version, error) {
	conj, ok := ScopesOf(ctx)[typeOf(v, err)]
	if !ok {
		return v, err
	}
	var gone *storage.GoneError
	switch {
	case errors.As(err, &gone):
		in, cerr := s.versionMatches(ctx, conj, gone.Deleted)
		if cerr != nil {
			return nil, cerr
		}
		if !in {
			return nil, &ScopeError{Type: gone.Deleted.Type, ID: gone.Deleted.ID, Reason: outside}
		}
		return v, err
	case err != nil:
		return v, err
	}
	in, cerr := s.versionMatches(ctx, conj, v)
	if cerr != nil {
		return nil, cerr
	}
	if !in {
		return nil, &ScopeError{Type: v.Type, ID: v.ID, Reason: outside}
	}
	return v, nil
}

func typeOf(v *storage.Version, err error) string {
	var gone *storage.GoneError
	switch {
	case v != nil:
		return v.Type
	case errors.As(err, &gone) && gone.Deleted != nil:
		return gone.Deleted.Type
	}
	return ""
}

// checkScopedWrite refuses a write of w that does not match, or that changes a stored resource that does
// not match.
func (s *Store) checkScopedWrite(ctx context.Context, w storage.Write, existing bool) error {
	conj, ok := ScopesOf(ctx)[w.Type]
	if !ok {
		return nil
	}
	if !matchIndex(conj, w.ID, w.Index) {
		return &ScopeError{Type: w.Type, Reason: "written " + outside}
	}
	if existing {
		return s.checkScopedExisting(ctx, conj, w.Type, w.ID)
	}
	return nil
}

// checkScopedExisting refuses a change of typ/id when its stored version does not match.
func (s *Store) checkScopedExisting(ctx context.Context, conj [][][]search.Criterion, typ, id string) error {
	if id == "" {
		return nil
	}
	cur, err := s.Store.Read(ctx, typ, id)
	var gone *storage.GoneError
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.As(err, &gone):
		return nil
	case err != nil:
		return err
	}
	in, err := s.versionMatches(ctx, conj, cur)
	if err != nil {
		return err
	}
	if !in {
		return &ScopeError{Type: typ, ID: id, Reason: "(stored) " + outside}
	}
	return nil
}
