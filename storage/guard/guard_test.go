package guard_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/guard"
	"github.com/careflow/careflow/storage/guard/guardtest"
	"github.com/careflow/careflow/storage/mongo"
	"github.com/careflow/careflow/storage/mongo/mongotest"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// wantOutcome checks that err is an OperationOutcome error with status and issue code.
func wantOutcome(t *testing.T, what string, err error, status int, code string) {
	t.Helper()
	var e *outcome.Error
	if !errors.As(err, &e) || e.Status != status || e.Issues[0].Code != code {
		t.Fatalf("%s: %v; want %d %s", what, err, status, code)
	}
}

// stoppedBySearchBudget runs q unbounded on raw (to know its cost), then through a guard with a budget of
// a twentieth of that: the guarded search answers 400 too-costly and returns long before the unbounded
// one did — the store stopped its database work when the budget ended. The search must take at least
// 300 ms for the comparison to mean something whatever the machine's speed: while it is faster, grow
// doubles the data it reads (up to 4 times).
func stoppedBySearchBudget(t *testing.T, raw storage.Store, q *search.Query, grow func()) {
	var full time.Duration
	for round := 0; ; round++ {
		start := time.Now()
		if _, err := raw.Search(context.Background(), q); err != nil {
			t.Fatal(err)
		}
		full = time.Since(start)
		if full >= 300*time.Millisecond {
			break
		}
		if round == 4 {
			t.Fatalf("the slow search took only %s with 16 times the data", full)
		}
		grow()
	}
	g := guard.New(raw, guard.Options{QueryTimeout: full / 20, DBTimeout: 5 * time.Second})
	start := time.Now()
	_, err := g.Search(context.Background(), q)
	bounded := time.Since(start)
	wantOutcome(t, "search over its budget", err, http.StatusBadRequest, outcome.CodeTooCostly)
	if bounded > full/4 {
		t.Fatalf("the search with a budget of %s returned after %s (unbounded: %s): the store did not stop it", full/20, bounded, full)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Error("the too-costly error wraps the deadline: the interaction layer would answer 503")
	}
	t.Logf("unbounded %s, budget %s, returned after %s", full, full/20, bounded)
	// The store serves the next search.
	if _, err := guard.New(raw, guard.Options{}).Search(context.Background(), slowQuery(t, r4test.Load(t).Registry, 1)); err != nil {
		t.Fatalf("search after the stopped one: %v", err)
	}
}

// TestSearchBudgetSQLite: the embedded store stops a search when its budget ends (mattn/go-sqlite3
// interrupts the statement when the context ends).
func TestSearchBudgetSQLite(t *testing.T) {
	reg := r4test.Load(t).Registry
	s := sqlitetest.Open(t)
	n := 2000
	fill(t, s, reg, n)
	stoppedBySearchBudget(t, s, slowQuery(t, reg, 700), func() { fillRange(t, s, reg, n, 2*n); n *= 2 })
}

// TestSearchBudgetMongo: the MongoDB store stops a search when its budget ends (the driver sends the
// deadline as maxTimeMS and abandons the operation).
func TestSearchBudgetMongo(t *testing.T) {
	reg := r4test.Load(t).Registry
	s := mongotest.Open(t, definitions.ResourceTypes, reg)
	n := 250
	fill(t, s, reg, n)
	stoppedBySearchBudget(t, s, slowQuery(t, reg, 150), func() { fillRange(t, s, reg, n, 2*n); n *= 2 })
}

// TestStorageAnswersPassThrough: the storage contract's own answers are not database failures.
func TestStorageAnswersPassThrough(t *testing.T) {
	g := guard.New(sqlitetest.Open(t), guard.Options{})
	ctx := context.Background()
	if _, err := g.Read(ctx, "Patient", "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("read of a missing resource: %v", err)
	}
	v, err := g.Create(ctx, storage.Write{Type: "Patient", Body: []byte(`{"resourceType":"Patient"}`)})
	if err != nil {
		t.Fatal(err)
	}
	var conflict *storage.VersionConflictError
	if _, _, err := g.Update(ctx, storage.Write{Type: "Patient", ID: v.ID, Body: []byte(`{"resourceType":"Patient","id":"` + v.ID + `"}`)}, storage.Precondition{VersionID: 7}); !errors.As(err, &conflict) {
		t.Errorf("update with a wrong precondition: %v", err)
	}
	if err := g.Ping(ctx); err != nil {
		t.Errorf("ping: %v", err)
	}
	// A request that ended (the client went away) is not the database's failure.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := g.Read(cancelled, "Patient", v.ID); !errors.Is(err, context.Canceled) {
		t.Errorf("read with a cancelled request: %v", err)
	}
}

