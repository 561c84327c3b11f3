package mongo

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Recover settles the transactions that processes left unfinished (see tx.go): committed ones are rolled
// forward once their owner is gone (lease.go) or has shown no sign of life for TxTimeout, pending ones are
// rolled back once their owner is gone or they are older than TxTimeout; the others are left to their
// owners. It runs at Open and every RecoveryInterval; running it
// from several processes at once is safe.
func (s *Store) Recover(ctx context.Context) error {
	cur, err := s.db.Collection(txCollection).Find(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("mongo: recovery: list transactions: %w", err)
	}
	var intents []intent
	if err := cur.All(ctx, &intents); err != nil {
		return fmt.Errorf("mongo: recovery: list transactions: %w", err)
	}
	var errs []error
	for _, in := range intents {
		if err := s.settle(ctx, in); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.forgetOutcomes(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.forgetInstances(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.forgetHolds(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// grace is how long a committed transaction's claim is left to its owner to publish before a writer it
// blocks publishes it.
func (s *Store) grace() time.Duration { return min(staleClaim, s.txTimeout) }

// heartbeatEvery is how often the owner of a committed transaction shows, while it publishes, that it is
// alive (a large transaction takes long to publish on FerretDB).
func (s *Store) heartbeatEvery() time.Duration {
	return max(10*time.Millisecond, min(5*time.Second, s.txTimeout/4))
}

// heartbeat records in the intent of txID that its owner is at work, every heartbeatEvery until stopped.
func (s *Store) heartbeat(txID string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(s.heartbeatEvery())
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			_, err := s.db.Collection(txCollection).UpdateOne(ctx, bson.D{{Key: fID, Value: txID}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "beat", Value: bson.NewDateTimeFromTime(s.now())}}}})
			if err != nil && ctx.Err() == nil {
				s.log.Warn("transaction heartbeat failed", "tx", txID, "err", err)
			}
		}
	}()
	return func() { cancel(); <-done }
}

// settle brings the transaction of intent in to its end when its owner is gone (lease.go) or seems gone:
// an undecided one is aborted when its owner is gone or it started more than TxTimeout ago, an aborted
// one is rolled back, and a committed one is rolled forward when its owner is gone or has shown no sign
// of life (the commit, or its last heartbeat while publishing) for TxTimeout. A transaction whose owner is
// at work is left alone; the intent of a finished one (done) is deleted once its owner is gone.
func (s *Store) settle(ctx context.Context, in intent) error {
	txID, started, beat := in.ID, in.Started.Time(), in.Beat.Time()
	gone, err := s.ownerGone(ctx, in.Owner)
	if err != nil {
		return err
	}
	if in.Done {
		if !gone || in.DoneAt != 0 && s.now().Sub(in.DoneAt.Time()) < s.txLinger {
			return nil // its owner deletes it after lingering; a gone owner's lingers as long
		}
		if _, err := s.db.Collection(txCollection).DeleteOne(ctx, bson.D{{Key: fID, Value: txID}}); err != nil {
			return fmt.Errorf("mongo: recovery: delete intent %s: %w", txID, err)
		}
		return nil
	}
	state, at, err := s.outcome(ctx, txID)
	if err != nil {
		return err
	}
	if state == "" {
		if !gone && s.now().Sub(started) < s.txTimeout {
			return nil // its owner is at work
		}
		if state, err = s.decide(ctx, txID, stateAborted); err != nil {
			return err
		}
		if state == stateAborted {
			s.log.Warn("rolling back a transaction whose owner is gone or that did not commit within the transaction timeout", "tx", txID, "started", started, "ownerGone", gone)
		}
		at = s.now()
	}
	switch state {
	case stateCommitted:
		if beat.After(at) {
			at = beat
		}
		if !gone && s.now().Sub(at) < s.txTimeout {
			return nil // its owner is publishing
		}
		return s.rollForward(ctx, txID)
	case stateAborted:
		return s.rollBack(ctx, txID, nil, true)
	}
	return fmt.Errorf("mongo: transaction %s has an unknown state %q", txID, state)
}

