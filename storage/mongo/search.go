package mongo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// maxChainIDs bounds how many resources a chained or _has criterion may match before the search is refused
// as too costly (the ids are inlined into the outer query).
const maxChainIDs = 10000

// Search implements storage.Store. It is fenced against transactions (isolation.go): one that commits
// while the search runs makes it run again when the transaction's resources of the searched type are on
// the page or match the search now, when the total was counted apart from the page (the count may have
// met part of it), or when it touches a type a chain or _has criterion reads.
func (s *Store) Search(ctx context.Context, q *search.Query) (*storage.SearchPage, error) {
	types := searchTypes(q.Type, q.Criteria, nil)
	var page *storage.SearchPage
	var find bson.D
	var counted bool
	err := s.isolated(ctx, types, func(ctx context.Context) error {
		var err error
		page, find, counted, err = s.search(ctx, q)
		return err
	}, func(ctx context.Context, committed []*flight) (bool, error) {
		for _, f := range committed {
			ids, others, ok, err := s.targetsOf(ctx, f.ID, q.Type, types)
			if err != nil || !ok || others || find == nil {
				return true, err
			}
			if len(ids) == 0 {
				continue
			}
			if counted {
				return true, nil
			}
			for _, v := range page.Versions {
				if slices.Contains(ids, v.ID) {
					return true, nil
				}
			}
			raws, err := s.find(ctx, q.Type, allOf(find, in(fID, ids)), nil, 1, bson.D{{Key: fID, Value: 1}})
			if err != nil {
				return true, err
			}
			if len(raws) > 0 {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// searchTypes adds to types typ and the types its criteria's chains and _has read.
func searchTypes(typ string, criteria []search.Criterion, types []string) []string {
	if !slices.Contains(types, typ) {
		types = append(types, typ)
	}
	for _, c := range criteria {
		if c.Chain != nil {
			types = searchTypes(c.Chain.Type, []search.Criterion{c.Chain.Criterion}, types)
		}
		if c.Has != nil {
			types = searchTypes(c.Has.Type, []search.Criterion{c.Has.Criterion}, types)
		}
	}
	return types
}

// search runs q once; find is the filter of its page (nil for a count alone); counted reports a total
// counted by a query of its own.
func (s *Store) search(ctx context.Context, q *search.Query) (page *storage.SearchPage, find bson.D, counted bool, err error) {
	defer func() {
		if h := s.hooks.SearchStep; h != nil && err == nil {
			h(ctx, q.Type, "done")
		}
	}()
	filter, err := s.filter(ctx, q.Type, q.Criteria)
	if err != nil {
		return nil, nil, false, err
	}
	for cmp := q.Compartment; cmp != nil; cmp = cmp.Within {
		ref := cmp.Type + "/" + cmp.ID
		var members bson.A
		for _, p := range cmp.Params {
			members = append(members, bson.D{{Key: p.Field, Value: ref}})
		}
		if cmp.Self {
			members = append(members, bson.D{{Key: fID, Value: cmp.ID}})
		}
		if len(members) == 0 {
			members = append(members, never)
		}
		filter = allOf(filter, bson.D{{Key: "$or", Value: members}})
	}
	keys := sortFields(q.Sort)
	page = &storage.SearchPage{Total: -1}
	// The total costs a second query: computed on the first page (and on every page with
	// _total=accurate), not with _total=none.
	exact := exactDatesOf(q.Criteria)
	wantTotal := q.Total == "accurate" || q.Total != "none" && q.Cursor == ""
	if q.CountSet && q.Count == 0 {
		if wantTotal {
			s.searchStep(ctx, q.Type, "count")
			n, err := s.count(ctx, q.Type, filter, exact)
			if err != nil {
				return nil, nil, false, err
			}
			page.Total = n
		}
		return page, nil, wantTotal, nil
	}
	count := q.Count
	if count <= 0 {
		count = 50
	}
	backward := false
	var after *searchCursor
	if q.Cursor != "" {
		c, err := decodeSearchCursor(q.Cursor, len(keys))
		if err != nil {
			return nil, nil, false, err
		}
		after, backward = c, c.Backward
	}
	find = filter
	if after != nil {
		find = allOf(filter, keysetFilter(keys, after.Values, backward))
	}
	pageFilter := find
	order := bson.D{}
	for _, k := range keys {
		dir := 1
		if k.desc != backward {
			dir = -1
		}
		order = append(order, bson.E{Key: k.field, Value: dir})
	}
	projection := bson.D{}
	for _, e := range versionProjection {
		projection = append(projection, e)
	}
	for _, k := range keys {
		if k.field != fID && k.field != fLastUpdated {
			projection = append(projection, bson.E{Key: k.field, Value: 1})
		}
	}
	projection = append(projection, exact.projection()...)
	// Fetch count+1 matches; resources with several dates that only the envelope matched are dropped
	// here, so keep fetching after the last document read until the page is full or nothing is left.
	var raws []bson.Raw
	for {
		batch, err := s.find(ctx, q.Type, find, order, int64(count+1), projection)
		if err != nil {
			return nil, nil, false, fmt.Errorf("mongo: search %s: %w", q.Type, err)
		}
		for _, raw := range batch {
			if exact.matches(raw) && len(raws) <= count {
				raws = append(raws, raw)
			}
		}
		if len(batch) <= count || len(raws) > count {
			break
		}
		find = allOf(filter, keysetFilter(keys, decodeValues(keyValues(keys, batch[len(batch)-1])), backward))
	}
	more := len(raws) > count
	// The total: a first page that holds every match is its own count; otherwise one more query.
	if wantTotal {
		if q.Cursor == "" && !more {
			page.Total = len(raws)
		} else {
			s.searchStep(ctx, q.Type, "count")
			counted = true
			n, err := s.count(ctx, q.Type, filter, exact)
			if err != nil {
				return nil, nil, false, err
			}
			page.Total = n
		}
	}
	if more {
		raws = raws[:count]
	}
	if backward {
		for i, j := 0, len(raws)-1; i < j; i, j = i+1, j-1 {
			raws[i], raws[j] = raws[j], raws[i]
		}
	}
	for _, raw := range raws {
		var d doc
		if err := bson.Unmarshal(raw, &d); err != nil {
			return nil, nil, false, fmt.Errorf("mongo: search %s: decode: %w", q.Type, err)
		}
		page.Versions = append(page.Versions, d.version(q.Type))
	}
	if len(raws) > 0 {
		first, last := keyValues(keys, raws[0]), keyValues(keys, raws[len(raws)-1])
		// Going forward, a next page exists when this one overflowed; a previous one when we came from a
		// cursor. Going backward, the other way round.
		hasNext, hasPrev := more, after != nil
		if backward {
			hasNext, hasPrev = true, more
		}
		if hasNext {
			page.Next = (&searchCursor{Values: last}).encode()
		}
		if hasPrev {
			page.Prev = (&searchCursor{Values: first, Backward: true}).encode()
		}
	}
	return page, pageFilter, counted, nil
}

// searchStep runs Hooks.SearchStep.
func (s *Store) searchStep(ctx context.Context, typ, step string) {
	if h := s.hooks.SearchStep; h != nil {
		h(ctx, typ, step)
	}
}

// sortKey is one key of the result order.
type sortKey struct {
	field string
	desc  bool
}

// sortFields maps _sort to stored fields, always ending with _id so that the order is total.
func sortFields(keys []search.SortKey) []sortKey {
	var out []sortKey
	for _, k := range keys {
		switch k.Param.Code {
		case "_id":
			out = append(out, sortKey{fID, k.Descending})
			return out
		case "_lastUpdated":
			out = append(out, sortKey{fLastUpdated, k.Descending})
		default:
			out = append(out, sortKey{k.Param.Field + search.SuffixSort, k.Descending})
		}
	}
	return append(out, sortKey{fID, false})
}

// searchCursor is the position after (or, going backward, before) which a page starts: the sort-key
// values of the boundary resource.
type searchCursor struct {
	Values   []any `json:"v"` // string, time (as {"d": ms}) or nil per key
	Backward bool  `json:"b,omitempty"`
}

func (c *searchCursor) encode() string {
	data, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(data)
}

func decodeSearchCursor(s string, n int) (*searchCursor, error) {
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, storage.ErrBadCursor
	}
	var c searchCursor
	if err := json.Unmarshal(data, &c); err != nil || len(c.Values) != n {
		return nil, storage.ErrBadCursor
	}
	for i, v := range c.Values {
		switch t := v.(type) {
		case nil, string:
		case map[string]any:
			ms, ok := t["d"].(float64)
			if !ok {
				return nil, storage.ErrBadCursor
			}
			c.Values[i] = bson.NewDateTimeFromTime(time.UnixMilli(int64(ms)))
		default:
			return nil, storage.ErrBadCursor
		}
	}
	return &c, nil
}

// keyValues reads the sort-key values of a result document for a cursor.
func keyValues(keys []sortKey, raw bson.Raw) []any {
	out := make([]any, len(keys))
	for i, k := range keys {
		v, err := raw.LookupErr(k.field)
		if err != nil {
			continue
		}
		switch v.Type {
		case bson.TypeString:
			out[i] = v.StringValue()
		case bson.TypeDateTime:
			out[i] = map[string]any{"d": v.DateTime()}
		}
	}
	return out
}

// keysetFilter selects the documents strictly after the boundary values in the (possibly reversed) sort
// order. Missing values sort first ascending and last descending, as MongoDB orders null.
func keysetFilter(keys []sortKey, vals []any, backward bool) bson.D {
	var branches bson.A
	for i := range keys {
		var branch bson.A
		for j := 0; j < i; j++ {
			branch = append(branch, equalKey(keys[j].field, vals[j]))
		}
		after, ok := afterKey(keys[i].field, vals[i], keys[i].desc != backward)
		if !ok {
			continue
		}
		branch = append(branch, after)
		branches = append(branches, bson.D{{Key: "$and", Value: branch}})
	}
	if len(branches) == 0 {
		return bson.D{{Key: fID, Value: bson.D{{Key: "$exists", Value: false}}}}
	}
	return bson.D{{Key: "$or", Value: branches}}
}

func equalKey(field string, v any) bson.D {
	if v == nil {
		return bson.D{{Key: field, Value: bson.D{{Key: "$exists", Value: false}}}}
	}
	return bson.D{{Key: field, Value: v}}
}

// afterKey is the condition "field comes after v" ascending (desc=false) or descending.
func afterKey(field string, v any, desc bool) (bson.D, bool) {
	switch {
	case v == nil && !desc:
		return bson.D{{Key: field, Value: bson.D{{Key: "$exists", Value: true}}}}, true
	case v == nil && desc:
		return nil, false
	case !desc:
		return bson.D{{Key: field, Value: bson.D{{Key: "$gt", Value: v}}}}, true
	}
	return bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: field, Value: bson.D{{Key: "$lt", Value: v}}}},
		bson.D{{Key: field, Value: bson.D{{Key: "$exists", Value: false}}}},
	}}}, true
}

