package sqlite_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

var familyParam = &search.Param{Code: "family", Type: search.TypeString, Field: "s_family"}

func patient(id, family string) storage.Write {
	return storage.Write{Type: "Patient", ID: id, Body: []byte(`{"resourceType":"Patient","name":[{"family":"` + family + `"}]}`),
		Index: map[string]any{familyParam.Field: []string{family}}}
}

// TestFeedExactAndImmediate: while writers create, update and delete concurrently, a client following the
// change feed (type history, _since = the previous traversal's horizon, next links to the end) receives
// every version exactly once; and a write is listed by the very next poll after it is acknowledged.
func TestFeedExactAndImmediate(t *testing.T) {
	s := sqlitetest.Open(t)
	ctx := context.Background()
	const writers, perWriter = 4, 60
	var wg sync.WaitGroup
	var mu sync.Mutex
	written := map[string]bool{}
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				id := fmt.Sprintf("w%d-%d", w, i%10)
				var v *storage.Version
				var err error
				if i%7 == 6 {
					v, err = s.Delete(ctx, "Patient", id, storage.Precondition{})
				} else {
					v, _, err = s.Update(ctx, patient(id, "f"), storage.Precondition{})
				}
				if err != nil {
					t.Error(err)
					return
				}
				if v != nil {
					mu.Lock()
					written[fmt.Sprintf("%s/%d", v.ID, v.VersionID)] = true
					mu.Unlock()
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	seen, since := followFeed(t, s, "Patient", 7, done)
	if len(written) == 0 {
		t.Fatal("nothing written")
	}
	exactlyOnce(t, written, seen)

	// Immediate: the poll right after an acknowledged write lists it (and only it), in type and system
	// history.
	v, err := s.Create(ctx, patient("", "new"))
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"", "Patient"} {
		page, err := s.History(ctx, storage.HistoryQuery{Type: typ, Since: since, Count: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Versions) != 1 || page.Versions[0].ID != v.ID || !page.Horizon.After(v.LastUpdated) {
			t.Errorf("history %q since the last horizon, after a create: %d versions, horizon %v (version at %v)", typ, len(page.Versions), page.Horizon, v.LastUpdated)
		}
	}
}

// followFeed follows the change feed of typ as a sync client does — each traversal from the previous one's
// horizon, next links (pages of count) to the end — until done is closed, then once more; it returns how
// often each "id/versionId" was listed and the last horizon.
func followFeed(t *testing.T, s storage.Store, typ string, count int, done <-chan struct{}) (map[string]int, time.Time) {
	t.Helper()
	seen := map[string]int{}
	var since time.Time
	poll := func() {
		q := storage.HistoryQuery{Type: typ, Since: since, Count: count}
		var horizon time.Time
		for {
			page, err := s.History(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			horizon = page.Horizon
			for _, v := range page.Versions {
				seen[fmt.Sprintf("%s/%d", v.ID, v.VersionID)]++
			}
			if page.Next == "" {
				break
			}
			q.After = page.Next
		}
		since = horizon
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		poll()
	}
	poll() // after the last acknowledged write: it must be listed now
	return seen, since
}

// exactlyOnce checks that the feed listed every written "id/versionId" once and nothing else.
func exactlyOnce(t *testing.T, written map[string]bool, seen map[string]int) {
	t.Helper()
	for k := range written {
		if seen[k] != 1 {
			t.Errorf("version %s listed %d times, want once", k, seen[k])
		}
	}
	for k, n := range seen {
		if !written[k] {
			t.Errorf("version %s listed %d times but never written", k, n)
		}
	}
}

// TestReadersNeverSeePartOfATransaction: searches, history and reads running while transactions of 25
// creates commit always see whole transactions.
func TestReadersNeverSeePartOfATransaction(t *testing.T) {
	s := sqlitetest.Open(t)
	ctx := context.Background()
	const size, count = 20, 15
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := 0; b < count; b++ {
			var ops []storage.TxOp
			for i := 0; i < size; i++ {
				ops = append(ops, storage.TxOp{Kind: storage.TxCreate, Write: patient(fmt.Sprintf("b%d-%d", b, i), "member")})
			}
			if _, err := s.Transact(ctx, ops); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	q := &search.Query{Type: "Patient", Criteria: []search.Criterion{{Param: familyParam, Values: []search.Value{{Text: "mem"}}}}, Count: 1, CountSet: true, Total: "accurate"}
	checks := 0
	for running := true; running; checks++ {
		select {
		case <-done:
			running = false
		default:
		}
		page, err := s.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if page.Total%size != 0 {
			t.Fatalf("a search saw %d resources: part of a transaction of %d", page.Total, size)
		}
		h, err := s.History(ctx, storage.HistoryQuery{Count: size * count})
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Versions)%size != 0 {
			t.Fatalf("system history saw %d versions: part of a transaction of %d", len(h.Versions), size)
		}
	}
	if page, _ := s.Search(ctx, q); page.Total != size*count {
		t.Errorf("%d resources at the end, want %d", page.Total, size*count)
	}
	t.Logf("%d consistent observations", checks)
}