// unblockTx deals with a claim of transaction c.Tx that blocks a writer: an undecided transaction older
// than TxTimeout is aborted and rolled back, an aborted one rolled back; the claim of a committed one is
// published (only that one: the writer needs no more) once the commit is older than grace. Otherwise
// the writer waits.
func (s *Store) unblockTx(ctx context.Context, c *claim) error {
	state, at, err := s.outcome(ctx, c.Tx)
	if err != nil {
		return err
	}
	if state == "" {
		if s.now().Sub(c.TxTime.Time()) < s.txTimeout {
			if gone, err := s.txOwnerGone(ctx, c.Tx); err != nil || !gone {
				return err
			}
		}
		if state, err = s.decide(ctx, c.Tx, stateAborted); err != nil {
			return err
		}
		if state == stateCommitted {
			return nil // committed just now: its owner publishes
		}
		s.log.Warn("rolling back a transaction that did not commit within the transaction timeout", "tx", c.Tx, "started", c.TxTime.Time())
	}
	switch state {
	case stateCommitted:
		if s.now().Sub(at) < s.grace() {
			if gone, err := s.txOwnerGone(ctx, c.Tx); err != nil || !gone {
				return err
			}
		}
		view, err := s.claimView(c)
		if err != nil {
			return err
		}
		if err := s.awaitHolds(ctx, []string{c.Type}, nil); err != nil {
			return err
		}
		return s.publish(ctx, c.Type, &doc{ID: c.ResourceID, VersionID: c.VersionID - 1}, view)
	case stateAborted:
		return s.rollBack(ctx, c.Tx, nil, true)
	}
	return fmt.Errorf("mongo: transaction %s has an unknown state %q", c.Tx, state)
}

// rollBack removes what transaction txID wrote: the marks on current-version documents, its claims, then
// its placeholders among targets (read from its intent when nil), then its intent. Marks go first: while
// the claims hold the next versions nobody else rewrites those documents (FerretDB rewrites the whole
// document it read). Claims go before placeholders: a placeholder keeps plain creates away from an id
// whose version 1 is still claimed. marked is false when the transaction is known not to have marked any
// current-version document (it failed before), which saves an update per target.
func (s *Store) rollBack(ctx context.Context, txID string, targets []target, marked bool) error {
	if targets == nil {
		var in intent
		err := s.db.Collection(txCollection).FindOne(ctx, bson.D{{Key: fID, Value: txID}}).Decode(&in)
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return fmt.Errorf("mongo: roll back %s: read intent: %w", txID, err)
		}
		targets = in.Ops
	}
	byType := map[string][]string{}
	for _, tg := range targets {
		byType[tg.Type] = append(byType[tg.Type], tg.ID)
	}
	if marked {
		unmark := bson.D{{Key: "$unset", Value: bson.D{{Key: fTx, Value: ""}, {Key: fTxTime, Value: ""}}}}
		mine := bson.D{{Key: fTx, Value: txID}, {Key: fVersion, Value: bson.D{{Key: "$gt", Value: int64(0)}}}}
		if err := s.updateByIDs(ctx, byType, mine, unmark); err != nil {
			return fmt.Errorf("mongo: roll back %s: marks: %w", txID, err)
		}
	}
	if _, err := s.db.Collection(historyCollection).DeleteMany(ctx, bson.D{{Key: fTx, Value: txID}}); err != nil {
		return fmt.Errorf("mongo: roll back %s: claims: %w", txID, err)
	}
	for typ, ids := range byType {
		filter := bson.D{{Key: fID, Value: bson.D{{Key: "$in", Value: ids}}}, {Key: fTx, Value: txID}, {Key: fVersion, Value: int64(0)}}
		if _, err := s.db.Collection(typ).DeleteMany(ctx, filter); err != nil {
			return fmt.Errorf("mongo: roll back %s: placeholders: %w", txID, err)
		}
	}
	if _, err := s.db.Collection(txCollection).DeleteOne(ctx, bson.D{{Key: fID, Value: txID}}); err != nil {
		return fmt.Errorf("mongo: roll back %s: intent: %w", txID, err)
	}
	return nil
}

