package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Read isolation (docs/ARCHITECTURE.md, "Read isolation"): no reader sees part of a transaction.
//
// Single documents. Before its commit point a transaction marks every current-version document it will
// replace (placeholders of the ids it creates are marked from the start) with its id. A reader that meets
// a marked document looks the transaction up in "txoutcomes": no decision or aborted — the document as it
// is (the version before the transaction; a placeholder is no resource); committed — the version the
// transaction claimed, read from its claim in history, whether or not it has been published yet. So Read,
// VRead, Exists and instance history show a transaction all at once, from its commit point, also while a
// crashed owner's transaction waits to be rolled forward. A document without a mark costs nothing more.
//
// Queries over many documents (searches, Referrers, the change feed, $meta's distinct values) cannot see
// the marks of documents their filter does not select, so they are fenced with the intents of the
// transactions in flight instead ("transactions": small, and empty when nothing is in flight): before the
// query, every committed transaction on the query's types that is still publishing is waited for (or
// rolled forward when its owner is gone); after it, a transaction on those types that committed meanwhile
// makes the query run again if it could have changed the answer. An owner keeps its intent, marked done,
// for TxLinger after publishing (recovery keeps a gone owner's as long), so that a transaction that
// commits and publishes entirely while a run takes less than TxLinger is still seen afterwards. A query
// that must run again freeRounds times, or whose run took longer than TxLinger, runs a last time under a
// hold (hold.go): publishers wait until it has read, so that answer stands. At most freeRounds + 1 runs.

// flight is a transaction in flight (its intent) as a reader sees it.
type flight struct {
	ID      string        `bson:"_id"`
	Owner   string        `bson:"owner"`
	Types   []string      `bson:"types"`
	Done    bool          `bson:"done"`
	Held    bool          `bson:"held"`
	Started bson.DateTime `bson:"started"`
	Beat    bson.DateTime `bson:"beat"`
	// committed is known for done flights and after a look-up; at is the commit's instant when looked up.
	committed bool
	at        time.Time
}

// touches reports whether the transaction writes one of types (an intent of an older careflow, without
// types, touches everything).
func (f *flight) touches(types []string) bool {
	if len(f.Types) == 0 {
		return true
	}
	for _, t := range f.Types {
		if slices.Contains(types, t) {
			return true
		}
	}
	return false
}

var flightProjection = bson.D{{Key: "owner", Value: 1}, {Key: "types", Value: 1}, {Key: "done", Value: 1}, {Key: "held", Value: 1}, {Key: "started", Value: 1}, {Key: "beat", Value: 1}}

// flights lists the transactions in flight that touch types, with their decision looked up unless known
// committed from before (known).
func (s *Store) flights(ctx context.Context, types []string, known map[string]*flight) (map[string]*flight, error) {
	cur, err := s.db.Collection(txCollection).Find(ctx, bson.D{}, options.Find().SetProjection(flightProjection))
	if err != nil {
		return nil, fmt.Errorf("mongo: list transactions in flight: %w", err)
	}
	var all []*flight
	if err := cur.All(ctx, &all); err != nil {
		return nil, fmt.Errorf("mongo: list transactions in flight: %w", err)
	}
	out := make(map[string]*flight, len(all))
	for _, f := range all {
		if !f.touches(types) {
			continue
		}
		switch k := known[f.ID]; {
		case k != nil && k.committed:
			f.committed, f.at = true, k.at
		case f.Done:
			f.committed = true
		default:
			state, at, err := s.outcome(ctx, f.ID)
			if err != nil {
				return nil, err
			}
			f.committed, f.at = state == stateCommitted, at
		}
		out[f.ID] = f
	}
	return out, nil
}

