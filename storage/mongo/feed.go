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
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/careflow/careflow/storage"
)

// The change feed: type and system history (docs/ARCHITECTURE.md, "Change feed").
//
// meta.lastUpdated is taken before a version becomes visible — a single write takes it, then inserts; a
// transaction takes it before its commit point and clears its marks much later — so a poller that has
// seen everything up to T can later meet versions with lastUpdated < T. The feed therefore selects and
// orders versions by their visibility instant (fVisible): taken by the write that makes the version
// visible, right before it — a create's insert, an update's claim, the clearing of a transaction's marks —
// and stored in that same write. When a traversal starts it takes now, on its clock, and fixes two bounds
// (the paging cursor carries them): the upper bound U = now + 1 ms, and the horizon H = now − settle. Its
// pages list every version visible (to this read) with visibility instant in [Since, U) — everything
// visible so far, so a client reads its own writes at once — and report max(Since, H), which the client
// passes as its next Since. The next traversal thus lists [H, …) again: a version whose instant falls in
// [H, U) may be listed by both, a duplicate the client recognises by type, id and versionId. That overlap
// is what makes it safe to list fresh versions: one that was not yet visible to this traversal although
// its instant is before U (taken, not yet written) is listed by the next.
//
// Why nothing is missed: let a version take its visibility instant V (writer's clock) and become visible
// at most d later (real time); a poll reads at real time r after taking H = now − settle on its own clock,
// whose difference to the writer's is at most k. If V < H then r − (time V was taken) > settle − k, so
// the version was visible at r whenever d ≤ settle − k; if V ≥ H, the next poll, from Since = H, lists it.
// Writers enforce d ≤ settle/2: one that finds its write returned later than that (the database stalled)
// sets the visibility instant of the version again, to now, in its history document (revealAgain,
// revealRange) — the version is then listed again rather than missed — and checks that write the same
// way. So the feed lists every version at least once when clocks differ by less than settle/2 (beyond
// that a version may be missed); a version is listed again only by a poll whose previous poll started
// less than settle after the version's visibility instant (or its new one).
//
// Which document shows a version to the feed: its history document, once unmarked, or — for a version 1
// made by Create, which writes no history document — its current-version document (version 1 with a
// visibility instant). Current-version documents published from claims (transactions, and versions ≥ 2
// anyway) carry a null visibility and are never read by the feed. A version 1 archived into history keeps
// the visibility instant of its current-version document, so both copies have the same key.
//
// Documents written before fVisible existed have none: the feed lists them by lastUpdated, after (older
// than) every document that has one; keys then carry a legacy flag.

// visibleNow is the visibility instant of a write about to happen.
func (s *Store) visibleNow() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// visibleLate reports that a write that took visibility instant at has become visible too late for the
// feed's settle window: more than half of it has passed (the other half covers clock differences).
func (s *Store) visibleLate(at time.Time) bool {
	return s.feedSettle > 0 && s.now().Sub(at) > s.feedSettle/2
}

func (s *Store) beforeVisible(ctx context.Context, versions ...string) {
	if h := s.hooks.BeforeVisible; h != nil {
		h(ctx, versions)
	}
}

// revealAttempts bounds how often a late version is made visible again before the writer gives up.
const revealAttempts = 5

// revealAgain sets the visibility instant of version vid of typ/id, which became visible too late
// (visibility instant was), to now in its history document. created holds the version 1 of a Create,
// which has no history document yet: it is archived with the new instant. Checked like any write.
func (s *Store) revealAgain(ctx context.Context, typ, id string, vid int64, created *doc, was time.Time) error {
	hist := s.db.Collection(historyCollection)
	key := historyID(typ, id, vid)
	for attempt := 1; ; attempt++ {
		s.log.Warn("a version became visible too late for the change feed's settle window; listing it again",
			"version", key, "visible", was, "late", s.now().Sub(was).String(), "settle", s.feedSettle.String())
		at := s.visibleNow()
		vis := bson.NewDateTimeFromTime(at)
		done := false
		if created != nil {
			c := *created
			c.Visible = &vis
			_, err := hist.InsertOne(ctx, archiveDoc(typ, &c))
			if err != nil && !mongo.IsDuplicateKeyError(err) {
				return fmt.Errorf("mongo: reveal %s again: %w", key, err)
			}
			done = err == nil
		}
		if !done {
			_, err := hist.UpdateOne(ctx, bson.D{{Key: fID, Value: key}}, bson.D{{Key: "$set", Value: bson.D{{Key: fVisible, Value: vis}}}})
			if err != nil {
				return fmt.Errorf("mongo: reveal %s again: %w", key, err)
			}
		}
		if !s.visibleLate(at) {
			return nil
		}
		if attempt == revealAttempts {
			return fmt.Errorf("mongo: reveal %s again: still too late after %d attempts", key, attempt)
		}
		was = at
	}
}