// txOwnerGone reports whether the owner of transaction txID is gone (false when its intent is gone).
func (s *Store) txOwnerGone(ctx context.Context, txID string) (bool, error) {
	var in intent
	err := s.db.Collection(txCollection).FindOne(ctx, bson.D{{Key: fID, Value: txID}}, options.FindOne().SetProjection(bson.D{{Key: "owner", Value: 1}})).Decode(&in)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mongo: read transaction %s: %w", txID, err)
	}
	return s.ownerGone(ctx, in.Owner)
}

// rollForward finishes a committed transaction from its claims: publishes every version still marked,
// clears the marks and deletes the intent.
func (s *Store) rollForward(ctx context.Context, txID string) error {
	hist := s.db.Collection(historyCollection)
	cur, err := hist.Find(ctx, bson.D{{Key: fTx, Value: txID}})
	if err != nil {
		return fmt.Errorf("mongo: roll forward %s: %w", txID, err)
	}
	var raws []bson.Raw
	if err := cur.All(ctx, &raws); err != nil {
		return fmt.Errorf("mongo: roll forward %s: %w", txID, err)
	}
	byType := map[string][]pub{}
	var claimIDs []string
	for _, raw := range raws {
		c, err := decodeClaim(raw)
		if err != nil {
			return err
		}
		view, err := s.claimView(c)
		if err != nil {
			return err
		}
		byType[c.Type] = append(byType[c.Type], pub{c.ResourceID, c.VersionID - 1, view})
		claimIDs = append(claimIDs, c.ID)
	}
	types := make([]string, 0, len(byType))
	for typ := range byType {
		types = append(types, typ)
	}
	sort.Strings(types)
	if len(raws) > 0 {
		s.log.Warn("finishing a committed transaction its owner left unpublished", "tx", txID, "versions", len(raws))
		if err := s.awaitHolds(ctx, types, nil); err != nil {
			return err
		}
	}
	for _, typ := range types {
		if err := s.publishAll(ctx, typ, byType[typ]); err != nil {
			return err
		}
	}
	if err := s.clearMarks(ctx, txID, claimIDs); err != nil {
		return err
	}
	return s.done(ctx, txID)
}

// forgetOutcomes deletes the decisions on settled transactions (no intent left) older than
// outcomeRetention. A committed transaction keeps its intent until all its marks are cleared, so no claim
// can outlive the decision that it is committed.
func (s *Store) forgetOutcomes(ctx context.Context) error {
	outcomes := s.db.Collection(outcomeCollection)
	old := bson.D{{Key: "at", Value: bson.D{{Key: "$lt", Value: bson.NewDateTimeFromTime(s.now().Add(-outcomeRetention))}}}}
	cur, err := outcomes.Find(ctx, old)
	if err != nil {
		return fmt.Errorf("mongo: recovery: list outcomes: %w", err)
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return fmt.Errorf("mongo: recovery: list outcomes: %w", err)
	}
	for _, d := range docs {
		n, err := s.db.Collection(txCollection).CountDocuments(ctx, bson.D{{Key: fID, Value: d.ID}})
		if err != nil {
			return fmt.Errorf("mongo: recovery: %w", err)
		}
		if n > 0 {
			continue
		}
		if _, err := outcomes.DeleteOne(ctx, bson.D{{Key: fID, Value: d.ID}}); err != nil {
			return fmt.Errorf("mongo: recovery: forget %s: %w", d.ID, err)
		}
	}
	return nil
}

// startRecovery runs Recover every interval until Close.
func (s *Store) startRecovery(interval time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopRecovery = cancel
	s.recoveryDone = make(chan struct{})
	go func() {
		defer close(s.recoveryDone)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			rctx, cancel := context.WithTimeout(ctx, max(interval, time.Minute))
			err := s.Recover(rctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				s.log.Warn("transaction recovery failed; it will be retried", "err", err)
			}
		}
	}()
}
