package mongo

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/careflow/careflow/storage"
)

// collections tracks which resource types' collections have their indexes. careflow serves every R4
// resource type (about 145), each with a collection of its own and up to 37 indexes (three of the store's,
// one per indexed search parameter, two per date parameter; Observation has the most): creating them all
// at start-up would cost thousands of index builds for types a deployment never uses. A type's indexes are
// created when the store first writes the type (MongoDB creates the collection with the first insert), and
// at start-up only for the types whose collection exists already. Until then the type has no documents,
// so its searches, which find none, need no index.
type collections struct {
	mu    sync.Mutex
	ready map[string]bool // guarded by mu
}

// currentIndexes are the indexes of a type's collection: the store's own, and with s.searchIndexes one per
// search-parameter field (searchParamIndexes).
func (s *Store) currentIndexes(typ string) []index {
	cur := []index{
		{"last_updated", bson.D{{Key: fLastUpdated, Value: -1}, {Key: fID, Value: -1}}},
		{"feed", bson.D{{Key: fVisible, Value: -1}, {Key: fLastUpdated, Value: -1}, {Key: fID, Value: -1}, {Key: fVersion, Value: -1}}},
		refsIndex,
	}
	if s.searchIndexes {
		cur = append(cur, s.searchParamIndexes(typ)...)
	}
	return cur
}

// ensureExistingTypes creates the missing indexes of the served types whose collection exists.
func (s *Store) ensureExistingTypes(ctx context.Context) error {
	names, err := s.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("mongo: list collections: %w", err)
	}
	var present []string
	for _, t := range s.types {
		if slices.Contains(names, t) {
			present = append(present, t)
		}
	}
	return s.ensureTypes(ctx, present...)
}

// ensureTypes creates the indexes of the given served types' collections once per store (the first write
// of each type); it is cheap afterwards. Types the store does not serve are left to the caller's checks.
func (s *Store) ensureTypes(ctx context.Context, types ...string) error {
	s.cols.mu.Lock()
	defer s.cols.mu.Unlock()
	if s.cols.ready == nil {
		s.cols.ready = map[string]bool{}
	}
	for _, t := range types {
		if s.cols.ready[t] || !slices.Contains(s.types, t) {
			continue
		}
		err := s.createIndexes(ctx, t, s.currentIndexes(t))
		if err != nil {
			// Another instance sharing the database may have created them meanwhile: asked for an
			// existing index, FerretDB v1.24 drops the connection. Listing again finds them.
			s.log.Debug("creating a collection's indexes failed; trying again", "type", t, "err", err)
			err = s.createIndexes(ctx, t, s.currentIndexes(t))
		}
		if err != nil {
			return err
		}
		s.cols.ready[t] = true
	}
	return nil
}

// opTypes lists the resource types of a transaction's operations.
func opTypes(ops []storage.TxOp) []string {
	var types []string
	for _, op := range ops {
		if !slices.Contains(types, op.Write.Type) {
			types = append(types, op.Write.Type)
		}
	}
	return types
}
