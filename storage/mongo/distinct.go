package mongo

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Distinct returns, for each search-index field, the distinct string values the current, non-deleted
// resources of typ hold, sorted.
//
// It is one aggregation per call — match the current documents, group them by the combination of the
// fields' values — and the distinct values are collected from the groups here. FerretDB v1.24 scans the
// collection for a distinct command as for an aggregation (measured: ~60 µs per document either way,
// 2,000 Patients), so one grouped scan costs a third of three distinct commands; it has no $addToSet
// accumulator, hence the grouping by combination, whose number is small for tags, labels and profiles.
//
// It is fenced against transactions like a search (isolation.go): run again when one on typ committed
// meanwhile.
func (s *Store) Distinct(ctx context.Context, typ string, fields ...string) (map[string][]string, error) {
	var out map[string][]string
	err := s.isolated(ctx, []string{typ}, func(ctx context.Context) error {
		var err error
		out, err = s.distinct(ctx, typ, fields)
		return err
	}, func(context.Context, []*flight) (bool, error) { return true, nil })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// distinct runs Distinct once.
func (s *Store) distinct(ctx context.Context, typ string, fields []string) (map[string][]string, error) {
	if !s.serves(typ) {
		return nil, fmt.Errorf("mongo: distinct: type %q is not stored", typ)
	}
	out := make(map[string][]string, len(fields))
	if len(fields) == 0 {
		return out, nil
	}
	key := bson.D{}
	for i, f := range fields {
		// Only search-index fields: they hold normalised client values, never the store's own fields.
		if !strings.HasPrefix(f, "s_") {
			return nil, fmt.Errorf("mongo: distinct: %q is not a search-index field", f)
		}
		key = append(key, bson.E{Key: "f" + strconv.Itoa(i), Value: "$" + f})
	}
	pipeline := bson.A{
		bson.D{{Key: "$match", Value: bson.D{{Key: fDeleted, Value: false}}}},
		bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: key}}}},
	}
	cur, err := s.db.Collection(typ).Aggregate(ctx, pipeline)
	if err != nil {
		return nil, fmt.Errorf("mongo: distinct %s: %w", typ, err)
	}
	var groups []struct {
		ID map[string]any `bson:"_id"`
	}
	if err := cur.All(ctx, &groups); err != nil {
		return nil, fmt.Errorf("mongo: distinct %s: %w", typ, err)
	}
	seen := make([]map[string]bool, len(fields))
	for i := range seen {
		seen[i] = map[string]bool{}
	}
	for _, g := range groups {
		for i := range fields {
			switch v := g.ID["f"+strconv.Itoa(i)].(type) {
			case string:
				seen[i][v] = true
			case bson.A:
				for _, e := range v {
					if str, ok := e.(string); ok {
						seen[i][str] = true
					}
				}
			}
		}
	}
	for i, f := range fields {
		values := make([]string, 0, len(seen[i]))
		for v := range seen[i] {
			values = append(values, v)
		}
		sort.Strings(values)
		out[f] = values
	}
	return out, nil
}