// await waits until the committed transaction txID has published everything (its intent is done or
// gone) or, under a hold (heldBy(ctx), hold.go), until its owner waits for the holds (held): it then
// publishes nothing until the hold is removed. It polls the intent, every 2 ms doubling up to 50 ms; from
// awaitSettleAfter on it also settles the transaction itself when its owner is gone (or silent for
// TxTimeout; see settle).
func (s *Store) await(ctx context.Context, txID string) error {
	start := time.Now()
	pause := 2 * time.Millisecond
	underHold := len(heldBy(ctx)) > 0
	for attempt := 0; ; attempt++ {
		var in intent
		err := s.db.Collection(txCollection).FindOne(ctx, bson.D{{Key: fID, Value: txID}}).Decode(&in)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("mongo: wait for transaction %s: %w", txID, err)
		}
		if in.Done || underHold && in.Held {
			return nil
		}
		if h := s.hooks.ReaderWaits; h != nil && attempt == 0 {
			h(ctx, txID)
		}
		if time.Since(start) >= awaitSettleAfter {
			if err := s.settle(ctx, in); err != nil {
				return err
			}
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("mongo: wait for transaction %s: %w", txID, ctx.Err())
		case <-t.C:
		}
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// awaitSettleAfter is how long a reader waits for a live owner to publish before it checks whether the
// owner is gone (an owner that is alive publishes a small transaction in milliseconds).
const awaitSettleAfter = 200 * time.Millisecond

// isolated runs read, a query over documents of types, so that its answer holds all or nothing of every
// transaction: committed transactions still publishing are waited for first; transactions that commit
// while read runs are passed to changed (after they have been waited for), which reports whether read
// must run again. After freeRounds runs that must run again, or after a run slower than TxLinger (a
// transaction may have come and gone unseen), read runs once more under a hold (hold.go), and that answer
// stands. Under a hold on types (a query inside ReadConsistent's run), read just runs: nothing of a
// transaction on types becomes visible meanwhile. See the top of this file.
func (s *Store) isolated(ctx context.Context, types []string, read func(ctx context.Context) error, changed func(ctx context.Context, committed []*flight) (bool, error)) error {
	if covered(ctx, types) {
		return read(ctx)
	}
	if heldBy(ctx) != nil {
		// Inside a held query, but on more types: hold those too (waiting for a transaction its own hold
		// keeps from publishing would never end).
		return s.heldRun(ctx, types, read)
	}
	for round := 0; round < freeRounds; round++ {
		// Wait for the committed transactions still publishing, and look again (others may have committed
		// meanwhile) — a few times at most: what commits after the last look is dealt with after the run.
		var start time.Time
		var before map[string]*flight
		for look := 0; ; look++ {
			start = time.Now()
			var err error
			if before, err = s.flights(ctx, types, nil); err != nil {
				return err
			}
			waited := false
			for _, f := range before {
				if f.committed && !f.Done {
					if err := s.await(ctx, f.ID); err != nil {
						return err
					}
					waited = true
				}
			}
			if !waited || look == freeRounds {
				break
			}
		}
		if err := read(ctx); err != nil {
			return err
		}
		after, err := s.flights(ctx, types, before)
		if err != nil {
			return err
		}
		// A run slower than TxLinger may have missed a transaction that came and went: run again, held.
		if time.Since(start) > s.txLinger {
			break
		}
		var committed []*flight
		for _, f := range after {
			if b := before[f.ID]; f.committed && (b == nil || !b.committed) {
				committed = append(committed, f)
			}
		}
		if len(committed) == 0 {
			return nil
		}
		for _, f := range committed {
			if err := s.await(ctx, f.ID); err != nil {
				return err
			}
		}
		again, err := changed(ctx, committed)
		if err != nil || !again {
			return err
		}
	}
	return s.heldRun(ctx, types, read)
}

// heldRun runs read once under a hold on types (hold.go): it waits for the committed transactions on
// types that are publishing (not for those whose owner waits for the hold), then runs read.
func (s *Store) heldRun(ctx context.Context, types []string, read func(ctx context.Context) error) error {
	s.log.Debug("a query kept meeting transactions that committed while it ran; running it under a hold", "types", types)
	hctx, release, err := s.takeHold(ctx, types)
	if err != nil {
		return err
	}
	defer release()
	flights, err := s.flights(hctx, types, nil)
	if err != nil {
		return err
	}
	for _, f := range flights {
		if f.committed && !f.Done {
			if err := s.await(hctx, f.ID); err != nil {
				return err
			}
		}
	}
	if h := s.hooks.HeldRun; h != nil {
		h(hctx, types)
	}
	return read(hctx)
}

// targets returns the resources of transaction txID of type typ, and whether it also touches other types
// among types; ok is false when its intent is gone (the caller cannot tell).
func (s *Store) targetsOf(ctx context.Context, txID, typ string, types []string) (ids []string, others, ok bool, err error) {
	var in intent
	err = s.db.Collection(txCollection).FindOne(ctx, bson.D{{Key: fID, Value: txID}}).Decode(&in)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, false, false, nil
	}
	if err != nil {
		return nil, false, false, fmt.Errorf("mongo: read transaction %s: %w", txID, err)
	}
	for _, tg := range in.Ops {
		switch {
		case tg.Type == typ:
			ids = append(ids, tg.ID)
		case slices.Contains(types, tg.Type):
			others = true
		}
	}
	return ids, others, true, nil
}

// visible returns what a reader sees of the current-version document d of typ/id (nil: nothing): d
// itself unless it carries the mark of a committed transaction, whose claimed version is then returned
// (from its claim, published or not). A committed transaction whose owner is gone is rolled forward. On
// FerretDB an unmarked document is checked against the claim of its next version (unmarked).
func (s *Store) visible(ctx context.Context, typ, id string, d *doc) (*doc, error) {
	if d != nil && d.Tx == "" {
		return s.unmarked(ctx, typ, id, d, nil, time.Time{})
	}
	for attempt := 0; d != nil && d.Tx != "" && attempt < 5; attempt++ {
		state, _, err := s.outcome(ctx, d.Tx)
		if err != nil || state != stateCommitted {
			return d, err
		}
		var h doc
		err = s.db.Collection(historyCollection).FindOne(ctx, bson.D{{Key: fID, Value: historyID(typ, id, d.VersionID+1)}},
			options.FindOne().SetProjection(versionProjection)).Decode(&h)
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return nil, fmt.Errorf("mongo: read %s/%s: claim: %w", typ, id, err)
		}
		if err == nil && h.Tx == d.Tx {
			s.settleOrphan(ctx, d.Tx)
			return &h, nil
		}
		if err == nil && h.TxDone == d.Tx {
			return &h, nil // published and cleared meanwhile
		}
		// Read the current version again.
		if d, err = s.current(ctx, typ, id); err != nil {
			return nil, err
		}
		if d != nil && d.Tx == "" {
			return s.unmarked(ctx, typ, id, d, nil, time.Time{})
		}
	}
	return d, nil
}