// filter translates criteria (AND) on type typ into a MongoDB filter. Every field name comes from the
// registry and every client value is a typed operand, never an operator or a path.
func (s *Store) filter(ctx context.Context, typ string, criteria []search.Criterion) (bson.D, error) {
	all := []bson.D{{{Key: fDeleted, Value: false}}}
	for _, c := range criteria {
		f, err := s.criterion(ctx, typ, c)
		if err != nil {
			return nil, err
		}
		all = append(all, f)
	}
	return allOf(all...), nil
}

// allOf is the conjunction of conditions as one flat document where it can be: every condition
// becomes a top-level field of the result, and only a field that comes twice goes into $and. MongoDB
// plans both forms alike; FerretDB v1 pushes top-level equalities down to PostgreSQL but nothing nested
// in $and (measured with explain: filterPushdown true vs false).
func allOf(parts ...bson.D) bson.D {
	out := bson.D{}
	seen := map[string]bool{}
	var nested bson.A
	var add func(e bson.E)
	add = func(e bson.E) {
		if e.Key == "$and" {
			if subs, ok := e.Value.(bson.A); ok {
				for _, sub := range subs {
					if d, ok := sub.(bson.D); ok {
						for _, se := range d {
							add(se)
						}
						continue
					}
					nested = append(nested, sub)
				}
				return
			}
		}
		if seen[e.Key] {
			nested = append(nested, bson.D{e})
			return
		}
		seen[e.Key] = true
		out = append(out, e)
	}
	for _, p := range parts {
		for _, e := range p {
			add(e)
		}
	}
	if len(nested) > 0 {
		out = append(out, bson.E{Key: "$and", Value: nested})
	}
	return out
}

