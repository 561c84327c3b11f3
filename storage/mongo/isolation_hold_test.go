package mongo_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/mongo"
	"github.com/careflow/careflow/storage/mongo/mongotest"
	"github.com/careflow/careflow/storage/storagetest"
)

// halfTx drives transactions that are caught half published: each one's version of "second" waits
// before it is published until the transaction is released, and start returns once its version of
// "first" is published (or once the transaction waits for a query's hold instead: then nothing of it is
// published until the hold is removed).
type halfTx struct {
	t             *testing.T
	s             *mongo.Store
	typ           string
	first, second string

	mu       sync.Mutex
	release  chan struct{} // of the transaction in flight
	held     chan struct{} // closed when it waits for a hold
	done     chan error
	vid      int64 // the version it writes
	started  int
	released atomic.Int32
}

// hooks returns the store hooks the driver needs, plus readerWaits, which releases the transaction in
// flight when a reader waits for it.
func (h *halfTx) hooks() mongo.Hooks {
	return mongo.Hooks{
		BeforePublish: func(ctx context.Context, typ, id string) {
			if typ != h.typ || id != h.second {
				return
			}
			h.mu.Lock()
			rel := h.release
			h.mu.Unlock()
			if rel != nil {
				<-rel
			}
		},
		TxHeld: func(context.Context, string) {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.held != nil {
				close(h.held)
				h.held = nil
			}
		},
		ReaderWaits: func(context.Context, string) { h.releaseNow() },
	}
}

// releaseNow lets the transaction in flight publish the rest.
func (h *halfTx) releaseNow() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.release != nil {
		close(h.release)
		h.release = nil
		h.released.Add(1)
	}
}

