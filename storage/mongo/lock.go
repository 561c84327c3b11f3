package mongo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

const locksCollection = "locks"

// DefaultLockTTL is the default of Options.LockTTL.
const DefaultLockTTL = 30 * time.Second

// Lock implements storage.Store with a document per held lock: the unique _id makes exactly one insert
// win, on MongoDB and FerretDB alike. Waiters poll with a short, jittered backoff; an expired lock (its
// holder crashed) is removed by the first waiter that sees it. The holder renews its lock every
// LockTTL/3 until it releases it, so that a lock held longer than its TTL (a large transaction Bundle
// holds its conditional-create locks until it is stored) does not expire under a live holder.
func (s *Store) Lock(ctx context.Context, name string) (func(), error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	owner := hex.EncodeToString(b[:])
	locks := s.db.Collection(locksCollection)
	for attempt := 0; ; attempt++ {
		now := s.now()
		_, err := locks.InsertOne(ctx, bson.D{
			{Key: fID, Value: name}, {Key: "owner", Value: owner},
			{Key: "exp", Value: bson.NewDateTimeFromTime(now.Add(s.lockTTL))},
		})
		if err == nil {
			stop := s.renewLock(name, owner)
			release := func() {
				stop()
				ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				defer cancel()
				if _, err := locks.DeleteOne(ctx, bson.D{{Key: fID, Value: name}, {Key: "owner", Value: owner}}); err != nil {
					s.log.Warn("lock release failed; it will expire", "lock", name, "err", err)
				}
			}
			return release, nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return nil, fmt.Errorf("mongo: lock %q: %w", name, err)
		}
		var held struct {
			Owner string        `bson:"owner"`
			Exp   bson.DateTime `bson:"exp"`
		}
		err = locks.FindOne(ctx, bson.D{{Key: fID, Value: name}}).Decode(&held)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			continue // released meanwhile
		case err != nil:
			return nil, fmt.Errorf("mongo: lock %q: %w", name, err)
		case now.After(held.Exp.Time()):
			s.log.Warn("removing an expired lock", "lock", name)
			// Only as read: a holder that renewed it meanwhile keeps it.
			if _, err := locks.DeleteOne(ctx, bson.D{{Key: fID, Value: name}, {Key: "owner", Value: held.Owner}, {Key: "exp", Value: held.Exp}}); err != nil {
				return nil, fmt.Errorf("mongo: lock %q: %w", name, err)
			}
			continue
		}
		if err := backoff(ctx, attempt); err != nil {
			return nil, fmt.Errorf("mongo: lock %q: %w", name, err)
		}
	}
}

// renewLock extends the expiry of a held lock every LockTTL/3 until stopped.
func (s *Store) renewLock(name, owner string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(s.lockTTL / 3)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			exp := bson.NewDateTimeFromTime(s.now().Add(s.lockTTL))
			_, err := s.db.Collection(locksCollection).UpdateOne(ctx, bson.D{{Key: fID, Value: name}, {Key: "owner", Value: owner}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "exp", Value: exp}}}})
			if err != nil && ctx.Err() == nil {
				s.log.Warn("lock renewal failed", "lock", name, "err", err)
			}
		}
	}()
	return func() { cancel(); <-done }
}