func anyOf(parts bson.A) bson.D {
	if len(parts) == 1 {
		return parts[0].(bson.D)
	}
	return bson.D{{Key: "$or", Value: parts}}
}

func in(field string, values []string) bson.D {
	if len(values) == 1 {
		return bson.D{{Key: field, Value: values[0]}}
	}
	return bson.D{{Key: field, Value: bson.D{{Key: "$in", Value: values}}}}
}

func regex(field, pattern string) bson.D {
	return bson.D{{Key: field, Value: bson.Regex{Pattern: pattern}}}
}

// never matches nothing.
var never = bson.D{{Key: fID, Value: bson.D{{Key: "$exists", Value: false}}}}

func (s *Store) criterion(ctx context.Context, typ string, c search.Criterion) (bson.D, error) {
	if c.Has != nil {
		return s.has(ctx, typ, c.Has)
	}
	p := c.Param
	field := p.Field
	switch p.Code {
	case "_id":
		field = fID
	case "_lastUpdated":
		field = fLastUpdated
	}
	if c.Modifier == "missing" {
		var parts bson.A
		for _, v := range c.Values {
			probe := presenceField(p, field)
			parts = append(parts, bson.D{{Key: probe, Value: bson.D{{Key: "$exists", Value: !v.Missing}}}})
		}
		return anyOf(parts), nil
	}
	if c.Chain != nil {
		return s.chain(ctx, field, c)
	}
	if c.OrMissing {
		probe := presenceField(p, field)
		c.OrMissing = false
		f, err := s.criterion(ctx, typ, c)
		if err != nil {
			return nil, err
		}
		return bson.D{{Key: "$or", Value: bson.A{f, bson.D{{Key: probe, Value: bson.D{{Key: "$exists", Value: false}}}}}}}, nil
	}
	switch p.Type {
	case search.TypeToken:
		return tokenFilter(field, c), nil
	case search.TypeString:
		return stringFilter(field, c), nil
	case search.TypeReference:
		return referenceFilter(field, c), nil
	case search.TypeURI:
		return uriFilter(field, c), nil
	case search.TypeDate:
		if field == fLastUpdated {
			return pointDateFilter(field, c), nil
		}
		return dateFilter(field, c), nil
	case search.TypeNumber, search.TypeQuantity:
		return numericFilter(field, c), nil
	case search.TypeComposite:
		if p.Numeric() {
			return numericFilter(field, c), nil
		}
		return tokenMatch(field, search.CompositeMatches(c)), nil
	case search.TypeSpecial:
		return nearFilter(field, c), nil
	}
	return nil, fmt.Errorf("mongo: search parameter type %s is not supported", p.Type)
}

