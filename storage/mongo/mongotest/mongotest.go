// Package mongotest opens a throw-away database on the MongoDB-compatible server the tests run against,
// CAREFLOW_TEST_MONGODB_URI (scripts/test.sh starts FerretDB and sets it). When it is unset, tests that need
// it skip with one line — except under CI=true, where a missing server fails them, so that CI never skips
// the MongoDB store silently. A configured server that does not answer always fails.
package mongotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage/mongo"
)

// URI returns the test server's connection string ("" when none is configured).
func URI() string { return os.Getenv("CAREFLOW_TEST_MONGODB_URI") }

// Require skips the test when no MongoDB server is configured (fails it under CI=true).
func Require(t testing.TB) {
	t.Helper()
	if URI() != "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CAREFLOW_TEST_MONGODB_URI is not set: CI must run the MongoDB store's tests (scripts/test.sh starts FerretDB)")
	}
	t.Skip("MongoDB store not tested: CAREFLOW_TEST_MONGODB_URI is not set (scripts/test.sh starts FerretDB and sets it)")
}

// Open returns a store on a new, empty database that is dropped when the test ends. registry may be nil
// (no search indexes).
func Open(t testing.TB, types []string, registry *search.Registry) *mongo.Store {
	t.Helper()
	return OpenWith(t, mongo.Options{Types: types, Registry: registry})
}

// OpenWith is Open with more options; URI and DefaultDatabase are set here. A zero FeedSettle means none
// here (the change feed lists whatever is visible at once), so that tests can read their writes back
// from type and system history; tests of the feed itself set one, with their own clock.
func OpenWith(t testing.TB, o mongo.Options) *mongo.Store {
	t.Helper()
	Require(t)
	noSettle(&o)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "test_" + hex.EncodeToString(b[:])
	o.URI, o.DefaultDatabase = URI(), name
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := mongo.Open(ctx, o)
	if err != nil {
		t.Fatalf("no MongoDB-compatible server at %s (start it with scripts/db.sh or run scripts/test.sh): %v", URI(), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Database().Drop(ctx); err != nil {
			t.Logf("drop %s: %v", name, err)
		}
		_ = s.Close(ctx)
	})
	return s
}

// Reopen opens another store on the database named db (as a restarted server would), closed when the
// test ends; URI and DefaultDatabase are set here. The database is dropped by whoever opened it first.
func Reopen(t testing.TB, db string, o mongo.Options) *mongo.Store {
	t.Helper()
	Require(t)
	noSettle(&o)
	o.URI, o.DefaultDatabase = URI(), db
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := mongo.Open(ctx, o)
	if err != nil {
		t.Fatalf("reopen %s: %v", db, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

// noSettle turns the change feed's settle window off unless o sets one, and shortens how long settled
// transactions' intents linger (tests check that none remain) unless o sets it.
func noSettle(o *mongo.Options) {
	if o.FeedSettle == 0 {
		o.FeedSettle = -1
	}
	if o.TxLinger == 0 {
		o.TxLinger = time.Second
	}
}
