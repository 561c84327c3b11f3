package mongo

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/careflow/careflow/storage"
)

// Holds: how a query that kept meeting transactions gets one clean run (docs/ARCHITECTURE.md, "Read
// isolation").
//
// A fenced query (isolation.go) runs again when a transaction on its types committed while it ran and
// could have changed its answer. Transactions committing back to back could make it run again forever, and
// a run slower than TxLinger cannot tell whether one came and went entirely while it ran. So after
// freeRounds such runs, or after a run slower than TxLinger, the query takes a hold on its types: a document
// in "txholds" that makes every publisher of a committed transaction on those types wait before it
// publishes anything (the owner in finish, recovery's roll-forward, a writer publishing a blocked claim).
// The query then waits for the committed transactions that are publishing already, runs once — nothing of
// a transaction on its types becomes visible to it meanwhile — and removes the hold. Work is bounded:
// freeRounds + 1 runs; a writer waits at most one run of one query per hold.
//
// The handshake, with no lock but single-document writes: a publisher commits (its outcome insert), then
// lists the holds; a query inserts its hold, then lists the intents and their outcomes. One of them sees
// the other: either the query sees the transaction committed and waits until it is done, or the
// publisher sees the hold and waits. A waiting owner says so in its intent (held), so that the query does
// not wait for it in turn, and withdraws that (held unset) before it lists the holds again, so that a
// query that saw it held is seen by that listing. A publisher that is not the owner does not flag itself:
// the query waiting for its transaction settles it itself after awaitSettleAfter when the owner is gone,
// skipping its own hold (the context carries it).
//
// A hold whose query died is ignored once its instance is gone or it has not been renewed for TxTimeout
// (its query renews it every TxTimeout/4), and removed by recovery.

// holdCollection holds the holds of queries in their clean run.
const holdCollection = "txholds"

// freeRounds is how many runs a query makes before it takes a hold when transactions keep committing.
const freeRounds = 2

// hold is a query's hold on types.
type hold struct {
	ID    string   `bson:"_id"`
	Owner string   `bson:"owner"`
	Types []string `bson:"types"`
	// Beat is renewed every TxTimeout/4 while the query runs (a hold not renewed for TxTimeout is void).
	Beat bson.DateTime `bson:"beat"`
}

// holdKey carries in a context the holds its query runs under (a query inside a held one may hold more).
type holdKey struct{}

// heldBy returns the holds ctx runs under (nil: none).
func heldBy(ctx context.Context) []*hold {
	h, _ := ctx.Value(holdKey{}).([]*hold)
	return h
}

// covered reports whether the holds ctx runs under hold every one of types.
func covered(ctx context.Context, types []string) bool {
	holds := heldBy(ctx)
	if len(holds) == 0 {
		return false
	}
	for _, t := range types {
		if !slices.ContainsFunc(holds, func(h *hold) bool { return slices.Contains(h.Types, t) }) {
			return false
		}
	}
	return true
}

// takeHold inserts a hold on types and returns a context carrying it and the function that removes it.
func (s *Store) takeHold(ctx context.Context, types []string) (context.Context, func(), error) {
	h := &hold{ID: storage.NewID(), Owner: s.instance, Types: types, Beat: bson.NewDateTimeFromTime(s.now())}
	if _, err := s.db.Collection(holdCollection).InsertOne(ctx, h); err != nil {
		return nil, nil, fmt.Errorf("mongo: hold %v: %w", types, err)
	}
	bctx, stopBeat := context.WithCancel(context.WithoutCancel(ctx))
	beating := make(chan struct{})
	go func() {
		defer close(beating)
		tick := time.NewTicker(max(time.Millisecond, s.txTimeout/4))
		defer tick.Stop()
		for {
			select {
			case <-bctx.Done():
				return
			case <-tick.C:
			}
			_, err := s.db.Collection(holdCollection).UpdateOne(bctx, bson.D{{Key: fID, Value: h.ID}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "beat", Value: bson.NewDateTimeFromTime(s.now())}}}})
			if err != nil && bctx.Err() == nil {
				s.log.Warn("could not renew a query's hold", "hold", h.ID, "err", err)
			}
		}
	}()
	release := func() {
		stopBeat()
		<-beating
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := s.db.Collection(holdCollection).DeleteOne(rctx, bson.D{{Key: fID, Value: h.ID}}); err != nil {
			s.log.Warn("could not remove a query's hold; writers wait until it expires", "hold", h.ID, "err", err)
		}
	}
	own := append(append([]*hold(nil), heldBy(ctx)...), h)
	return context.WithValue(ctx, holdKey{}, own), release, nil
}

// holding lists the holds of other queries on any of types that are in force (their owner alive and
// renewed within TxTimeout); the holds ctx runs under are not among them.
func (s *Store) holding(ctx context.Context, types []string) ([]hold, error) {
	cur, err := s.db.Collection(holdCollection).Find(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("mongo: list holds: %w", err)
	}
	var all []hold
	if err := cur.All(ctx, &all); err != nil {
		return nil, fmt.Errorf("mongo: list holds: %w", err)
	}
	own := heldBy(ctx)
	var out []hold
	for _, h := range all {
		if slices.ContainsFunc(own, func(o *hold) bool { return o.ID == h.ID }) || !slices.ContainsFunc(types, func(t string) bool { return slices.Contains(h.Types, t) }) {
			continue
		}
		if s.now().Sub(h.Beat.Time()) > s.txTimeout {
			continue
		}
		if gone, err := s.ownerGone(ctx, h.Owner); err != nil || gone {
			if err != nil {
				return nil, err
			}
			continue
		}
		out = append(out, h)
	}
	return out, nil
}

// awaitHolds returns once no query holds any of types (see the top of this file). Publishers of a
// committed transaction call it after the commit point, before they publish. The owner passes flag, which
// records in its intent whether it waits (true) or no longer does (false).
func (s *Store) awaitHolds(ctx context.Context, types []string, flag func(ctx context.Context, held bool) error) error {
	flagged := false
	pause := 2 * time.Millisecond
	for {
		holds, err := s.holding(ctx, types)
		if err != nil {
			return err
		}
		if len(holds) == 0 {
			return nil
		}
		if flag != nil && !flagged {
			if err := flag(ctx, true); err != nil {
				return err
			}
			flagged = true
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("mongo: wait for queries holding %v: %w", types, ctx.Err())
		case <-t.C:
		}
		pause = min(2*pause, 50*time.Millisecond)
		if flagged {
			// Withdraw the flag before looking again: a query that saw it is then seen by that look.
			if err := flag(ctx, false); err != nil {
				return err
			}
			flagged = false
		}
	}
}

// forgetHolds removes the holds no longer in force (their query died).
func (s *Store) forgetHolds(ctx context.Context) error {
	cur, err := s.db.Collection(holdCollection).Find(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("mongo: recovery: list holds: %w", err)
	}
	var all []hold
	if err := cur.All(ctx, &all); err != nil {
		return fmt.Errorf("mongo: recovery: list holds: %w", err)
	}
	for _, h := range all {
		gone, err := s.ownerGone(ctx, h.Owner)
		if err != nil {
			return err
		}
		if gone || s.now().Sub(h.Beat.Time()) > s.txTimeout {
			if _, err := s.db.Collection(holdCollection).DeleteOne(ctx, bson.D{{Key: fID, Value: h.ID}}); err != nil {
				return fmt.Errorf("mongo: recovery: forget hold %s: %w", h.ID, err)
			}
		}
	}
	return nil
}