func tokenFilter(field string, c search.Criterion) bson.D {
	var keys []string
	switch c.Modifier {
	case "text":
		var parts bson.A
		for _, v := range c.Values {
			parts = append(parts, regex(field+search.SuffixText, `(^| )`+regexp.QuoteMeta(search.Normalize(v.Code))))
		}
		return anyOf(parts)
	case "of-type":
		for _, v := range c.Values {
			keys = append(keys, search.OfTypeKey(v.System, v.TypeCode, v.Code))
		}
		return in(field, keys)
	}
	var f bson.D
	if field == fID {
		for _, v := range c.Values {
			keys = append(keys, v.Code)
		}
		f = in(field, keys)
	} else {
		f = tokenMatch(field, search.TokenMatches(c.Values))
	}
	if c.Modifier == "not" {
		return bson.D{{Key: "$nor", Value: bson.A{f}}}
	}
	return f
}

// tokenMatch is the filter "field holds one of m.Keys or a value starting with one of m.Prefixes".
func tokenMatch(field string, m search.TokenMatch) bson.D {
	if len(m.Prefixes) == 0 {
		return in(field, m.Keys)
	}
	var parts bson.A
	if len(m.Keys) > 0 {
		parts = append(parts, in(field, m.Keys))
	}
	for _, p := range m.Prefixes {
		parts = append(parts, regex(field, "^"+regexp.QuoteMeta(p)))
	}
	return anyOf(parts)
}

