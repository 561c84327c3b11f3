package mongo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Instance leases: how a store tells that the process that owns a transaction is gone.
//
// Every store (one per server process) registers itself at Open in "instances" with a random id, its host
// name and process id, and renews its lease (the beat field) every LeaseTTL/3 on the wall clock; Close
// removes it. A transaction's intent names its owner. The owner is gone when its instance document is
// missing (closed, or removed as expired), when its lease has not been renewed for LeaseTTL, or — without
// waiting — when it ran on this host under a process id that no longer runs here (a restart on the same
// machine: the previous process was killed or crashed). Leases compare instants written by one instance's
// clock with another's, so LeaseTTL must exceed the clock difference between instances by a wide margin
// (default 10 s; the change feed already needs clocks within a second).

const instanceCollection = "instances"

// DefaultLeaseTTL is Options.LeaseTTL's default.
const DefaultLeaseTTL = 10 * time.Second

type instanceDoc struct {
	ID   string        `bson:"_id"`
	Host string        `bson:"host"`
	PID  int           `bson:"pid"`
	Beat bson.DateTime `bson:"beat"`
}

// startLease registers the store's instance and renews its lease until stopLease.
func (s *Store) startLease(ctx context.Context) error {
	host, _ := os.Hostname()
	s.host = host
	d := instanceDoc{ID: s.instance, Host: host, PID: os.Getpid(), Beat: bson.NewDateTimeFromTime(time.Now())}
	if _, err := s.db.Collection(instanceCollection).InsertOne(ctx, d); err != nil {
		return fmt.Errorf("mongo: register instance: %w", err)
	}
	lctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.stopLeaseLoop = func() { cancel(); <-done }
	go func() {
		defer close(done)
		tick := time.NewTicker(max(10*time.Millisecond, s.leaseTTL/3))
		defer tick.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-tick.C:
			}
			_, err := s.db.Collection(instanceCollection).UpdateOne(lctx, bson.D{{Key: fID, Value: s.instance}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "host", Value: host}, {Key: "pid", Value: os.Getpid()},
					{Key: "beat", Value: bson.NewDateTimeFromTime(time.Now())}}}})
			if err != nil && lctx.Err() == nil {
				s.log.Warn("instance lease renewal failed", "instance", s.instance, "err", err)
			}
		}
	}()
	return nil
}

// stopLease stops renewing the lease and removes the instance: its transactions are settled by others.
func (s *Store) stopLease(ctx context.Context) {
	if s.stopLeaseLoop == nil {
		return
	}
	s.stopLeaseLoop()
	if _, err := s.db.Collection(instanceCollection).DeleteOne(ctx, bson.D{{Key: fID, Value: s.instance}}); err != nil {
		s.log.Warn("could not remove the instance lease; it expires by itself", "instance", s.instance, "err", err)
	}
}

// ownerGone reports whether the instance that owns a transaction is gone (see the top of this file). An
// intent without an owner (written by an older careflow) is never presumed gone: timeouts settle it.
func (s *Store) ownerGone(ctx context.Context, owner string) (bool, error) {
	if owner == "" || owner == s.instance {
		return false, nil
	}
	var d instanceDoc
	err := s.db.Collection(instanceCollection).FindOne(ctx, bson.D{{Key: fID, Value: owner}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("mongo: read the lease of instance %s: %w", owner, err)
	}
	if time.Since(d.Beat.Time()) > s.leaseTTL {
		return true, nil
	}
	if d.Host != "" && d.Host == s.host && d.PID > 0 && d.PID != os.Getpid() && !processAlive(d.PID) {
		return true, nil
	}
	return false, nil
}

// forgetInstances removes the leases that expired long ago (their owners' transactions are settled by
// then), so that the collection does not grow with every restart.
func (s *Store) forgetInstances(ctx context.Context) error {
	old := bson.D{{Key: "beat", Value: bson.D{{Key: "$lt", Value: bson.NewDateTimeFromTime(time.Now().Add(-10 * s.leaseTTL))}}}}
	if _, err := s.db.Collection(instanceCollection).DeleteMany(ctx, old); err != nil {
		return fmt.Errorf("mongo: recovery: forget expired instances: %w", err)
	}
	return nil
}