// start runs ops as a transaction in the background and returns once it is half published (true) or
// waits for a hold (false).
func (h *halfTx) start(ops []storage.TxOp, vid int64) bool {
	h.t.Helper()
	h.mu.Lock()
	h.release, h.held, h.done, h.vid = make(chan struct{}), make(chan struct{}), make(chan error, 1), vid
	held, done := h.held, h.done
	h.started++
	h.mu.Unlock()
	go func() {
		_, err := h.s.Transact(context.Background(), ops)
		done <- err
	}()
	published := bson.D{{Key: "_id", Value: h.first}, {Key: "vid", Value: vid}}
	for deadline := time.Now().Add(30 * time.Second); ; {
		select {
		case <-held:
			return false
		case err := <-done:
			h.t.Errorf("the transaction ended before it was half published: %v", err)
			return false
		default:
		}
		if count(h.t, h.s, h.typ, published) == 1 {
			return true
		}
		if time.Now().After(deadline) {
			h.t.Fatal("the transaction was neither half published nor held")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// wait releases the transaction in flight and waits for it to end.
func (h *halfTx) wait() {
	h.t.Helper()
	h.releaseNow()
	h.mu.Lock()
	done := h.done
	h.done = nil
	h.mu.Unlock()
	if done == nil {
		return
	}
	if err := <-done; err != nil {
		h.t.Fatalf("transaction: %v", err)
	}
}

// flip renames patients a and b (both) to family.
func flip(a, b, family string) []storage.TxOp {
	return []storage.TxOp{
		{Kind: storage.TxUpdate, Write: patientWrite(a, family)},
		{Kind: storage.TxUpdate, Write: patientWrite(b, family)},
	}
}

var familyParam = &search.Param{Code: "family", Type: search.TypeString, Field: "s_family"}

// smiths searches Patient?family=smith, one per page (the first page overflows, so the total is a
// count of its own).
func smiths(t *testing.T, s *mongo.Store) *storage.SearchPage {
	t.Helper()
	page, err := s.Search(context.Background(), &search.Query{Type: "Patient", Count: 1, CountSet: true,
		Criteria: []search.Criterion{{Param: familyParam, Values: []search.Value{{Text: "smith"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return page
}

// seedSmiths writes t0, t1, ta and tb, all named smith (t0 sorts first: it is the page; t1 always
// matches too, so that the page always overflows and the total is always a count of its own).
func seedSmiths(t *testing.T, s *mongo.Store) {
	t.Helper()
	for _, id := range []string{"t0", "t1", "ta", "tb"} {
		if _, err := s.Create(context.Background(), patientWrite(id, "smith")); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSearchTotalHoldsATransactionWholeOrNot: a transaction renaming ta and tb from smith to jones
// commits while a search reads its page (t0) and is half published when the search counts its total:
// the total counts both or neither (4 or 2, never 3).
func TestSearchTotalHoldsATransactionWholeOrNot(t *testing.T) {
	h := &halfTx{t: t, typ: "Patient", first: "ta", second: "tb"}
	hooks := h.hooks()
	var counts atomic.Int32
	hooks.SearchStep = func(ctx context.Context, typ, step string) {
		if step == "count" && counts.Add(1) == 1 {
			h.start(flip("ta", "tb", "jones"), 2)
		}
	}
	h.s = mongotest.OpenWith(t, mongo.Options{Types: storagetest.Types, RecoveryInterval: -1, Hooks: hooks})
	seedSmiths(t, h.s)
	page := smiths(t, h.s)
	h.wait()
	if page.Total != 2 && page.Total != 4 {
		t.Errorf("total %d while a transaction renamed two of four smiths: it counted part of it", page.Total)
	}
	if len(page.Versions) != 1 || page.Versions[0].ID != "t0" {
		t.Errorf("page %s, want t0", describeVersions(page.Versions))
	}
}

// TestSearchStarvedByTransactionsStaysIsolated: every run of a search meets a new transaction on the
// searched resources, half published while it counts. The search runs at most three times and its
// answer never holds part of a transaction.
func TestSearchStarvedByTransactionsStaysIsolated(t *testing.T) {
	h := &halfTx{t: t, typ: "Patient", first: "ta", second: "tb"}
	hooks := h.hooks()
	var runs atomic.Int32
	hooks.SearchStep = func(ctx context.Context, typ, step string) {
		if step != "count" {
			return
		}
		n := runs.Add(1)
		if n > 1 {
			h.wait() // the previous one, if a reader did not release it
		}
		family := "jones"
		if n%2 == 0 {
			family = "smith"
		}
		h.start(flip("ta", "tb", family), int64(n)+1)
	}
	h.s = mongotest.OpenWith(t, mongo.Options{Types: storagetest.Types, RecoveryInterval: -1, Hooks: hooks})
	seedSmiths(t, h.s)
	page := smiths(t, h.s)
	h.wait()
	if page.Total != 2 && page.Total != 4 {
		t.Errorf("total %d while transactions renamed two of four smiths back and forth: it counted part of one", page.Total)
	}
	if n := runs.Load(); n > 3 {
		t.Errorf("the search ran %d times, want at most 3", n)
	}
}

// TestSlowSearchIsFencedOnItsSecondRun: with a TxLinger shorter than any search, a transaction commits
// during the search's second run, is half published when it counts, and is settled and forgotten
// (intent deleted) before the run ends. The total still counts all or nothing of it.
func TestSlowSearchIsFencedOnItsSecondRun(t *testing.T) {
	h := &halfTx{t: t, typ: "Patient", first: "ta", second: "tb"}
	hooks := h.hooks()
	var runs atomic.Int32
	var half atomic.Bool
	hooks.SearchStep = func(ctx context.Context, typ, step string) {
		switch {
		case step == "count" && runs.Add(1) == 2:
			half.Store(h.start(flip("ta", "tb", "jones"), 2))
		case step == "done" && runs.Load() == 2 && half.Load():
			// Let it finish and be forgotten before the run ends.
			h.wait()
			for deadline := time.Now().Add(30 * time.Second); count(t, h.s, "transactions", bson.D{}) > 0; {
				if time.Now().After(deadline) {
					t.Fatal("the transaction's intent was not deleted")
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
	}
	h.s = mongotest.OpenWith(t, mongo.Options{Types: storagetest.Types, RecoveryInterval: -1, TxLinger: time.Nanosecond, Hooks: hooks})
	seedSmiths(t, h.s)
	page := smiths(t, h.s)
	h.wait()
	if runs.Load() < 2 {
		t.Fatalf("the search ran %d times; the test needs a second run", runs.Load())
	}
	if page.Total != 2 && page.Total != 4 {
		t.Errorf("total %d while a transaction renamed two of four smiths: it counted part of it", page.Total)
	}
}

// TestReferrersSeeATransactionWholeOrNot: a transaction makes two appointments refer to a patient and is
// half published when Referrers runs: it finds both or neither.
func TestReferrersSeeATransactionWholeOrNot(t *testing.T) {
	h := &halfTx{t: t, typ: "Appointment", first: "ra", second: "rb"}
	h.s = mongotest.OpenWith(t, mongo.Options{Types: storagetest.Types, RecoveryInterval: -1, Hooks: h.hooks()})
	ctx := context.Background()
	appt := func(id string, refs ...string) storage.Write {
		w := storage.Write{Type: "Appointment", ID: id, Body: []byte(`{"resourceType":"Appointment","status":"booked","participant":[{"status":"accepted"}]}`)}
		if len(refs) > 0 {
			w.Index = map[string]any{search.RefsField: refs}
		}
		return w
	}
	for _, id := range []string{"ra", "rb"} {
		if _, err := h.s.Create(ctx, appt(id)); err != nil {
			t.Fatal(err)
		}
	}
	if !h.start([]storage.TxOp{
		{Kind: storage.TxUpdate, Write: appt("ra", "Patient/p")},
		{Kind: storage.TxUpdate, Write: appt("rb", "Patient/p")},
	}, 2) {
		t.Fatal("the transaction was held")
	}
	refs, total, err := h.s.Referrers(ctx, []string{"Patient/p"}, 10)
	h.wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(refs, " "); got != "Appointment/ra Appointment/rb" && got != "" || total != len(refs) {
		t.Errorf("referrers of Patient/p while a transaction made two appointments refer to it: %q (total %d), want both or neither", got, total)
	}
}

// describeVersions lists versions as Type/id/vid, sorted.
func describeVersions(vs []*storage.Version) string {
	var out []string
	for _, v := range vs {
		out = append(out, fmt.Sprintf("%s/%s/%d", v.Type, v.ID, v.VersionID))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}