// openVia opens a MongoDB store on a fresh database through addr, failing fast while it is unreachable.
func openVia(ctx context.Context, addr, db string) (storage.Store, error) {
	return mongo.Open(ctx, mongo.Options{
		URI:             "mongodb://" + addr + "/?serverSelectionTimeoutMS=500&connectTimeoutMS=500",
		DefaultDatabase: db, Types: definitions.ResourceTypes, RecoveryInterval: -1,
	})
}

func testDB(t *testing.T) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		// Dropped through the real server (the proxy is gone by then).
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if s, err := mongo.Open(ctx, mongo.Options{URI: mongotest.URI(), DefaultDatabase: name, Types: definitions.ResourceTypes, RecoveryInterval: -1}); err == nil {
			_ = s.Database().Drop(ctx)
			_ = s.Close(ctx)
		}
	})
	return name
}

// mongoAddr is host:port of the test server.
func mongoAddr(t *testing.T) string {
	mongotest.Require(t)
	rest := strings.TrimPrefix(mongotest.URI(), "mongodb://")
	return strings.SplitN(strings.SplitN(rest, "/", 2)[0], ",", 2)[0]
}

// within runs f and fails the test when it takes longer than d.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	start := time.Now()
	f()
	if took := time.Since(start); took > d {
		t.Errorf("%s took %s; want at most %s", what, took, d)
	}
}

// untilOK calls f until it succeeds (each failing call itself waits up to the database timeout), for at
// most a minute.
func untilOK(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after a minute: %v", what, err)
		}
	}
}

// TestDatabaseDownMongo: with the database unreachable, every call answers 503 transient within the
// database timeout (searches too), Ping fails; once it is back, calls succeed again without a restart.
func TestDatabaseDownMongo(t *testing.T) {
	p := guardtest.New(t, mongoAddr(t))
	p.Restore()
	ctx := context.Background()
	raw, err := openVia(ctx, p.Addr, testDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.(*mongo.Store).Close(ctx)
	const dbTimeout = time.Second
	g := guard.New(raw, guard.Options{DBTimeout: dbTimeout, QueryTimeout: 30 * time.Second})
	v, err := g.Create(ctx, storage.Write{Type: "Patient", Body: []byte(`{"resourceType":"Patient"}`)})
	if err != nil {
		t.Fatal(err)
	}
	q := slowQuery(t, r4test.Load(t).Registry, 1)

	p.Cut()
	// The first call to find the database gone may also ping it (a fifth of the timeout); then every
	// call answers within the timeout. The bounds allow for a loaded machine.
	slack := dbTimeout
	within(t, dbTimeout+dbTimeout/5+slack, "the first read with the database down", func() {
		_, err := g.Read(ctx, "Patient", v.ID)
		wantOutcome(t, "read with the database down", err, http.StatusServiceUnavailable, outcome.CodeTransient)
	})
	within(t, dbTimeout+slack, "a search with the database down", func() {
		_, err := g.Search(ctx, q)
		wantOutcome(t, "search with the database down", err, http.StatusServiceUnavailable, outcome.CodeTransient)
	})
	within(t, dbTimeout+slack, "a create with the database down", func() {
		_, err := g.Create(ctx, storage.Write{Type: "Patient", Body: []byte(`{"resourceType":"Patient"}`)})
		wantOutcome(t, "create with the database down", err, http.StatusServiceUnavailable, outcome.CodeTransient)
	})
	if err := g.Ping(ctx); err == nil {
		t.Error("ping succeeds with the database down")
	}

	p.Restore()
	untilOK(t, "read after the database came back", func() error { _, err := g.Read(ctx, "Patient", v.ID); return err })
	if _, err := g.Search(ctx, q); err != nil {
		t.Errorf("search after the database came back: %v", err)
	}
}

// TestOpeningWhileDown: a store whose database is down at start answers 503 at once and Ping fails; it
// opens itself in the background when the database answers.
func TestOpeningWhileDown(t *testing.T) {
	p := guardtest.New(t, mongoAddr(t))
	db := testDB(t)
	ctx := context.Background()
	g := guard.Opening(ctx, func(ctx context.Context) (storage.Store, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return openVia(ctx, p.Addr, db)
	}, guard.Options{DBTimeout: time.Second, RetryOpen: 50 * time.Millisecond})
	defer g.Close(ctx)
	within(t, 100*time.Millisecond, "a read before the store opened", func() {
		_, err := g.Read(ctx, "Patient", "x")
		wantOutcome(t, "read before the store opened", err, http.StatusServiceUnavailable, outcome.CodeTransient)
	})
	if err := g.Ping(ctx); err == nil || g.Opened() {
		t.Fatalf("ping before the database answered: %v (opened %v)", err, g.Opened())
	}
	p.Restore()
	untilOK(t, "ping after the database came up", func() error { return g.Ping(ctx) })
	if _, err := g.Create(ctx, storage.Write{Type: "Patient", Body: []byte(`{"resourceType":"Patient"}`)}); err != nil {
		t.Errorf("create once open: %v", err)
	}
}
