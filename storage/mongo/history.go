package mongo

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/careflow/careflow/storage"
)

// History orders versions newest first by (lastUpdated, type, id, version), all descending. That order is
// total, so a keyset cursor holding the last key served pages stably: versions written after the first page
// sort before it and never shift later pages; nothing is skipped or repeated, and no page costs a skip.
type historyKey struct {
	lu      time.Time
	typ, id string
	vid     int64
}

func keyOf(v *storage.Version) historyKey {
	return historyKey{v.LastUpdated, v.Type, v.ID, v.VersionID}
}

// less reports whether a sorts after b in history order (is older).
func (a historyKey) less(b historyKey) bool {
	if !a.lu.Equal(b.lu) {
		return a.lu.Before(b.lu)
	}
	if a.typ != b.typ {
		return a.typ < b.typ
	}
	if a.id != b.id {
		return a.id < b.id
	}
	return a.vid < b.vid
}

func (k historyKey) encode() string {
	s := strconv.FormatInt(k.lu.UnixMilli(), 10) + "\x00" + k.typ + "\x00" + k.id + "\x00" + strconv.FormatInt(k.vid, 10)
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func decodeKey(c string) (historyKey, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return historyKey{}, storage.ErrBadCursor
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 4 {
		return historyKey{}, storage.ErrBadCursor
	}
	ms, err1 := strconv.ParseInt(parts[0], 10, 64)
	vid, err2 := strconv.ParseInt(parts[3], 10, 64)
	if err1 != nil || err2 != nil {
		return historyKey{}, storage.ErrBadCursor
	}
	return historyKey{time.UnixMilli(ms).UTC(), parts[1], parts[2], vid}, nil
}

// olderThanInType is the filter "key < after" for documents of one type, whose id field is idField.
func olderThanInType(after historyKey, typ, idField string) bson.D {
	lu := bson.NewDateTimeFromTime(after.lu)
	switch {
	case typ < after.typ:
		return bson.D{{Key: fLastUpdated, Value: bson.D{{Key: "$lte", Value: lu}}}}
	case typ > after.typ:
		return bson.D{{Key: fLastUpdated, Value: bson.D{{Key: "$lt", Value: lu}}}}
	}
	return bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: fLastUpdated, Value: bson.D{{Key: "$lt", Value: lu}}}},
		bson.D{{Key: fLastUpdated, Value: lu}, {Key: idField, Value: bson.D{{Key: "$lt", Value: after.id}}}},
		bson.D{{Key: fLastUpdated, Value: lu}, {Key: idField, Value: after.id}, {Key: fVersion, Value: bson.D{{Key: "$lt", Value: after.vid}}}},
	}}}
}

// olderThan is the filter "key < after" for history documents (any type).
func olderThan(after historyKey) bson.D {
	lu := bson.NewDateTimeFromTime(after.lu)
	return bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: fLastUpdated, Value: bson.D{{Key: "$lt", Value: lu}}}},
		bson.D{{Key: fLastUpdated, Value: lu}, {Key: fType, Value: bson.D{{Key: "$lt", Value: after.typ}}}},
		bson.D{{Key: fLastUpdated, Value: lu}, {Key: fType, Value: after.typ}, {Key: fResourceID, Value: bson.D{{Key: "$lt", Value: after.id}}}},
		bson.D{{Key: fLastUpdated, Value: lu}, {Key: fType, Value: after.typ}, {Key: fResourceID, Value: after.id}, {Key: fVersion, Value: bson.D{{Key: "$lt", Value: after.vid}}}},
	}}}
}

// History implements storage.Store: type and system history are the change feed (feed.go); instance
// history lists by lastUpdated (instanceHistory).
func (s *Store) History(ctx context.Context, q storage.HistoryQuery) (*storage.HistoryPage, error) {
	if q.Count <= 0 {
		return nil, fmt.Errorf("mongo: history: count must be positive")
	}
	if q.ID == "" {
		return s.feed(ctx, q)
	}
	return s.instanceHistory(ctx, q)
}

