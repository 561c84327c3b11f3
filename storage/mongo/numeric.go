package mongo

import (
	"context"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/careflow/careflow/fhir/search"
)

// Number and quantity values (search.NumKey: a unit key and a value's closed range [lo, hi]) are stored in
// the document as two arrays of strings, field_q+"l" with unit key·lo and field_q+"h" with unit key·hi,
// each number rendered by search.NumSortKey (fixed width, ordered as the numbers) after the unit key and a
// separator no unit key holds (parse refuses control characters): every comparison is a string range
// within one unit key, $elemMatch on one array, indexed by one single-field index per array. (FerretDB v1
// has no $elemMatch on the fields of subdocuments, so a {u, lo, hi} subdocument could not be queried.)
//
// The filter selects candidates; every candidate is then checked value by value (numericMatches), so the
// results are exactly the embedded store's (see numericExact).
const (
	suffixNumLow  = search.SuffixNumeric + "l"
	suffixNumHigh = search.SuffixNumeric + "h"
	numSep        = "\x1f"
)

// numericIndexes are the indexes of a number or quantity parameter.
func numericIndexes(field string) []index {
	lo, hi := field+suffixNumLow, field+suffixNumHigh
	return []index{{lo, bson.D{{Key: lo, Value: 1}}}, {hi, bson.D{{Key: hi, Value: 1}}}}
}

// indexFields are the document fields of one index field: itself, but for a number or quantity field the
// two arrays above.
func indexFields(k string, v any) []bson.E {
	nums, ok := v.([]search.NumKey)
	if !ok || !strings.HasSuffix(k, search.SuffixNumeric) {
		return []bson.E{{Key: k, Value: v}}
	}
	base := strings.TrimSuffix(k, search.SuffixNumeric)
	lo, hi := make([]string, len(nums)), make([]string, len(nums))
	for i, n := range nums {
		lo[i], hi[i] = numKey(n.U, n.Lo), numKey(n.U, n.Hi)
	}
	return []bson.E{{Key: base + suffixNumLow, Value: lo}, {Key: base + suffixNumHigh, Value: hi}}
}

// maxNumericTerms is the most values a number or quantity criterion is filtered by one by one; beyond, by
// unit key only (numericFilter).
const maxNumericTerms = 32

func numKey(u string, f float64) string { return u + numSep + search.NumSortKey(f) }

// presenceField is the field whose presence means a resource has a value for p (:missing).
func presenceField(p *search.Param, field string) string {
	switch {
	case p.Type == search.TypeDate && field != fLastUpdated:
		return field + search.SuffixLow
	case p.Numeric():
		return field + suffixNumLow
	}
	return field
}

// numericFilter matches a resource with a value meeting one of the criterion's values (search.NumCond
// spells the comparisons).
func numericFilter(field string, c search.Criterion) bson.D {
	lo, hi := field+suffixNumLow, field+suffixNumHigh
	var parts bson.A
	conds := search.NumConds(c)
	if len(conds) > maxNumericTerms {
		// Many values: FerretDB evaluates an $or of a thousand $elemMatch on every document (minutes for
		// the many-values suite). Candidates are checked value by value anyway (numericMatches), so select
		// those with any value in one of the unit keys: one index range per unit key.
		seen := map[string]bool{}
		for _, n := range conds {
			for _, u := range n.Units {
				if !seen[u] {
					seen[u] = true
					parts = append(parts, bson.D{{Key: lo, Value: bson.D{{Key: "$elemMatch", Value: bson.D{{Key: "$gte", Value: u + numSep}, {Key: "$lt", Value: u + numSep + "~"}}}}}})
				}
			}
		}
		return anyOf(parts)
	}
	for _, n := range conds {
		for _, u := range n.Units {
			// Bounds within unit key u: [first, last) holds every value.
			first, last := u+numSep, u+numSep+"~"
			at := func(f float64) string { return numKey(u, f) }
			// after(f) is the least key above f's: f's key then anything ("~" follows the hex digits).
			after := func(f float64) string { return numKey(u, f) + "~" }
			rng := func(field, from, to string) bson.D {
				return bson.D{{Key: field, Value: bson.D{{Key: "$elemMatch", Value: bson.D{{Key: "$gte", Value: from}, {Key: "$lt", Value: to}}}}}}
			}
			both := func(a, b bson.D) bson.D { return bson.D{{Key: "$and", Value: bson.A{a, b}}} }
			switch n.Prefix {
			case "ne":
				parts = append(parts, rng(lo, first, at(n.L)), rng(hi, at(n.H), last))
			case "gt":
				parts = append(parts, rng(hi, after(n.V), last))
			case "ge":
				parts = append(parts, rng(hi, at(n.V), last))
			case "lt":
				parts = append(parts, rng(lo, first, at(n.V)))
			case "le":
				parts = append(parts, rng(lo, first, after(n.V)))
			case "sa":
				parts = append(parts, rng(lo, at(n.H), last))
			case "eb":
				parts = append(parts, rng(hi, first, at(n.L)))
			case "ap":
				parts = append(parts, both(rng(lo, first, after(n.ApHi)), rng(hi, at(n.ApLo), last)))
			default:
				parts = append(parts, both(rng(lo, at(n.L), at(n.H)), rng(hi, at(n.L), at(n.H))))
			}
		}
	}
	if len(parts) == 0 {
		return never
	}
	return anyOf(parts)
}

