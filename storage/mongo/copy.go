package mongo

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/careflow/careflow/storage"
)

// ImportResource replaces whatever the store holds for typ/id with exactly versions — the resource's
// complete history, oldest first, as another store lists it (careflow copy) — keeping their version
// numbers, lastUpdated, methods, deletions and bodies byte for byte, and indexes the current version with
// index (search values as search.Registry.Index extracts them; none when that version is a deletion).
//
// The documents follow the store's layout as its own writes leave it, settled (no transaction marks):
// a resource with only a version 1 is its current-version document, visible to the change feed through
// it; otherwise every version is in history, visible there, and the current-version document repeats
// the last one with a null visibility. The visibility instant is the time of the import, so the feed
// lists the versions as written now, while their lastUpdated stays the original one.
//
// Without multi-document transactions, the current-version document is written last and commits the
// import: the resource's history documents are first removed and inserted anew. A run interrupted
// before that leaves the previous current version (or none) in place, so that a copy run again — which
// skips only resources whose current version is already the source's — imports the resource again and
// ends as an uninterrupted one would. Readers of the store during an import may meet its history half
// replaced: copy into a store that is not serving.
func (s *Store) ImportResource(ctx context.Context, typ, id string, versions []*storage.Version, index map[string]any) error {
	if err := storage.CheckImport(typ, id, versions, index); err != nil {
		return err
	}
	if !slices.Contains(s.types, typ) {
		return fmt.Errorf("mongo: import %s/%s: %s is not one of the store's resource types", typ, id, typ)
	}
	if err := s.ensureTypes(ctx, typ); err != nil {
		return fmt.Errorf("mongo: import %s/%s: %w", typ, id, err)
	}
	hist := s.db.Collection(historyCollection)
	last := versions[len(versions)-1]
	// alone: a resource only ever created, which Create leaves as its current-version document alone.
	alone := len(versions) == 1 && last.VersionID == 1
	vis := s.visibleNow()

	if _, err := hist.DeleteMany(ctx, bson.D{{Key: fType, Value: typ}, {Key: fResourceID, Value: id}}); err != nil {
		return fmt.Errorf("mongo: import %s/%s: remove the history held: %w", typ, id, err)
	}
	if !alone {
		docs := make([]any, 0, len(versions))
		for _, v := range versions {
			docs = append(docs, historyDoc(typ, importDoc(v, id, &vis)))
		}
		if _, err := hist.InsertMany(ctx, docs); err != nil {
			return fmt.Errorf("mongo: import %s/%s: store the versions: %w", typ, id, err)
		}
	}
	var curVis *time.Time
	if alone {
		curVis = &vis
	}
	cur := importDoc(last, id, curVis)
	if !last.Deleted {
		for k, v := range index {
			cur = append(cur, bson.E{Key: k, Value: v})
		}
	}
	if _, err := s.db.Collection(typ).ReplaceOne(ctx, bson.D{{Key: fID, Value: id}}, cur, options.Replace().SetUpsert(true)); err != nil {
		return fmt.Errorf("mongo: import %s/%s: store the current version: %w", typ, id, err)
	}
	return s.importedLate(ctx, typ, id, alone, vis)
}

// importDoc is the current-version document of v (as currentDoc builds them, without the search values),
// visible to the change feed at vis (nil: null).
func importDoc(v *storage.Version, id string, vis *time.Time) bson.D {
	var visible any // null
	if vis != nil {
		visible = bson.NewDateTimeFromTime(*vis)
	}
	d := bson.D{
		{Key: fID, Value: id},
		{Key: fVersion, Value: v.VersionID},
		{Key: fLastUpdated, Value: bson.NewDateTimeFromTime(v.LastUpdated)},
		{Key: fVisible, Value: visible},
		{Key: fDeleted, Value: v.Deleted},
		{Key: fMethod, Value: v.Method},
	}
	if !v.Deleted {
		d = append(d, bson.E{Key: fBody, Value: string(v.Body)})
	}
	return d
}

// importedLate moves the imported versions forward in the change feed, as revealAgain does for a write,
// when the import became visible too late for the feed's settle window.
func (s *Store) importedLate(ctx context.Context, typ, id string, alone bool, was time.Time) error {
	for attempt := 1; s.visibleLate(was); attempt++ {
		if attempt > revealAttempts {
			return fmt.Errorf("mongo: import %s/%s: still visible too late for the change feed after %d attempts", typ, id, revealAttempts)
		}
		s.log.Warn("an imported resource became visible too late for the change feed's settle window; listing it again",
			"type", typ, "id", id, "visible", was, "late", s.now().Sub(was).String(), "settle", s.feedSettle.String())
		at := s.visibleNow()
		set := bson.D{{Key: "$set", Value: bson.D{{Key: fVisible, Value: bson.NewDateTimeFromTime(at)}}}}
		var err error
		if alone {
			_, err = s.db.Collection(typ).UpdateOne(ctx, bson.D{{Key: fID, Value: id}, {Key: fVisible, Value: bson.NewDateTimeFromTime(was)}}, set)
		} else {
			_, err = s.db.Collection(historyCollection).UpdateMany(ctx,
				bson.D{{Key: fType, Value: typ}, {Key: fResourceID, Value: id}, {Key: fVisible, Value: bson.NewDateTimeFromTime(was)}}, set)
		}
		if err != nil {
			return fmt.Errorf("mongo: import %s/%s: list it again in the change feed: %w", typ, id, err)
		}
		was = at
	}
	return nil
}
