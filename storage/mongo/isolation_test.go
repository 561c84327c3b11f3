package mongo_test

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/mongo"
	"github.com/careflow/careflow/storage/mongo/mongotest"
	"github.com/careflow/careflow/storage/storagetest"
)

// TestIsolation: a transaction paused after its claims, after its commit point and half-way through
// publishing is seen whole or not at all by every reader.
func TestIsolation(t *testing.T) {
	storagetest.RunIsolation(t, storagetest.Isolation{Open: func(t *testing.T, h storagetest.IsolationHooks) storage.Store {
		return mongotest.OpenWith(t, mongo.Options{Types: storagetest.Types, RecoveryInterval: -1, Hooks: mongo.Hooks{
			AfterClaims: func(context.Context, string) error { h.Pause(storagetest.CrashAfterClaims); return nil },
			AfterCommit: func(context.Context, string) error { h.Pause(storagetest.CrashAfterCommit); return nil },
			AfterPublish: func(context.Context, string, string) error {
				h.Pause(storagetest.CrashMidPublish)
				return nil
			},
			ReaderWaits: func(context.Context, string) { h.ReaderWaits() },
		}})
	}})
}

// TestFeedHidesAPartlyClearedTransaction: while a transaction clears the marks of its claims (one cleared,
// the other held back), the change feed lists neither of its versions, reads by id see both; once it is
// done the feed lists both.
func TestFeedHidesAPartlyClearedTransaction(t *testing.T) {
	ctx := context.Background()
	paused, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s := mongotest.OpenWith(t, mongo.Options{Types: storagetest.Types, RecoveryInterval: -1, Hooks: mongo.Hooks{
		BeforeVisible: func(ctx context.Context, versions []string) {
			if slices.Contains(versions, "Patient/b/2") {
				once.Do(func() { close(paused) })
				<-release
			}
		},
	}})
	for _, id := range []string{"a", "b"} {
		if _, err := s.Create(ctx, patientWrite(id, "before")); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Transact(ctx, []storage.TxOp{
			{Kind: storage.TxUpdate, Write: patientWrite("a", "after")},
			{Kind: storage.TxUpdate, Write: patientWrite("b", "after")},
		})
		done <- err
	}()
	<-paused
	// a's claim is cleared (its own update, in parallel with b's held-back one).
	cleared := bson.D{{Key: "_id", Value: "Patient/a/2"}, {Key: "tx", Value: bson.D{{Key: "$exists", Value: false}}}}
	for deadline := time.Now().Add(30 * time.Second); count(t, s, "history", cleared) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the claim of a was not cleared")
		}
		time.Sleep(10 * time.Millisecond)
	}
	feed := func() string {
		h, err := s.History(ctx, storage.HistoryQuery{Type: "Patient", Count: 100})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, v := range h.Versions {
			out = append(out, key(v))
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	if got := feed(); got != "Patient/a/1 Patient/b/1" {
		t.Errorf("type history while the transaction clears its marks: %s, want neither of its versions", got)
	}
	for _, id := range []string{"a", "b"} {
		if v, err := s.Read(ctx, "Patient", id); err != nil || v.VersionID != 2 {
			t.Errorf("read %s: %+v %v, want version 2", id, v, err)
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := feed(); got != "Patient/a/1 Patient/a/2 Patient/b/1 Patient/b/2" {
		t.Errorf("type history after the transaction: %s, want both of its versions", got)
	}
}