// numericExact reports whether c is a number or quantity criterion whose candidates the store checks one
// by one (exactDates): FerretDB v1 evaluates the comparisons of an $elemMatch on an array of strings each
// on any element, not all on one, so the filter may select resources where a value of another unit key
// (or another value) meets one bound and a third the other. The filter is exact on MongoDB, and the check
// makes both the same.
func numericExact(c search.Criterion) bool {
	return c.Param != nil && c.Param.Numeric() &&
		c.Chain == nil && c.Has == nil && c.Modifier != "missing"
}

// numeric reports whether e holds a number or quantity criterion.
func (e exactDates) numeric() bool {
	for _, c := range e {
		if numericExact(c.Criterion) {
			return true
		}
	}
	return false
}

// numericMatches checks a candidate's stored values of field (the two arrays, pairwise) against a
// criterion's conditions.
func numericMatches(raw bson.Raw, field string, conds []search.NumCond) bool {
	lv, hv, ok := numArrays(raw, field)
	if !ok {
		return false
	}
	for i := range lv {
		ls, _ := lv[i].StringValueOK()
		hs, _ := hv[i].StringValueOK()
		u, lo, okL := parseNumKey(ls)
		_, hi, okH := parseNumKey(hs)
		if !okL || !okH {
			continue
		}
		for _, n := range conds {
			for _, nu := range n.Units {
				if nu == u && n.Matches(lo, hi) {
					return true
				}
			}
		}
	}
	return false
}

// numArrays returns a document's two arrays of field's numeric keys (low and high, pairwise), false when
// they are missing or of different lengths.
func numArrays(raw bson.Raw, field string) (lv, hv []bson.RawValue, ok bool) {
	los, ok1 := raw.Lookup(field + suffixNumLow).ArrayOK()
	his, ok2 := raw.Lookup(field + suffixNumHigh).ArrayOK()
	if !ok1 || !ok2 {
		return nil, nil, false
	}
	lv, _ = los.Values()
	hv, _ = his.Values()
	return lv, hv, len(lv) == len(hv)
}

// nearFilter selects the resources whose position's latitude and longitude (unit key "g": f_ql holds
// the latitude, f_qh the longitude) are in the box of one of the criterion's points; nearMatches keeps
// those within the distance.
func nearFilter(field string, c search.Criterion) bson.D {
	lo, hi := field+suffixNumLow, field+suffixNumHigh
	g := search.NearUnits[0]
	rng := func(field string, from, to float64) bson.D {
		return bson.D{{Key: field, Value: bson.D{{Key: "$elemMatch", Value: bson.D{{Key: "$gte", Value: numKey(g, from)}, {Key: "$lte", Value: numKey(g, to)}}}}}}
	}
	var parts bson.A
	for _, n := range search.NearConds(c) {
		var lons bson.A
		for _, r := range n.Lon {
			lons = append(lons, rng(hi, r[0], r[1]))
		}
		parts = append(parts, bson.D{{Key: "$and", Value: bson.A{rng(lo, n.LatLo, n.LatHi), anyOf(lons)}}})
	}
	if len(parts) == 0 {
		return never
	}
	return anyOf(parts)
}

// nearMatches checks a candidate's unit vector (unit keys "v": x, y and "w": z) against the points.
func nearMatches(raw bson.Raw, field string, conds []search.NearCond) bool {
	lv, hv, ok := numArrays(raw, field)
	if !ok {
		return false
	}
	var x, y, z float64
	found := 0
	for i := range lv {
		ls, _ := lv[i].StringValueOK()
		hs, _ := hv[i].StringValueOK()
		u, l, okL := parseNumKey(ls)
		_, h, okH := parseNumKey(hs)
		if !okL || !okH {
			continue
		}
		switch u {
		case search.NearUnits[1]:
			x, y = l, h
			found++
		case search.NearUnits[2]:
			z = l
			found++
		}
	}
	if found != 2 {
		return false
	}
	for _, n := range conds {
		if n.Matches(x, y, z) {
			return true
		}
	}
	return false
}

// parseNumKey inverts numKey.
func parseNumKey(k string) (unit string, f float64, ok bool) {
	i := strings.LastIndex(k, numSep)
	if i < 0 {
		return "", 0, false
	}
	f, ok = search.ParseNumSortKey(k[i+len(numSep):])
	return k[:i], f, ok
}

// countChecked counts the candidates of filter that exact.matches keeps.
func (s *Store) countChecked(ctx context.Context, typ string, filter bson.D, exact exactDates) (int, error) {
	cur, err := s.db.Collection(typ).Find(ctx, filter, options.Find().SetProjection(exact.projection()))
	if err != nil {
		return 0, fmt.Errorf("mongo: count %s: %w", typ, err)
	}
	defer cur.Close(ctx)
	n := 0
	for cur.Next(ctx) {
		if exact.matches(cur.Current) {
			n++
		}
	}
	if err := cur.Err(); err != nil {
		return 0, fmt.Errorf("mongo: count %s: %w", typ, err)
	}
	return n, nil
}
