package mongo

import (
	"context"
	"fmt"
	"sort"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/careflow/careflow/fhir/search"
)

// refsIndex is the index on search.RefsField that makes Referrers a lookup, not a scan.
var refsIndex = index{"refs", bson.D{{Key: search.RefsField, Value: 1}}}

// Exists implements storage.Store: one query on the type's collection.
func (s *Store) Exists(ctx context.Context, typ string, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	cur, err := s.db.Collection(typ).Find(ctx, in(fID, ids),
		options.Find().SetProjection(bson.D{{Key: fVersion, Value: 1}, {Key: fDeleted, Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongo: exists %s: %w", typ, err)
	}
	var docs []struct {
		ID        string `bson:"_id"`
		VersionID int64  `bson:"vid"`
		Deleted   bool   `bson:"del"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongo: exists %s: %w", typ, err)
	}
	for _, d := range docs {
		if d.VersionID > 0 { // version 0: a placeholder of an uncommitted transaction
			out[d.ID] = !d.Deleted
		}
	}
	return out, nil
}

// Referrers implements storage.Store: per type, one indexed find of at most limit ids, and a count only
// when that find is full. Deleted versions and transaction placeholders carry no index fields, so only
// current resources match.
func (s *Store) Referrers(ctx context.Context, keys []string, limit int) ([]string, int, error) {
	if len(keys) == 0 {
		return nil, 0, nil
	}
	filter := in(search.RefsField, keys)
	var refs []string
	total := 0
	for _, typ := range s.types {
		opts := options.Find().SetProjection(bson.D{{Key: fID, Value: 1}}).SetSort(bson.D{{Key: fID, Value: 1}})
		if limit > 0 {
			opts.SetLimit(int64(limit))
		}
		cur, err := s.db.Collection(typ).Find(ctx, filter, opts)
		if err != nil {
			return nil, 0, fmt.Errorf("mongo: referrers of %v in %s: %w", keys, typ, err)
		}
		var docs []struct {
			ID string `bson:"_id"`
		}
		if err := cur.All(ctx, &docs); err != nil {
			return nil, 0, fmt.Errorf("mongo: referrers of %v in %s: %w", keys, typ, err)
		}
		n := len(docs)
		if limit > 0 && n == limit {
			c, err := s.db.Collection(typ).CountDocuments(ctx, filter)
			if err != nil {
				return nil, 0, fmt.Errorf("mongo: count referrers of %v in %s: %w", keys, typ, err)
			}
			n = int(c)
		}
		total += n
		for _, d := range docs {
			refs = append(refs, typ+"/"+d.ID)
		}
	}
	sort.Strings(refs)
	if limit > 0 && len(refs) > limit {
		refs = refs[:limit]
	}
	return refs, total, nil
}