// revealRange sets to now the visibility instant of the history documents with _id in [lo, hi] that
// became visible too late with visibility instant was (a chunk of a transaction's claims).
func (s *Store) revealRange(ctx context.Context, lo, hi string, was time.Time) error {
	hist := s.db.Collection(historyCollection)
	for attempt := 1; ; attempt++ {
		s.log.Warn("versions became visible too late for the change feed's settle window; listing them again",
			"from", lo, "to", hi, "visible", was, "late", s.now().Sub(was).String(), "settle", s.feedSettle.String())
		at := s.visibleNow()
		filter := bson.D{{Key: fID, Value: bson.D{{Key: "$gte", Value: lo}, {Key: "$lte", Value: hi}}}, {Key: fVisible, Value: bson.NewDateTimeFromTime(was)}}
		if _, err := hist.UpdateMany(ctx, filter, bson.D{{Key: "$set", Value: bson.D{{Key: fVisible, Value: bson.NewDateTimeFromTime(at)}}}}); err != nil {
			return fmt.Errorf("mongo: reveal %s…%s again: %w", lo, hi, err)
		}
		if !s.visibleLate(at) {
			return nil
		}
		if attempt == revealAttempts {
			return fmt.Errorf("mongo: reveal %s…%s again: still too late after %d attempts", lo, hi, attempt)
		}
		was = at
	}
}

// bounds are the bounds of a traversal of the feed starting now: the horizon, before which every version
// is visible to every reader, and the upper bound, after every version visible so far.
func (s *Store) bounds() (horizon, upper time.Time) {
	now := s.visibleNow()
	upper = now.Add(time.Millisecond)
	if s.feedSettle < 0 {
		return upper, upper
	}
	return now.Add(-s.feedSettle), upper
}

// feedKey orders the feed, newest first: by visibility instant, then lastUpdated, type, id and version. A
// legacy document (no visibility instant) sorts after every other one, by lastUpdated.
type feedKey struct {
	legacy  bool
	vis, lu time.Time // vis == lu when legacy
	typ, id string
	vid     int64
}