// unmarked returns what a reader sees of the unmarked current-version document d of typ/id: d itself,
// except on FerretDB when a committed transaction claimed the next version.
//
// FerretDB's update reads the document and then writes the whole of it back, as two steps: a publish of
// version n whose command read the document before a blocked writer published the same version for it
// (its writer stalled past staleClaim), and whose write lands after a transaction claimed n+1 and marked
// the document, puts version n back without the mark — or, landing later still, over the transaction's
// published version. (On MongoDB a document update is atomic: nothing can erase a mark there, and
// nothing is checked.) So on FerretDB a reader of an unmarked document looks up the claim of the next
// version (one lookup by _id): a committed transaction's claim, marked or cleared, is what the reader
// sees, as it would through the mark; a plain write's claim is visible once published, as always.
//
// A caller reading many documents passes touched, the ids of typ that the transactions in flight target
// (inFlightTargets, one query for all of them, made after the documents were read at readAt), and only
// those are looked up. A transaction keeps its intent from before its claims until TxLinger after it
// published, so a document read more than TxLinger before is read again, alone.
func (s *Store) unmarked(ctx context.Context, typ, id string, d *doc, touched map[string]bool, readAt time.Time) (*doc, error) {
	if !s.ferret || d == nil || d.Tx != "" || d.placeholder() {
		return d, nil
	}
	if touched != nil {
		if time.Since(readAt) >= s.txLinger {
			d, err := s.current(ctx, typ, id)
			if err != nil {
				return nil, err
			}
			return s.visible(ctx, typ, id, d)
		}
		if !touched[id] {
			return d, nil
		}
	}
	var h doc
	err := s.db.Collection(historyCollection).FindOne(ctx, bson.D{{Key: fID, Value: historyID(typ, id, d.VersionID+1)}},
		options.FindOne().SetProjection(versionProjection)).Decode(&h)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return d, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mongo: read %s/%s: claim: %w", typ, id, err)
	}
	switch {
	case h.Tx != "":
		state, _, err := s.outcome(ctx, h.Tx)
		if err != nil || state != stateCommitted {
			return d, err
		}
		s.settleOrphan(ctx, h.Tx)
		return &h, nil
	case h.TxDone != "":
		return &h, nil
	}
	return d, nil
}

// inFlightTargets returns the ids of typ that the transactions in flight (done or not) target.
func (s *Store) inFlightTargets(ctx context.Context, typ string) (map[string]bool, error) {
	filter := bson.D{{Key: "ops.t", Value: typ}}
	cur, err := s.db.Collection(txCollection).Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: "ops", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongo: list transactions in flight on %s: %w", typ, err)
	}
	var all []intent
	if err := cur.All(ctx, &all); err != nil {
		return nil, fmt.Errorf("mongo: list transactions in flight on %s: %w", typ, err)
	}
	out := map[string]bool{}
	for _, in := range all {
		for _, tg := range in.Ops {
			if tg.Type == typ {
				out[tg.ID] = true
			}
		}
	}
	return out, nil
}

// settleOrphan settles transaction txID, which a reader or writer met, when its owner is gone (or it
// outlived the timeouts; see settle), and reports whether it tried. Failures are left to recovery.
func (s *Store) settleOrphan(ctx context.Context, txID string) bool {
	var in intent
	err := s.db.Collection(txCollection).FindOne(ctx, bson.D{{Key: fID, Value: txID}}).Decode(&in)
	if err != nil || in.Done {
		return false
	}
	if err := s.settle(ctx, in); err != nil {
		s.log.Warn("could not settle a transaction met by a reader or writer; recovery will", "tx", txID, "err", err)
	}
	return true
}

// ReadConsistent runs read — several queries, such as a search page and its _include/_revinclude — so
// that together they hold all or nothing of every transaction on types (every type read may return or
// depend on): the fence of a single search around all of them. Committed transactions on types still
// publishing are waited for first; when one commits while read runs, it is waited for and read runs
// again — at most freeRounds times, then once more under a hold (hold.go). Each query inside is also
// fenced on its own, except under the hold, which covers it.
func (s *Store) ReadConsistent(ctx context.Context, types []string, read func(ctx context.Context) error) error {
	return s.isolated(ctx, types, read, func(context.Context, []*flight) (bool, error) { return true, nil })
}
