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

// lockTTL is how long a lock outlives a holder that died without releasing it.
const lockTTL = 30 * time.Second

// Lock implements storage.Store with a document per held lock: the unique _id makes exactly one insert
// win, on MongoDB and FerretDB alike. Waiters poll with a short, jittered backoff; an expired lock (its
// holder crashed) is removed by the first waiter that sees it.
func (s *Store) Lock(ctx context.Context, name string) (func(), error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	owner := hex.EncodeToString(b[:])
	locks := s.db.Collection(locksCollection)
	for attempt := 0; ; attempt++ {
		now := s.now()
		_, err := locks.InsertOne(ctx, bson.D{
			{Key: fID, Value: name}, {Key: "owner", Value: owner},
			{Key: "exp", Value: bson.NewDateTimeFromTime(now.Add(lockTTL))},
		})
		if err == nil {
			release := func() {
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
			if _, err := locks.DeleteOne(ctx, bson.D{{Key: fID, Value: name}, {Key: "owner", Value: held.Owner}}); err != nil {
				return nil, fmt.Errorf("mongo: lock %q: %w", name, err)
			}
			continue
		}
		if err := backoff(ctx, attempt); err != nil {
			return nil, fmt.Errorf("mongo: lock %q: %w", name, err)
		}
	}
}