func stringFilter(field string, c search.Criterion) bson.D {
	switch c.Modifier {
	case "exact":
		var vals []string
		for _, v := range c.Values {
			vals = append(vals, v.Text)
		}
		return in(field+search.SuffixExact, vals)
	case "contains":
		var parts bson.A
		for _, v := range c.Values {
			parts = append(parts, regex(field, regexp.QuoteMeta(search.Normalize(v.Text))))
		}
		return anyOf(parts)
	}
	var parts bson.A
	for _, v := range c.Values {
		parts = append(parts, regex(field, "^"+regexp.QuoteMeta(search.Normalize(v.Text))))
	}
	return anyOf(parts)
}

func referenceFilter(field string, c search.Criterion) bson.D {
	var keys []string
	if c.Modifier == "identifier" {
		return tokenMatch(field+search.SuffixIdentifier, search.TokenMatches(c.Values))
	}
	for _, v := range c.Values {
		keys = append(keys, search.ReferenceKeys(c.Param, c.Modifier, v)...)
	}
	if len(keys) == 0 {
		return never
	}
	return in(field, keys)
}

func uriFilter(field string, c search.Criterion) bson.D {
	var parts bson.A
	for _, v := range c.Values {
		switch c.Modifier {
		case "below":
			parts = append(parts, regex(field, "^"+regexp.QuoteMeta(v.Text)))
		case "above":
			// Every ancestor of the value, at "/" boundaries, and the value itself.
			var ancestors []string
			for i := len(v.Text); i > 0; i = strings.LastIndex(v.Text[:i], "/") {
				if strings.HasSuffix(v.Text[:i], ":/") || strings.HasSuffix(v.Text[:i], ":") {
					break
				}
				ancestors = append(ancestors, v.Text[:i])
			}
			parts = append(parts, in(field, ancestors))
		default:
			parts = append(parts, bson.D{{Key: field, Value: v.Text}})
		}
	}
	return anyOf(parts)
}

