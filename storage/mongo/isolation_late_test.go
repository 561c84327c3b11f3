package mongo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"

	"github.com/careflow/careflow/storage"
)

// TestReadsByIDSeeATransactionWhoseMarkALatePublishErased: FerretDB's update reads a document and writes
// the whole of it back in two steps, so a publish of version n that stalled past staleClaim (a blocked
// writer published its claim meanwhile) can land after a transaction claimed n+1 and marked the document,
// putting version n back without the mark (isolation.go, unmarked). That late write is made here at the
// exact step — right after the commit point, both documents the transaction replaces are written back as
// they were before it marked them, through the raw collection — and reads by id (Read, VRead, Exists)
// must see the transaction whole until and after it publishes (also when the late writes land after its
// publishes). The check is FerretDB's (s.ferret); the
// late write is simulated, so the test forces it on and runs on MongoDB too. Without the check, Read
// returns version 2 of a and Exists finds b.
func TestReadsByIDSeeATransactionWhoseMarkALatePublishErased(t *testing.T) {
	ctx := context.Background()
	paused, release := make(chan struct{}), make(chan struct{})
	var s *Store
	var before []bson.Raw // the documents as the late publishes write them: version n, unmarked
	s = openWithOptions(t, Options{Types: []string{"Patient"}, RecoveryInterval: -1, TxLinger: time.Hour, Hooks: Hooks{
		AfterCommit: func(ctx context.Context, txID string) error {
			for _, raw := range before {
				id := raw.Lookup(fID).StringValue()
				if _, err := s.db.Collection("Patient").ReplaceOne(ctx, bson.D{{Key: fID, Value: id}}, raw); err != nil {
					return fmt.Errorf("late publish of %s: %w", id, err)
				}
			}
			close(paused)
			<-release
			return nil
		},
	}})
	s.ferret = true
	write := func(id, family string) storage.Write {
		return storage.Write{Type: "Patient", ID: id, Body: []byte(fmt.Sprintf(`{"resourceType":"Patient","name":[{"family":%q}]}`, family)),
			Index: map[string]any{"s_family": []string{family}}}
	}
	for _, id := range []string{"a", "b"} {
		if _, err := s.Create(ctx, write(id, "one")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Update(ctx, write(id, "two"), storage.Precondition{}); err != nil {
			t.Fatal(err)
		}
		raw, err := s.db.Collection("Patient").FindOne(ctx, bson.D{{Key: fID, Value: id}}).Raw()
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, raw)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Transact(ctx, []storage.TxOp{
			{Kind: storage.TxUpdate, Write: write("a", "three")},
			{Kind: storage.TxDelete, Write: storage.Write{Type: "Patient", ID: "b"}},
		})
		done <- err
	}()
	select {
	case <-paused:
	case err := <-done:
		t.Fatalf("the transaction ended before its commit point's hook: %v", err)
	}
	if n := countDocs(t, s, "Patient", bson.D{{Key: fTx, Value: bson.D{{Key: "$exists", Value: true}}}}); n != 0 {
		t.Fatalf("%d documents still marked: the late publishes did not erase the marks", n)
	}
	check := func(when string) {
		t.Helper()
		if v, err := s.Read(ctx, "Patient", "a"); err != nil || v.VersionID != 3 {
			t.Errorf("%s: read a: %v, want the transaction's version 3", when, versionOrErr(v, err))
		}
		var gone *storage.GoneError
		if _, err := s.Read(ctx, "Patient", "b"); !errors.As(err, &gone) || gone.Deleted.VersionID != 3 {
			t.Errorf("%s: read b: %v, want gone at the transaction's version 3", when, err)
		}
		if v, err := s.VRead(ctx, "Patient", "a", 3); err != nil || v.VersionID != 3 {
			t.Errorf("%s: vread a/3: %v", when, versionOrErr(v, err))
		}
		if got, err := s.Exists(ctx, "Patient", []string{"a", "b"}); err != nil || !got["a"] || got["b"] {
			t.Errorf("%s: exists a, b: %v %v, want a and not b", when, got, err)
		}
	}
	check("committed, its marks erased")
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	check("published")
	// The late publishes land even after the transaction's: reads by id still serve its versions (Exists,
	// which lists the transactions in flight for all its ids, while its intent lingers: an hour here).
	for _, raw := range before {
		if _, err := s.db.Collection("Patient").ReplaceOne(ctx, bson.D{{Key: fID, Value: raw.Lookup(fID).StringValue()}}, raw); err != nil {
			t.Fatal(err)
		}
	}
	check("published, then overwritten by the late publishes")
}

// versionOrErr describes what a read returned.
func versionOrErr(v *storage.Version, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%s/%s version %d", v.Type, v.ID, v.VersionID)
}

// TestUnmarkedReadsCostNothingOffFerretDB: off FerretDB a read by id of an unmarked document is one
// command, as before the check (isolation.go, unmarked); on FerretDB it is two (the claim above it).
func TestUnmarkedReadsCostNothingOffFerretDB(t *testing.T) {
	ctx := context.Background()
	var cmds atomic.Int64
	type counted struct{}
	s := openWithOptions(t, Options{Types: []string{"Patient"}, RecoveryInterval: -1, Monitor: &event.CommandMonitor{
		Started: func(ctx context.Context, _ *event.CommandStartedEvent) {
			if ctx.Value(counted{}) != nil {
				cmds.Add(1)
			}
		},
	}})
	if _, err := s.Create(ctx, storage.Write{Type: "Patient", ID: "a", Body: []byte(`{"resourceType":"Patient"}`)}); err != nil {
		t.Fatal(err)
	}
	cctx := context.WithValue(ctx, counted{}, true)
	for _, ferret := range []bool{false, true} {
		s.ferret = ferret
		cmds.Store(0)
		if _, err := s.Read(cctx, "Patient", "a"); err != nil {
			t.Fatal(err)
		}
		want := int64(1)
		if ferret {
			want = 2
		}
		if got := cmds.Load(); got != want {
			t.Errorf("ferret=%v: a read by id sent %d commands, want %d", ferret, got, want)
		}
	}
}

// openWithOptions opens a store on a new database of the test server with o (URI and database set
// here), dropped and closed when the test ends.
func openWithOptions(t *testing.T, o Options) *Store {
	t.Helper()
	uri := os.Getenv("CAREFLOW_TEST_MONGODB_URI")
	if uri == "" {
		t.Skip("CAREFLOW_TEST_MONGODB_URI is not set")
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	o.URI, o.DefaultDatabase = uri, "test_"+hex.EncodeToString(b[:])
	if o.FeedSettle == 0 {
		o.FeedSettle = -1
	}
	if o.TxLinger == 0 {
		o.TxLinger = time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, o)
	if err != nil {
		t.Fatalf("no MongoDB-compatible server at %s: %v", uri, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.db.Drop(ctx)
		_ = s.Close(ctx)
	})
	return s
}

// countDocs returns the number of documents of coll matching filter.
func countDocs(t *testing.T, s *Store, coll string, filter bson.D) int64 {
	t.Helper()
	n, err := s.db.Collection(coll).CountDocuments(context.Background(), filter)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
