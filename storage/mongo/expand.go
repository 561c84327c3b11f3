package mongo

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// FerretDB v1 evaluates an equality on a top-level field in PostgreSQL, but a filter with $in (or $or)
// makes it read and decode every document of the collection in Go — measured on 3,000 Patients: 5 ms for
// {_id: x}, 320 ms for {_id: {$in: [x, y]}}. Lookups of a few values (an id list, a comma-separated
// search value, a transaction's targets) would cost a full scan each. On FerretDB the store therefore runs
// a filter whose top level has {field: {$in: [a few values]}} as one query per value, each with the
// equality instead, and merges the answers in the requested order (deduplicated by _id: a document with
// several of the values matches several queries). Each sub-query has the same sort and limit, so the first
// `limit` documents of the merge are the first `limit` of the whole. On MongoDB the filter runs as is.

// maxExpand bounds the values of an $in that is run as separate queries; a longer list runs as is.
const maxExpand = 64

// expandParallel bounds the sub-queries of one expanded find in flight at once.
const expandParallel = 8

// expandable returns the position and values of the first top-level {field: {$in: values}} of filter
// with 2..maxExpand values.
func expandable(filter bson.D) (int, []any, bool) {
	for i, e := range filter {
		if len(e.Key) > 0 && e.Key[0] == '$' {
			continue
		}
		d, ok := e.Value.(bson.D)
		if !ok || len(d) != 1 || d[0].Key != "$in" {
			continue
		}
		var values []any
		switch v := d[0].Value.(type) {
		case []string:
			for _, s := range v {
				values = append(values, s)
			}
		case bson.A:
			values = append(values, v...)
		case []any:
			values = append(values, v...)
		default:
			continue
		}
		if len(values) >= 2 && len(values) <= maxExpand {
			return i, values, true
		}
	}
	return 0, nil, false
}

// withValue returns filter with its element i replaced by the equality field = v.
func withValue(filter bson.D, i int, v any) bson.D {
	out := slices.Clone(filter)
	out[i] = bson.E{Key: filter[i].Key, Value: v}
	return out
}

// find returns the documents of coll matching filter in sort order (nil: any), at most limit (0: all),
// with projection (nil: whole documents) — expanding a top-level $in on FerretDB (see above).
func (s *Store) find(ctx context.Context, coll string, filter, sort bson.D, limit int64, projection bson.D) ([]bson.Raw, error) {
	i, values, ok := expandable(filter)
	if !s.ferret || !ok {
		return s.findOnce(ctx, coll, filter, sort, limit, projection)
	}
	if projection != nil && !hasKey(projection, fID) {
		projection = append(slices.Clone(projection), bson.E{Key: fID, Value: 1})
	}
	parts := make([][]bson.Raw, len(values))
	errs := make([]error, len(values))
	sem := make(chan struct{}, expandParallel)
	var wg sync.WaitGroup
	for k, v := range values {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			parts[k], errs[k] = s.findOnce(ctx, coll, withValue(filter, i, v), sort, limit, projection)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	var all []bson.Raw
	for _, part := range parts {
		for _, raw := range part {
			id := raw.Lookup(fID).String()
			if seen[id] {
				continue
			}
			seen[id] = true
			all = append(all, raw)
		}
	}
	if len(sort) > 0 {
		slices.SortStableFunc(all, func(a, b bson.Raw) int { return compareBy(sort, a, b) })
	}
	if limit > 0 && int64(len(all)) > limit {
		all = all[:limit]
	}
	return all, nil
}

func (s *Store) findOnce(ctx context.Context, coll string, filter, sort bson.D, limit int64, projection bson.D) ([]bson.Raw, error) {
	opts := options.Find()
	if sort != nil {
		opts.SetSort(sort)
	}
	if limit > 0 {
		opts.SetLimit(limit)
	}
	if projection != nil {
		opts.SetProjection(projection)
	}
	cur, err := s.db.Collection(coll).Find(ctx, filter, opts)
	if err != nil {
		return nil, fmt.Errorf("mongo: find in %s: %w", coll, err)
	}
	var out []bson.Raw
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("mongo: find in %s: %w", coll, err)
	}
	return out, nil
}

// countDocs counts the documents of coll matching filter, expanding a top-level $in on FerretDB (the
// union of the _ids each value matches).
func (s *Store) countDocs(ctx context.Context, coll string, filter bson.D) (int64, error) {
	if _, _, ok := expandable(filter); !s.ferret || !ok {
		n, err := s.db.Collection(coll).CountDocuments(ctx, filter)
		if err != nil {
			return 0, fmt.Errorf("mongo: count in %s: %w", coll, err)
		}
		return n, nil
	}
	ids, err := s.find(ctx, coll, filter, nil, 0, bson.D{{Key: fID, Value: 1}})
	return int64(len(ids)), err
}

func hasKey(d bson.D, key string) bool {
	for _, e := range d {
		if e.Key == key {
			return true
		}
	}
	return false
}

// compareBy orders two documents by sort keys ({field: 1 | -1}) the way MongoDB does for the values
// careflow sorts on: missing and null first, then numbers, strings (binary order), dates; other types by
// their BSON type.
func compareBy(sort bson.D, a, b bson.Raw) int {
	for _, k := range sort {
		dir := 1
		switch v := k.Value.(type) {
		case int:
			if v < 0 {
				dir = -1
			}
		case int32:
			if v < 0 {
				dir = -1
			}
		case int64:
			if v < 0 {
				dir = -1
			}
		}
		if c := compareValues(a.Lookup(k.Key), b.Lookup(k.Key)); c != 0 {
			return c * dir
		}
	}
	return 0
}

// typeRank is MongoDB's comparison order of BSON types (the ones careflow stores).
func typeRank(v bson.RawValue) int {
	switch v.Type {
	case 0, bson.TypeNull, bson.TypeUndefined:
		return 1
	case bson.TypeInt32, bson.TypeInt64, bson.TypeDouble, bson.TypeDecimal128:
		return 2
	case bson.TypeString, bson.TypeSymbol:
		return 3
	case bson.TypeEmbeddedDocument:
		return 4
	case bson.TypeArray:
		return 5
	case bson.TypeBinary:
		return 6
	case bson.TypeObjectID:
		return 7
	case bson.TypeBoolean:
		return 8
	case bson.TypeDateTime:
		return 9
	case bson.TypeTimestamp:
		return 10
	}
	return 11
}

func compareValues(a, b bson.RawValue) int {
	ra, rb := typeRank(a), typeRank(b)
	if ra != rb {
		return ra - rb
	}
	switch ra {
	case 1:
		return 0
	case 2:
		fa, fb := number(a), number(b)
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	case 3:
		return bytes.Compare([]byte(a.StringValue()), []byte(b.StringValue()))
	case 8:
		x, y := a.Boolean(), b.Boolean()
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case 9:
		x, y := a.DateTime(), b.DateTime()
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return bytes.Compare(a.Value, b.Value)
}

func number(v bson.RawValue) float64 {
	switch v.Type {
	case bson.TypeInt32:
		return float64(v.Int32())
	case bson.TypeInt64:
		return float64(v.Int64())
	case bson.TypeDouble:
		return v.Double()
	}
	return 0
}