// dateFilter compares the resource's range R = [lo, hi) with the value's range V = [Low, High) per the
// prefix definitions of search.html#prefix. For a resource with one date value lo/hi is that value and the
// comparison is exact. For a resource with several (field_r present) lo/hi is their envelope: the filter
// then selects candidates (every resource that may have a matching value) and exactDates.matches decides
// on each value's own range.
func dateFilter(field string, c search.Criterion) bson.D {
	lo, hi, ranges := field+search.SuffixLow, field+search.SuffixHigh, field+search.SuffixRanges
	cmp := func(f, op string, t time.Time) bson.D {
		return bson.D{{Key: f, Value: bson.D{{Key: op, Value: bson.NewDateTimeFromTime(t)}}}}
	}
	and := func(parts ...bson.D) bson.D {
		a := bson.A{}
		for _, p := range parts {
			a = append(a, p)
		}
		return bson.D{{Key: "$and", Value: a}}
	}
	or := func(parts ...bson.D) bson.D {
		a := bson.A{}
		for _, p := range parts {
			a = append(a, p)
		}
		return bson.D{{Key: "$or", Value: a}}
	}
	single := bson.D{{Key: ranges, Value: bson.D{{Key: "$exists", Value: false}}}}
	multi := bson.D{{Key: ranges, Value: bson.D{{Key: "$exists", Value: true}}}}
	var parts bson.A
	for _, v := range c.Values {
		inside := and(cmp(lo, "$gte", v.Low), cmp(hi, "$lte", v.High))
		overlap := and(cmp(lo, "$lt", v.High), cmp(hi, "$gt", v.Low))
		var exact, candidate bson.D
		switch v.Prefix {
		case "ne":
			exact, candidate = or(cmp(lo, "$lt", v.Low), cmp(hi, "$gt", v.High)), multi
		case "gt":
			exact = cmp(hi, "$gt", v.High)
		case "lt":
			exact = cmp(lo, "$lt", v.Low)
		case "ge":
			exact, candidate = or(cmp(hi, "$gt", v.High), inside), or(cmp(hi, "$gt", v.High), overlap)
		case "le":
			exact, candidate = or(cmp(lo, "$lt", v.Low), inside), or(cmp(lo, "$lt", v.Low), overlap)
		case "sa":
			exact, candidate = cmp(lo, "$gte", v.High), cmp(hi, "$gt", v.High)
		case "eb":
			exact, candidate = cmp(hi, "$lte", v.Low), cmp(lo, "$lt", v.Low)
		case "ap":
			pad := search.ApproximatePad(v, time.Now())
			exact = and(cmp(lo, "$lt", v.High.Add(pad)), cmp(hi, "$gt", v.Low.Add(-pad)))
		default:
			exact, candidate = inside, overlap
		}
		if candidate == nil {
			// gt, lt and ap on the envelope are exactly "some value matches".
			parts = append(parts, exact)
			continue
		}
		parts = append(parts, or(and(single, exact), and(multi, candidate)))
	}
	return anyOf(parts)
}

// exactDates are the date criteria whose candidates with several values must be checked one range at a
// time (see dateFilter).
// Number and quantity criteria are checked too (numericExact), with their conditions computed once.
type exactDates []exactCriterion

type exactCriterion struct {
	search.Criterion
	nums  []search.NumCond  // a number or quantity criterion's conditions
	nears []search.NearCond // a near criterion's
}

func exactDatesOf(criteria []search.Criterion) exactDates {
	var out exactDates
	for _, c := range criteria {
		switch {
		case numericExact(c) && c.Param.Type == search.TypeSpecial:
			out = append(out, exactCriterion{Criterion: c, nears: search.NearConds(c)})
		case numericExact(c):
			out = append(out, exactCriterion{Criterion: c, nums: search.NumConds(c)})
		case c.Param != nil && c.Param.Type == search.TypeDate && c.Param.Code != "_lastUpdated" &&
			c.Chain == nil && c.Has == nil && c.Modifier != "missing":
			out = append(out, exactCriterion{Criterion: c})
		}
	}
	return out
}

// projection lists the range fields matches needs.
func (e exactDates) projection() bson.D {
	var out bson.D
	for _, c := range e {
		if numericExact(c.Criterion) {
			out = append(out, bson.E{Key: c.Param.Field + suffixNumLow, Value: 1}, bson.E{Key: c.Param.Field + suffixNumHigh, Value: 1})
			continue
		}
		out = append(out, bson.E{Key: c.Param.Field + search.SuffixRanges, Value: 1})
	}
	return out
}

