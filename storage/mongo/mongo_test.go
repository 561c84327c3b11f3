package mongo_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/storage/mongo"

	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/mongo/mongotest"
	"github.com/careflow/careflow/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return mongotest.Open(t, storagetest.Types, nil) })
}

// writeOne creates one resource of typ, the store's first write of the type (its collection and indexes).
func writeOne(t *testing.T, s *mongo.Store, typ string) {
	t.Helper()
	if _, err := s.Create(context.Background(), storage.Write{Type: typ, Body: []byte(`{"resourceType":"` + typ + `"}`)}); err != nil {
		t.Fatal(err)
	}
}

// collectionNames lists the collections of s's database that are named after a served type.
func collectionNames(t *testing.T, s *mongo.Store) []string {
	t.Helper()
	names, err := s.Database().ListCollectionNames(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if slices.Contains(definitions.ResourceTypes, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// TestCollectionsOnFirstWrite: with every R4 type served, opening a store creates no collection (nor any
// of its indexes) for a type; the first write of a type creates its collection with its indexes, and a
// store opened later on the database keeps them.
func TestCollectionsOnFirstWrite(t *testing.T) {
	reg := r4test.Load(t).Registry
	s := mongotest.OpenWith(t, mongo.Options{Types: definitions.ResourceTypes, Registry: reg, SearchIndexes: mongo.IndexesNever})
	if got := collectionNames(t, s); len(got) != 0 {
		t.Fatalf("collections after opening: %v, want none", got)
	}
	writeOne(t, s, "Condition")
	ops := []storage.TxOp{{Kind: storage.TxCreate, Write: storage.Write{Type: "Encounter", Body: []byte(`{"resourceType":"Encounter"}`)}}}
	if _, err := s.Transact(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
	if got := collectionNames(t, s); !slices.Equal(got, []string{"Condition", "Encounter"}) {
		t.Fatalf("collections after writing a Condition and an Encounter: %v", got)
	}
	for _, typ := range []string{"Condition", "Encounter"} {
		cur, err := s.Database().Collection(typ).Indexes().List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var all []bson.M
		if err := cur.All(context.Background(), &all); err != nil {
			t.Fatal(err)
		}
		if len(all) != 4 {
			t.Errorf("%s has %d indexes, want 4 (_id, last_updated, feed, refs)", typ, len(all))
		}
	}
}

// TestReopen: opening a store on a database that already has its indexes (a restart) works and creates
// nothing twice. FerretDB v1.24 drops the connection when asked to create an existing index. (The search
// indexes are forced: on FerretDB they are skipped by default.)
func TestReopen(t *testing.T) {
	reg := r4test.Load(t).Registry
	first := mongotest.OpenWith(t, mongo.Options{Types: definitions.ResourceTypes, Registry: reg, SearchIndexes: mongo.IndexesAlways})
	writeOne(t, first, "Patient")
	count := func() int {
		cur, err := first.Database().Collection("Patient").Indexes().List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var all []bson.M
		if err := cur.All(context.Background(), &all); err != nil {
			t.Fatal(err)
		}
		return len(all)
	}
	before := count()
	if before < 30 {
		t.Errorf("Patient has %d indexes, want one per search parameter", before)
	}
	uri := strings.TrimSuffix(mongotest.URI(), "/") + "/" + first.Database().Name()
	again, err := mongo.Open(context.Background(), mongo.Options{URI: uri, Types: definitions.ResourceTypes, Registry: reg, SearchIndexes: mongo.IndexesAlways})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer again.Close(context.Background())
	if after := count(); after != before {
		t.Errorf("indexes %d → %d after reopening", before, after)
	}
}

// crashTimeout is the transaction timeout of the recovery tests: short, so that a dead transaction is old
// enough to roll back after a short wait.
const crashTimeout = time.Second

var errCrash = errors.New("simulated crash")

// crashHooks stop every transaction at the crash point as if the process died there.
func crashHooks(at storagetest.CrashPoint) mongo.Hooks {
	crash := func(ctx context.Context, txID string) error { return errCrash }
	switch at {
	case storagetest.CrashAfterClaims:
		return mongo.Hooks{AfterClaims: crash}
	case storagetest.CrashAfterCommit:
		return mongo.Hooks{AfterCommit: crash}
	case storagetest.CrashMidPublish:
		return mongo.Hooks{AfterPublish: func(ctx context.Context, txID, typ string) error { return errCrash }}
	}
	return mongo.Hooks{}
}

// restart opens a store on the database of crashed and recovers: it waits until whatever crashed left
// is older than the transaction timeout, then runs a recovery pass.
func restart(t *testing.T, crashed storage.Store) storage.Store {
	s := mongotest.Reopen(t, crashed.(*mongo.Store).Database().Name(), mongo.Options{Types: storagetest.Types, TxTimeout: crashTimeout, RecoveryInterval: -1})
	time.Sleep(crashTimeout + 100*time.Millisecond)
	if err := s.Recover(context.Background()); err != nil {
		t.Fatalf("recover: %v", err)
	}
	return s
}

func TestRecovery(t *testing.T) {
	storagetest.RunRecovery(t, storagetest.Recovery{
		Open: func(t *testing.T, at storagetest.CrashPoint) storage.Store {
			return mongotest.OpenWith(t, mongo.Options{Types: storagetest.Types, TxTimeout: crashTimeout, RecoveryInterval: -1, Hooks: crashHooks(at)})
		},
		Restart: restart,
	})
}

// TestSearchIndexModes: auto creates the search-parameter indexes on MongoDB and not on FerretDB (which
// never uses them); never creates only the structural ones.
func TestSearchIndexModes(t *testing.T) {
	reg := r4test.Load(t).Registry
	count := func(s *mongo.Store) int {
		cur, err := s.Database().Collection("Patient").Indexes().List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var all []bson.M
		if err := cur.All(context.Background(), &all); err != nil {
			t.Fatal(err)
		}
		return len(all)
	}
	var info bson.M
	never := mongotest.OpenWith(t, mongo.Options{Types: definitions.ResourceTypes, Registry: reg, SearchIndexes: mongo.IndexesNever})
	writeOne(t, never, "Patient")
	if err := never.Database().RunCommand(context.Background(), bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		t.Fatal(err)
	}
	_, ferret := info["ferretdbVersion"]
	structural := count(never) // _id, last_updated, feed, refs
	if structural != 4 {
		t.Errorf("never: Patient has %d indexes, want 4 (_id, last_updated, feed, refs)", structural)
	}
	autoStore := mongotest.OpenWith(t, mongo.Options{Types: definitions.ResourceTypes, Registry: reg})
	writeOne(t, autoStore, "Patient")
	auto := count(autoStore)
	if (ferret && auto != structural) || (!ferret && auto < 30) {
		t.Errorf("auto on %s: Patient has %d indexes", map[bool]string{true: "FerretDB", false: "MongoDB"}[ferret], auto)
	}
	if _, err := mongo.ParseIndexMode("sometimes"); err == nil {
		t.Error("ParseIndexMode accepted sometimes")
	}
}
