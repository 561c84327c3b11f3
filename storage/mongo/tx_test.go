package mongo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"

	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/mongo"
	"github.com/careflow/careflow/storage/mongo/mongotest"
	"github.com/careflow/careflow/storage/storagetest"
)

func patientWrite(id, family string) storage.Write {
	return storage.Write{Type: "Patient", ID: id, Body: []byte(fmt.Sprintf(`{"resourceType":"Patient","name":[{"family":%q}]}`, family)),
		Index: map[string]any{"s_family": []string{family}}}
}

// count returns the number of documents of coll matching filter.
func count(t *testing.T, s *mongo.Store, coll string, filter bson.D) int64 {
	t.Helper()
	n, err := s.Database().Collection(coll).CountDocuments(context.Background(), filter)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// expectNoTransactionLeftovers: no marked claim, placeholder or intent remains.
func expectNoTransactionLeftovers(t *testing.T, s *mongo.Store) {
	t.Helper()
	marked := bson.D{{Key: "tx", Value: bson.D{{Key: "$exists", Value: true}}}}
	if n := count(t, s, "history", marked); n != 0 {
		t.Errorf("%d marked claims remain", n)
	}
	for _, typ := range storagetest.Types {
		if n := count(t, s, typ, bson.D{{Key: "vid", Value: 0}}); n != 0 {
			t.Errorf("%d %s placeholders remain", n, typ)
		}
	}
	// A settled transaction's intent lingers for TxLinger (isolation.go), then its owner deletes it.
	deadline := time.Now().Add(10 * time.Second)
	for count(t, s, "transactions", bson.D{{Key: "done", Value: true}}) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := count(t, s, "transactions", bson.D{}); n != 0 {
		t.Errorf("%d intents remain", n)
	}
}

// TestTxRollsBackItsClaims: a transaction that fails after it has reserved ids and claimed versions (a
// conditional op finds its version claimed by another writer) removes all of it.
func TestTxRollsBackItsClaims(t *testing.T) {
	ctx := context.Background()
	s := mongotest.Open(t, storagetest.Types, nil)
	for _, id := range []string{"p1", "p2"} {
		if _, err := s.Create(ctx, patientWrite(id, "one")); err != nil {
			t.Fatal(err)
		}
	}
	// Another writer has claimed version 2 of p2 and not published it yet.
	foreign := bson.D{{Key: "_id", Value: "Patient/p2/2"}, {Key: "t", Value: "Patient"}, {Key: "rid", Value: "p2"}, {Key: "vid", Value: int64(2)},
		{Key: "lu", Value: bson.NewDateTimeFromTime(time.Now())}, {Key: "del", Value: false}, {Key: "m", Value: "PUT"}, {Key: "raw", Value: `{}`}}
	if _, err := s.Database().Collection("history").InsertOne(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	_, err := s.Transact(ctx, []storage.TxOp{
		{Kind: storage.TxCreate, Write: patientWrite("p0-new", "ghost")},
		{Kind: storage.TxUpdate, Write: patientWrite("p1", "ghost")},
		{Kind: storage.TxUpdate, Write: patientWrite("p2", "ghost"), Precondition: storage.Precondition{VersionID: 1}},
	})
	var txErr *storage.TxError
	var conflict *storage.VersionConflictError
	if !errors.As(err, &txErr) || txErr.Index != 2 || !errors.As(err, &conflict) {
		t.Fatalf("transact: %v, want a version conflict at op 2", err)
	}
	if _, err := s.Database().Collection("history").DeleteOne(ctx, bson.D{{Key: "_id", Value: "Patient/p2/2"}}); err != nil {
		t.Fatal(err)
	}
	expectNoTransactionLeftovers(t, s)
	if n := count(t, s, "history", bson.D{{Key: "_id", Value: "Patient/p1/2"}}); n != 0 {
		t.Error("the claim of p1/2 was not rolled back")
	}
	if _, err := s.Read(ctx, "Patient", "p0-new"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("read p0-new: %v", err)
	}
	if v, err := s.Read(ctx, "Patient", "p1"); err != nil || v.VersionID != 1 {
		t.Errorf("p1: %+v %v", v, err)
	}
	// The same transaction without the interference commits.
	if _, err := s.Transact(ctx, []storage.TxOp{
		{Kind: storage.TxCreate, Write: patientWrite("p0-new", "real")},
		{Kind: storage.TxUpdate, Write: patientWrite("p1", "real")},
		{Kind: storage.TxUpdate, Write: patientWrite("p2", "real"), Precondition: storage.Precondition{VersionID: 1}},
	}); err != nil {
		t.Fatal(err)
	}
	expectNoTransactionLeftovers(t, s)
}

// TestDeadTransactionUnblocksWriters: a transaction whose process died before its commit point holds its
// claims until it is older than the transaction timeout; then the writers it blocks roll it back
// themselves (no recovery pass needed) and proceed.
func TestDeadTransactionUnblocksWriters(t *testing.T) {
	ctx := context.Background()
	crashed := mongotest.OpenWith(t, mongo.Options{Types: storagetest.Types, TxTimeout: crashTimeout, RecoveryInterval: -1,
		Hooks: crashHooks(storagetest.CrashAfterClaims)})
	for _, id := range []string{"a", "b"} {
		if _, err := crashed.Create(ctx, patientWrite(id, "start")); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if _, err := crashed.Transact(ctx, []storage.TxOp{
		{Kind: storage.TxUpdate, Write: patientWrite("a", "dead")},
		{Kind: storage.TxUpdate, Write: patientWrite("b", "dead")},
		{Kind: storage.TxUpdate, Write: patientWrite("c", "dead")},
	}); !errors.Is(err, errCrash) {
		t.Fatalf("transact: %v", err)
	}
	other := mongotest.Reopen(t, crashed.Database().Name(), mongo.Options{Types: storagetest.Types, TxTimeout: crashTimeout, RecoveryInterval: -1})
	// A single write waits, then rolls the dead transaction back.
	v, _, err := other.Update(ctx, patientWrite("a", "alive"), storage.Precondition{})
	if err != nil || v.VersionID != 2 {
		t.Fatalf("update: %+v %v", v, err)
	}
	if waited := time.Since(start); waited < crashTimeout {
		t.Errorf("the update did not wait for the transaction timeout (%v)", waited)
	}
	// So does a transaction (the roll-back removed every claim, so it does not even wait).
	res, err := other.Transact(ctx, []storage.TxOp{
		{Kind: storage.TxUpdate, Write: patientWrite("b", "alive")},
		{Kind: storage.TxCreate, Write: patientWrite("c", "alive")},
	})
	if err != nil || res[0].Version.VersionID != 2 || res[1].Version.VersionID != 1 {
		t.Fatalf("transact: %+v %v", res, err)
	}
	expectNoTransactionLeftovers(t, other)
	for _, id := range []string{"a", "b", "c"} {
		h, err := other.History(ctx, storage.HistoryQuery{Type: "Patient", ID: id, Count: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range h.Versions {
			if string(v.Body) != "" && family(v) == "dead" {
				t.Errorf("%s/%d holds the dead transaction's write", id, v.VersionID)
			}
		}
	}
}

func family(v *storage.Version) string {
	var p struct {
		Name []struct{ Family string } `json:"name"`
	}
	_ = json.Unmarshal(v.Body, &p)
	if len(p.Name) == 0 {
		return ""
	}
	return p.Name[0].Family
}

// TestPeriodicRecovery: a committed transaction whose process died before publishing is finished by
// the periodic recovery pass, without any writer touching its resources (readers see it meanwhile).
func TestPeriodicRecovery(t *testing.T) {
	ctx := context.Background()
	s := mongotest.OpenWith(t, mongo.Options{Types: storagetest.Types, TxTimeout: crashTimeout, RecoveryInterval: 100 * time.Millisecond,
		Hooks: crashHooks(storagetest.CrashAfterCommit)})
	if _, err := s.Transact(ctx, []storage.TxOp{{Kind: storage.TxCreate, Write: patientWrite("late", "late")}}); !errors.Is(err, errCrash) {
		t.Fatalf("transact: %v", err)
	}
	// Committed: readers see it at once, from its claim (isolation.go), published or not.
	if v, err := s.Read(ctx, "Patient", "late"); err != nil || v.VersionID != 1 {
		t.Fatalf("read of the committed, unpublished transaction: %+v %v", v, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, err := s.Read(ctx, "Patient", "late")
		if err == nil && v.VersionID == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not recovered: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Recovery clears its marks and intent right after publishing.
	for time.Now().Before(deadline) && count(t, s, "transactions", bson.D{}) > 0 {
		time.Sleep(50 * time.Millisecond)
	}
	expectNoTransactionLeftovers(t, s)
}

// BenchmarkTransact measures transactions of n updates plus n creates on the test database, and the
// database commands each one sends (cmds/op; the lingering intent's deletion, in the background, included
// when it runs within the benchmark).
func BenchmarkTransact(b *testing.B) {
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprint(2*n, "ops"), func(b *testing.B) {
			ctx := context.Background()
			var cmds atomic.Int64
			monitor := &event.CommandMonitor{Started: func(context.Context, *event.CommandStartedEvent) { cmds.Add(1) }}
			s := mongotest.OpenWith(b, mongo.Options{Types: storagetest.Types, Monitor: monitor})
			for i := 0; i < n; i++ {
				if _, err := s.Create(ctx, patientWrite(fmt.Sprint("u", i), "x")); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			cmds.Store(0)
			defer func() { b.ReportMetric(float64(cmds.Load())/float64(b.N), "cmds/op") }()
			for it := 0; it < b.N; it++ {
				ops := make([]storage.TxOp, 0, 2*n)
				for i := 0; i < n; i++ {
					ops = append(ops, storage.TxOp{Kind: storage.TxUpdate, Write: patientWrite(fmt.Sprint("u", i), "y")})
					ops = append(ops, storage.TxOp{Kind: storage.TxCreate, Write: patientWrite("", "new")})
				}
				if _, err := s.Transact(ctx, ops); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSingleWrites is the baseline of BenchmarkTransact: the same writes one by one, without a
// transaction.
func BenchmarkSingleWrites(b *testing.B) {
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprint(2*n, "ops"), func(b *testing.B) {
			ctx := context.Background()
			s := mongotest.Open(b, storagetest.Types, nil)
			for i := 0; i < n; i++ {
				if _, err := s.Create(ctx, patientWrite(fmt.Sprint("u", i), "x")); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for it := 0; it < b.N; it++ {
				for i := 0; i < n; i++ {
					if _, _, err := s.Update(ctx, patientWrite(fmt.Sprint("u", i), "y"), storage.Precondition{}); err != nil {
						b.Fatal(err)
					}
					if _, err := s.Create(ctx, patientWrite("", "new")); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// TestLockOutlivesItsTTLWhileHeld: a live holder renews its lock, so that a waiter does not take it after
// the TTL; a holder that dies (no renewal, no release) loses it after the TTL.
func TestLockOutlivesItsTTLWhileHeld(t *testing.T) {
	ctx := context.Background()
	const ttl = time.Second
	s := mongotest.OpenWith(t, mongo.Options{Types: storagetest.Types, LockTTL: ttl})
	release, err := s.Lock(ctx, "held")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 3*ttl)
	defer cancel()
	if r, err := s.Lock(wctx, "held"); err == nil {
		r()
		t.Fatal("a waiter took a lock whose holder is alive")
	}
	release()
	r, err := s.Lock(ctx, "held")
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	r()
	// A dead holder: its lock document stays, unrenewed.
	if _, err := s.Database().Collection("locks").InsertOne(ctx, bson.D{{Key: "_id", Value: "dead"}, {Key: "owner", Value: "x"},
		{Key: "exp", Value: bson.NewDateTimeFromTime(time.Now().Add(ttl))}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r, err = s.Lock(ctx, "dead")
	if err != nil {
		t.Fatal(err)
	}
	r()
	if waited := time.Since(start); waited < ttl/2 || waited > 10*ttl {
		t.Errorf("took a dead holder's lock after %v (TTL %v)", waited, ttl)
	}
}