// matches reports whether a candidate really matches: for every date criterion on which it has several
// values, some value matches some search value.
func (e exactDates) matches(raw bson.Raw) bool {
	now := time.Now()
	for _, c := range e {
		if numericExact(c.Criterion) {
			if c.Param.Type == search.TypeSpecial {
				if !nearMatches(raw, c.Param.Field, c.nears) {
					return false
				}
				continue
			}
			if !numericMatches(raw, c.Param.Field, c.nums) {
				return false
			}
			continue
		}
		arr, ok := raw.Lookup(c.Param.Field + search.SuffixRanges).ArrayOK()
		if !ok {
			continue // one value: the filter was exact
		}
		vals, _ := arr.Values()
		hit := false
		for _, rv := range vals {
			k, _ := rv.StringValueOK()
			lo, hi, ok := search.ParseRangeKey(k)
			if !ok {
				continue
			}
			for _, v := range c.Values {
				if search.DateMatches(lo, hi, v, now) {
					hit = true
				}
			}
		}
		if !hit {
			return false
		}
	}
	return true
}

// count counts the matches of filter; candidates with several dates are checked one by one.
func (s *Store) count(ctx context.Context, typ string, filter bson.D, exact exactDates) (int, error) {
	if len(exact) > 0 && exact.numeric() {
		// Every candidate of a number or quantity criterion is checked (numeric.go).
		return s.countChecked(ctx, typ, filter, exact)
	}
	if len(exact) == 0 {
		n, err := s.countDocs(ctx, typ, filter)
		if err != nil {
			return 0, fmt.Errorf("mongo: count %s: %w", typ, err)
		}
		return int(n), nil
	}
	var none, some bson.A
	for _, c := range exact {
		f := c.Param.Field + search.SuffixRanges
		none = append(none, bson.D{{Key: f, Value: bson.D{{Key: "$exists", Value: false}}}})
		some = append(some, bson.D{{Key: f, Value: bson.D{{Key: "$exists", Value: true}}}})
	}
	n, err := s.db.Collection(typ).CountDocuments(ctx, allOf(filter, bson.D{{Key: "$and", Value: none}}))
	if err != nil {
		return 0, fmt.Errorf("mongo: count %s: %w", typ, err)
	}
	cur, err := s.db.Collection(typ).Find(ctx, allOf(filter, bson.D{{Key: "$or", Value: some}}), options.Find().SetProjection(exact.projection()))
	if err != nil {
		return 0, fmt.Errorf("mongo: count %s: %w", typ, err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		if exact.matches(cur.Current) {
			n++
		}
	}
	if err := cur.Err(); err != nil {
		return 0, fmt.Errorf("mongo: count %s: %w", typ, err)
	}
	return int(n), nil
}

// decodeValues turns keyValues output back into query values.
func decodeValues(vals []any) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		if m, ok := v.(map[string]any); ok {
			switch ms := m["d"].(type) {
			case int64:
				out[i] = bson.DateTime(ms)
			case float64:
				out[i] = bson.DateTime(int64(ms))
			}
			continue
		}
		out[i] = v
	}
	return out
}