// instanceHistory lists the versions of one resource by lastUpdated. They come from two places —
// superseded ones from the history collection, the current one from its type collection — merged in
// history order.
func (s *Store) instanceHistory(ctx context.Context, q storage.HistoryQuery) (*storage.HistoryPage, error) {
	var after *historyKey
	if q.After != "" {
		k, err := decodeKey(q.After)
		if err != nil {
			return nil, err
		}
		after = &k
	}
	limit := int64(q.Count + 1)
	var since bson.D
	if !q.Since.IsZero() {
		since = bson.D{{Key: fLastUpdated, Value: bson.D{{Key: "$gte", Value: bson.NewDateTimeFromTime(q.Since)}}}}
	}
	and := func(parts ...bson.D) bson.D {
		var all bson.A
		for _, p := range parts {
			if len(p) > 0 {
				all = append(all, p)
			}
		}
		if len(all) == 0 {
			return bson.D{}
		}
		return bson.D{{Key: "$and", Value: all}}
	}

	var versions []*storage.Version
	more := false
	decided := map[string]bool{} // transaction id → committed
	collect := func(coll, typ string, filter bson.D, sortKeys bson.D, extra int64) error {
		docs, err := s.versionDocs(ctx, coll, filter, sortKeys, limit+extra)
		if err != nil {
			return err
		}
		n := 0
		for i := range docs {
			if tx := docs[i].Tx; tx != "" && docs[i].ResourceID != "" {
				// A transaction's claim is a version once the transaction has committed (isolation.go).
				committed, ok := decided[tx]
				if !ok {
					state, _, err := s.outcome(ctx, tx)
					if err != nil {
						return err
					}
					committed = state == stateCommitted
					decided[tx] = committed
				}
				if !committed {
					continue
				}
			}
			if n++; int64(n) <= limit {
				versions = append(versions, docs[i].version(typ))
			}
		}
		if int64(n) >= limit {
			more = true
		}
		return nil
	}

	// Superseded versions.
	var scope bson.D
	switch {
	case q.ID != "":
		scope = bson.D{{Key: fType, Value: q.Type}, {Key: fResourceID, Value: q.ID}}
	case q.Type != "":
		scope = bson.D{{Key: fType, Value: q.Type}}
	}
	var page bson.D
	if after != nil {
		page = olderThan(*after)
	}
	histSort := bson.D{{Key: fLastUpdated, Value: -1}, {Key: fType, Value: -1}, {Key: fResourceID, Value: -1}, {Key: fVersion, Value: -1}}
	// Claims of transactions that have not committed are not history (yet): at most a couple per resource,
	// fetched beyond the page and dropped.
	if err := collect(historyCollection, "", and(scope, since, page), histSort, 2); err != nil {
		return nil, err
	}
	// Current versions.
	types := s.types
	if q.Type != "" {
		types = []string{q.Type}
	}
	curSort := bson.D{{Key: fLastUpdated, Value: -1}, {Key: fID, Value: -1}}
	// Placeholders (version 0) of transactions creating a resource are not versions.
	notPlaceholder := bson.D{{Key: fVersion, Value: bson.D{{Key: "$gt", Value: 0}}}}
	for _, t := range types {
		var scope, page bson.D
		if q.ID != "" {
			scope = bson.D{{Key: fID, Value: q.ID}}
		}
		if after != nil {
			page = olderThanInType(*after, t, fID)
		}
		if err := collect(t, t, and(scope, since, page, notPlaceholder), curSort, 0); err != nil {
			return nil, err
		}
	}

	sort.Slice(versions, func(i, j int) bool { return keyOf(versions[j]).less(keyOf(versions[i])) })
	// A version archived by an update that then lost its compare-and-set (or crashed) is in both places.
	dedup := versions[:0]
	for i, v := range versions {
		if i > 0 && keyOf(v) == keyOf(versions[i-1]) {
			continue
		}
		dedup = append(dedup, v)
	}
	versions = dedup
	out := &storage.HistoryPage{Total: -1}
	if len(versions) > q.Count {
		versions = versions[:q.Count]
		more = true
	}
	out.Versions = versions
	if more && len(versions) > 0 {
		out.Next = keyOf(versions[len(versions)-1]).encode()
	}
	if q.ID != "" && after == nil && !more {
		out.Total = len(versions)
	}
	return out, nil
}

// versionDocs reads at most limit version documents of coll matching filter, in sortKeys order (the
// history and change-feed pages).
func (s *Store) versionDocs(ctx context.Context, coll string, filter, sortKeys bson.D, limit int64) ([]doc, error) {
	cur, err := s.db.Collection(coll).Find(ctx, filter, options.Find().SetSort(sortKeys).SetLimit(limit).SetProjection(versionProjection))
	if err != nil {
		return nil, fmt.Errorf("mongo: history %s: %w", coll, err)
	}
	var docs []doc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongo: history %s: %w", coll, err)
	}
	return docs, nil
}