// less reports whether a comes after b in the feed (is older).
func (a feedKey) less(b feedKey) bool {
	if a.legacy != b.legacy {
		return a.legacy
	}
	if !a.vis.Equal(b.vis) {
		return a.vis.Before(b.vis)
	}
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

// feedCursor is where a traversal of the feed stands: its bounds and the last key served.
type feedCursor struct {
	horizon, upper time.Time
	last           feedKey
}

func (c feedCursor) encode() string {
	legacy := "0"
	if c.last.legacy {
		legacy = "1"
	}
	parts := []string{"feed", strconv.FormatInt(c.horizon.UnixMilli(), 10), legacy, strconv.FormatInt(c.last.vis.UnixMilli(), 10),
		strconv.FormatInt(c.last.lu.UnixMilli(), 10), c.last.typ, c.last.id, strconv.FormatInt(c.last.vid, 10),
		strconv.FormatInt(c.upper.UnixMilli(), 10)}
	return base64.RawURLEncoding.EncodeToString([]byte(strings.Join(parts, "\x00")))
}

func decodeFeedCursor(s string) (feedCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return feedCursor{}, storage.ErrBadCursor
	}
	p := strings.Split(string(raw), "\x00")
	if (len(p) != 8 && len(p) != 9) || p[0] != "feed" || (p[2] != "0" && p[2] != "1") {
		return feedCursor{}, storage.ErrBadCursor
	}
	if len(p) == 8 {
		p = append(p, p[1]) // a cursor of an older careflow, whose traversals listed up to the horizon
	}
	var ms [4]int64
	for k, f := range []string{p[1], p[3], p[4], p[8]} {
		if ms[k], err = strconv.ParseInt(f, 10, 64); err != nil {
			return feedCursor{}, storage.ErrBadCursor
		}
	}
	vid, err := strconv.ParseInt(p[7], 10, 64)
	if err != nil {
		return feedCursor{}, storage.ErrBadCursor
	}
	at := func(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
	return feedCursor{horizon: at(ms[0]), upper: at(ms[3]), last: feedKey{legacy: p[2] == "1", vis: at(ms[1]), lu: at(ms[2]), typ: p[5], id: p[6], vid: vid}}, nil
}

// lexLess is the filter "(fields) < (vals)" in lexicographic order, or "≤" with orEqual.
func lexLess(fields []string, vals []any, orEqual bool) bson.D {
	var or bson.A
	for i := range fields {
		clause := bson.D{}
		for j := 0; j < i; j++ {
			clause = append(clause, bson.E{Key: fields[j], Value: vals[j]})
		}
		clause = append(clause, bson.E{Key: fields[i], Value: bson.D{{Key: "$lt", Value: vals[i]}}})
		or = append(or, clause)
	}
	if orEqual {
		eq := bson.D{}
		for j := range fields {
			eq = append(eq, bson.E{Key: fields[j], Value: vals[j]})
		}
		or = append(or, eq)
	}
	return bson.D{{Key: "$or", Value: or}}
}

// olderIn is the filter "key < last" for the documents of one source. typ is the resource type of a type
// collection (its documents have no type field; idField is _id), "" for history (fType, fResourceID).
// pre are the leading key fields and their values in last (visibility, lastUpdated; or lastUpdated alone
// for legacy documents).
func olderIn(typ string, last feedKey, pre []string, preVals []any) bson.D {
	if typ == "" {
		return lexLess(append(pre, fType, fResourceID, fVersion), append(preVals, last.typ, last.id, last.vid), false)
	}
	switch {
	case typ < last.typ:
		return lexLess(pre, preVals, true)
	case typ > last.typ:
		return lexLess(pre, preVals, false)
	}
	return lexLess(append(pre, fID, fVersion), append(preVals, last.id, last.vid), false)
}

// feedFilter selects the documents of one source visible in [since, upper) and older than after: one
// $or, to add to the source's other conditions.
func feedFilter(typ string, since, upper time.Time, after *feedKey) bson.D {
	window := bson.D{{Key: "$lt", Value: bson.NewDateTimeFromTime(upper)}}
	if !since.IsZero() {
		window = append(window, bson.E{Key: "$gte", Value: bson.NewDateTimeFromTime(since)})
	}
	var branches bson.A
	if after == nil || !after.legacy {
		current := bson.D{{Key: fVisible, Value: window}}
		if after != nil {
			current = bson.D{{Key: "$and", Value: bson.A{current,
				olderIn(typ, *after, []string{fVisible, fLastUpdated}, []any{bson.NewDateTimeFromTime(after.vis), bson.NewDateTimeFromTime(after.lu)})}}}
		}
		branches = append(branches, current)
	}
	legacy := bson.D{{Key: fVisible, Value: bson.D{{Key: "$exists", Value: false}}}, {Key: fLastUpdated, Value: window}}
	if after != nil && after.legacy {
		legacy = bson.D{{Key: "$and", Value: bson.A{legacy, olderIn(typ, *after, []string{fLastUpdated}, []any{bson.NewDateTimeFromTime(after.lu)})}}}
	}
	branches = append(branches, legacy)
	return bson.D{{Key: "$or", Value: branches}}
}

// feed answers type and system history: the versions visible in [q.Since, upper), newest first, with the
// horizon max(q.Since, now − settle).
func (s *Store) feed(ctx context.Context, q storage.HistoryQuery) (*storage.HistoryPage, error) {
	var cur feedCursor
	cur.horizon, cur.upper = s.bounds()
	var after *feedKey
	if q.After != "" {
		c, err := decodeFeedCursor(q.After)
		if err != nil {
			return nil, err
		}
		cur, after = c, &c.last
	}
	out := &storage.HistoryPage{Total: -1, Horizon: cur.horizon}
	if q.Since.After(cur.horizon) {
		// A poll sooner than the settle window after the last (or on an instance whose clock is behind):
		// the client keeps its Since, and gets what became visible since.
		out.Horizon = q.Since
	}
	if !q.Since.IsZero() && !q.Since.Before(cur.upper) {
		return out, nil // Since is in the future
	}
	limit := int64(q.Count + 1)
	type entry struct {
		key feedKey
		v   *storage.Version
		tx  string // the transaction of a version cleared from its claim
	}
	var entries []entry
	more := false
	types := s.types
	if q.Type != "" {
		types = []string{q.Type}
	}
	read := func() error {
		entries, more = entries[:0], false
		collect := func(coll, typ string, filter bson.D, sortKeys bson.D) error {
			docs, err := s.versionDocs(ctx, coll, filter, sortKeys, limit)
			if err != nil {
				return err
			}
			if len(docs) == int(limit) {
				more = true
			}
			for i := range docs {
				v := docs[i].version(typ)
				k := feedKey{legacy: docs[i].Visible == nil, lu: v.LastUpdated, typ: v.Type, id: v.ID, vid: v.VersionID}
				k.vis = k.lu
				if !k.legacy {
					k.vis = docs[i].Visible.Time().UTC()
				}
				entries = append(entries, entry{k, v, docs[i].TxDone})
			}
			return nil
		}

		// Filters are flat (top-level equalities, one $or): FerretDB has PostgreSQL evaluate top-level
		// equalities, not ones nested in $and.
		// History documents, except claims of unsettled transactions.
		var filter bson.D
		if q.Type != "" {
			filter = bson.D{{Key: fType, Value: q.Type}}
		}
		filter = append(filter, bson.E{Key: fTx, Value: bson.D{{Key: "$exists", Value: false}}}, feedFilter("", q.Since, cur.upper, after)[0])
		histSort := bson.D{{Key: fVisible, Value: -1}, {Key: fLastUpdated, Value: -1}, {Key: fType, Value: -1}, {Key: fResourceID, Value: -1}, {Key: fVersion, Value: -1}}
		if err := collect(historyCollection, "", filter, histSort); err != nil {
			return err
		}
		// Versions 1 that only their current-version document holds (with a visibility instant, or legacy).
		curSort := bson.D{{Key: fVisible, Value: -1}, {Key: fLastUpdated, Value: -1}, {Key: fID, Value: -1}, {Key: fVersion, Value: -1}}
		for _, t := range types {
			filter := bson.D{{Key: fVersion, Value: int64(1)}, feedFilter(t, q.Since, cur.upper, after)[0]}
			if err := collect(t, t, filter, curSort); err != nil {
				return err
			}
		}
		return nil
	}
	// Fenced against transactions (isolation.go): the versions of a transaction that is still clearing
	// its marks are hidden until it is done, so that the feed lists all of a transaction or nothing; a page
	// is read again when a transaction committed while it was read with an instant before the traversal's
	// upper bound (its versions, cleared at a later instant on the same clock, are otherwise outside the
	// traversal, whole). After freeRounds such reads, the page is read once more under a hold (hold.go):
	// the transactions publishing are waited for, and no other clears a mark until it is read.
	for round := 0; ; round++ {
		fctx := ctx
		held := round >= freeRounds
		if held {
			hctx, release, err := s.takeHold(ctx, types)
			if err != nil {
				return nil, err
			}
			defer release()
			fctx = hctx
			pending, err := s.flights(fctx, types, nil)
			if err != nil {
				return nil, err
			}
			for _, f := range pending {
				if f.committed && !f.Done {
					if err := s.await(fctx, f.ID); err != nil {
						return nil, err
					}
				}
			}
		}
		before, err := s.flights(fctx, types, nil)
		if err != nil {
			return nil, err
		}
		if err := read(); err != nil {
			return nil, err
		}
		after, err := s.flights(fctx, types, before)
		if err != nil {
			return nil, err
		}
		hide := map[string]bool{}
		again := false
		for id, f := range before {
			if !f.Done {
				hide[id] = true
			}
		}
		for id, f := range after {
			if !f.Done {
				hide[id] = true
			}
			if b := before[id]; f.committed && (b == nil || !b.committed) && !again {
				_, at, err := s.outcome(ctx, id)
				if err != nil {
					return nil, err
				}
				again = at.IsZero() || at.Before(cur.upper)
			}
		}
		if again && !held {
			continue
		}
		kept := entries[:0]
		for _, e := range entries {
			if !hide[e.tx] {
				kept = append(kept, e)
			}
		}
		entries = kept
		break
	}

	sort.Slice(entries, func(i, j int) bool { return entries[j].key.less(entries[i].key) })
	// A version 1 archived into history is in both places, with the same key.
	dedup := entries[:0]
	for i, e := range entries {
		if i > 0 && !e.key.less(entries[i-1].key) && !entries[i-1].key.less(e.key) {
			continue
		}
		dedup = append(dedup, e)
	}
	entries = dedup
	if len(entries) > q.Count {
		entries = entries[:q.Count]
		more = true
	}
	for _, e := range entries {
		out.Versions = append(out.Versions, e.v)
	}
	if more && len(entries) > 0 {
		out.Next = feedCursor{horizon: cur.horizon, upper: cur.upper, last: entries[len(entries)-1].key}.encode()
	}
	return out, nil
}
