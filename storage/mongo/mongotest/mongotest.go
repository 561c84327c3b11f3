// Package mongotest opens a throw-away database on the MongoDB-compatible server the tests run against:
// CAREFLOW_TEST_MONGODB_URI, or the default database scripts/db.sh starts (mongodb://127.0.0.1:27017/).
// Tests fail — they never skip — when it does not answer: run them through scripts/test.sh.
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

// URI returns the test server's connection string.
func URI() string {
	if u := os.Getenv("CAREFLOW_TEST_MONGODB_URI"); u != "" {
		return u
	}
	return "mongodb://127.0.0.1:27017/"
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

// noSettle turns the change feed's settle window off unless o sets one.
func noSettle(o *mongo.Options) {
	if o.FeedSettle == 0 {
		o.FeedSettle = -1
	}
}
