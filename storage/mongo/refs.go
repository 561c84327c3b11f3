package mongo

import (
	"context"
	"fmt"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/careflow/careflow/fhir/search"
)

// refsIndex is the index on search.RefsField that makes Referrers a lookup, not a scan.
var refsIndex = index{"refs", bson.D{{Key: search.RefsField, Value: 1}}}

// Exists implements storage.Store: one query on the type's collection (on FerretDB one more, on the
// transactions in flight).
func (s *Store) Exists(ctx context.Context, typ string, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	readAt := time.Now()
	raws, err := s.find(ctx, typ, in(fID, ids), nil, 0, bson.D{{Key: fVersion, Value: 1}, {Key: fDeleted, Value: 1}, {Key: fTx, Value: 1}})
	if err != nil {
		return nil, fmt.Errorf("mongo: exists %s: %w", typ, err)
	}
	// On FerretDB unmarked documents are checked against the transactions in flight (isolation.go,
	// unmarked): listed once for all of them.
	var touched map[string]bool
	if s.ferret && len(raws) > 0 {
		if touched, err = s.inFlightTargets(ctx, typ); err != nil {
			return nil, err
		}
	}
	for _, raw := range raws {
		d := &doc{}
		if err := bson.Unmarshal(raw, d); err != nil {
			return nil, fmt.Errorf("mongo: exists %s: %w", typ, err)
		}
		id := d.ID
		if d.Tx == "" {
			d, err = s.unmarked(ctx, typ, id, d, touched, readAt)
		} else {
			d, err = s.visible(ctx, typ, id, d)
		}
		if err != nil {
			return nil, err
		}
		if d != nil && d.VersionID > 0 { // version 0: a placeholder of an uncommitted transaction
			out[id] = !d.Deleted
		}
	}
	return out, nil
}

// Referrers implements storage.Store: per type, one indexed find of at most limit ids, and a count only
// when that find is full. Deleted versions and transaction placeholders carry no index fields, so only
// current resources match. It is fenced like a search (isolation.go): it runs again when a transaction
// committed while it ran, so it holds all or nothing of every transaction.
func (s *Store) Referrers(ctx context.Context, keys []string, limit int) ([]string, int, error) {
	if len(keys) == 0 {
		return nil, 0, nil
	}
	var refs []string
	var total int
	err := s.isolated(ctx, s.types, func(ctx context.Context) error {
		var err error
		refs, total, err = s.referrers(ctx, keys, limit)
		return err
	}, func(context.Context, []*flight) (bool, error) { return true, nil })
	if err != nil {
		return nil, 0, err
	}
	return refs, total, nil
}

// referrers runs Referrers once.
func (s *Store) referrers(ctx context.Context, keys []string, limit int) ([]string, int, error) {
	filter := in(search.RefsField, keys)
	var refs []string
	total := 0
	for _, typ := range s.types {
		raws, err := s.find(ctx, typ, filter, bson.D{{Key: fID, Value: 1}}, int64(max(limit, 0)), bson.D{{Key: fID, Value: 1}})
		if err != nil {
			return nil, 0, fmt.Errorf("mongo: referrers of %v in %s: %w", keys, typ, err)
		}
		var docs []struct {
			ID string `bson:"_id"`
		}
		for _, raw := range raws {
			var d struct {
				ID string `bson:"_id"`
			}
			if err := bson.Unmarshal(raw, &d); err != nil {
				return nil, 0, fmt.Errorf("mongo: referrers of %v in %s: %w", keys, typ, err)
			}
			docs = append(docs, d)
		}
		n := len(docs)
		if limit > 0 && n == limit {
			c, err := s.countDocs(ctx, typ, filter)
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