// pointDateFilter is dateFilter for a stored instant (meta.lastUpdated): R = [t, t].
func pointDateFilter(field string, c search.Criterion) bson.D {
	cmp := func(op string, t time.Time) bson.D {
		return bson.D{{Key: field, Value: bson.D{{Key: op, Value: bson.NewDateTimeFromTime(t)}}}}
	}
	var parts bson.A
	for _, v := range c.Values {
		eq := bson.D{{Key: "$and", Value: bson.A{cmp("$gte", v.Low), cmp("$lt", v.High)}}}
		switch v.Prefix {
		case "ne":
			parts = append(parts, bson.D{{Key: "$or", Value: bson.A{cmp("$lt", v.Low), cmp("$gte", v.High)}}})
		case "gt", "sa":
			parts = append(parts, cmp("$gte", v.High))
		case "lt", "eb":
			parts = append(parts, cmp("$lt", v.Low))
		case "ge":
			parts = append(parts, cmp("$gte", v.Low))
		case "le":
			parts = append(parts, cmp("$lt", v.High))
		case "ap":
			// As dateFilter: the value's range widened by search.ApproximatePad on both sides.
			pad := search.ApproximatePad(v, time.Now())
			parts = append(parts, bson.D{{Key: "$and", Value: bson.A{cmp("$gte", v.Low.Add(-pad)), cmp("$lt", v.High.Add(pad))}}})
		default:
			parts = append(parts, eq)
		}
	}
	return anyOf(parts)
}

// ids runs criteria on typ and returns the matching ids (at most maxChainIDs).
func (s *Store) ids(ctx context.Context, typ string, criteria []search.Criterion, project string) ([]string, []bson.Raw, error) {
	if !s.serves(typ) {
		return nil, nil, nil
	}
	f, err := s.filter(ctx, typ, criteria)
	if err != nil {
		return nil, nil, err
	}
	exact := exactDatesOf(criteria)
	proj := append(bson.D{{Key: fID, Value: 1}}, exact.projection()...)
	if project != "" {
		proj = append(proj, bson.E{Key: project, Value: 1})
	}
	raws, err := s.find(ctx, typ, f, nil, maxChainIDs+1, proj)
	if err != nil {
		return nil, nil, fmt.Errorf("mongo: chained search on %s: %w", typ, err)
	}
	if len(raws) > maxChainIDs {
		return nil, nil, fmt.Errorf("mongo: chained search on %s matches more than %d resources: %w", typ, maxChainIDs, storage.ErrTooCostly)
	}
	var out []string
	kept := raws[:0]
	for _, r := range raws {
		if !exact.matches(r) {
			continue
		}
		kept = append(kept, r)
		if id, ok := r.Lookup(fID).StringValueOK(); ok {
			out = append(out, id)
		}
	}
	return out, kept, nil
}

func (s *Store) serves(typ string) bool {
	for _, t := range s.types {
		if t == typ {
			return true
		}
	}
	return false
}

// chain resolves a chained criterion (patient.family=x): the ids of matching resources of the chained type
// become a reference condition on field.
func (s *Store) chain(ctx context.Context, field string, c search.Criterion) (bson.D, error) {
	ids, _, err := s.ids(ctx, c.Chain.Type, []search.Criterion{c.Chain.Criterion}, "")
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return never, nil
	}
	refs := make([]string, len(ids))
	for i, id := range ids {
		refs[i] = c.Chain.Type + "/" + id
	}
	return in(field, refs), nil
}

// has resolves a reverse chain: resources of h.Type meeting h.Criterion whose h.Ref points at typ.
func (s *Store) has(ctx context.Context, typ string, h *search.Has) (bson.D, error) {
	_, raws, err := s.ids(ctx, h.Type, []search.Criterion{h.Criterion}, h.Ref.Field)
	if err != nil {
		return nil, err
	}
	prefix := typ + "/"
	seen := map[string]bool{}
	var ids []string
	for _, r := range raws {
		arr, ok := r.Lookup(h.Ref.Field).ArrayOK()
		if !ok {
			continue
		}
		vals, _ := arr.Values()
		for _, v := range vals {
			ref, ok := v.StringValueOK()
			if ok && strings.HasPrefix(ref, prefix) && !seen[ref] {
				seen[ref] = true
				ids = append(ids, strings.TrimPrefix(ref, prefix))
			}
		}
	}
	if len(ids) == 0 {
		return never, nil
	}
	return in(fID, ids), nil
}
