// Package storagetest is the conformance suite every storage.Store implementation must pass. Implementations
// call Run from their own tests with a constructor that returns an empty store for the given types.
package storagetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/careflow/careflow/storage"
)

// Types are the resource types the suite writes; the store under test must accept them.
var Types = []string{"Patient", "Appointment"}

// Run runs the conformance suite. newStore must return a store with no data, for Types.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	tests := map[string]func(*testing.T, storage.Store){
		"CreateRead":                    testCreateRead,
		"CreateWithID":                  testCreateWithID,
		"UpdateVersions":                testUpdateVersions,
		"UpdateAsCreate":                testUpdateAsCreate,
		"Precondition":                  testPrecondition,
		"Delete":                        testDelete,
		"InstanceHistory":               testInstanceHistory,
		"TypeAndSystemHistory":          testTypeAndSystemHistory,
		"HistoryPagingStable":           testHistoryPagingStable,
		"ConcurrentIfMatch":             testConcurrentIfMatch,
		"ConcurrentUnconditional":       testConcurrentUnconditional,
		"BodyIsLossless":                testBodyIsLossless,
		"BadCursor":                     testBadCursor,
		"NotFound":                      testNotFound,
		"LastUpdatedStrictlyIncreasing": testLastUpdatedIncreasing,
		"LockIsExclusive":               testLockIsExclusive,
	}
	for n, f := range transactionTests {
		tests[n] = f
	}
	for n, f := range refsTests {
		tests[n] = f
	}
	names := make([]string, 0, len(tests))
	for n := range tests {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Run(n, func(t *testing.T) { tests[n](t, newStore(t)) })
	}
}

func patient(family string) storage.Write {
	return storage.Write{Type: "Patient", Body: []byte(fmt.Sprintf(`{"resourceType":"Patient","name":[{"family":%q}]}`, family))}
}

func mustCreate(t *testing.T, s storage.Store, w storage.Write) *storage.Version {
	t.Helper()
	v, err := s.Create(context.Background(), w)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return v
}

func family(t *testing.T, v *storage.Version) string {
	t.Helper()
	var p struct {
		Name []struct{ Family string } `json:"name"`
	}
	if err := json.Unmarshal(v.Body, &p); err != nil {
		t.Fatalf("body %s: %v", v.Body, err)
	}
	if len(p.Name) == 0 {
		return ""
	}
	return p.Name[0].Family
}

func meta(t *testing.T, body []byte) (id, vid, lu string) {
	t.Helper()
	var r struct {
		ID   string `json:"id"`
		Meta struct {
			VersionID   string `json:"versionId"`
			LastUpdated string `json:"lastUpdated"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	return r.ID, r.Meta.VersionID, r.Meta.LastUpdated
}

func testCreateRead(t *testing.T, s storage.Store) {
	ctx := context.Background()
	v := mustCreate(t, s, patient("Chalmers"))
	if v.ID == "" || v.VersionID != 1 || v.Type != "Patient" || v.Deleted {
		t.Fatalf("created %+v", v)
	}
	id, vid, lu := meta(t, v.Body)
	if id != v.ID || vid != "1" || lu != v.LastUpdated.UTC().Format("2006-01-02T15:04:05.000Z") {
		t.Errorf("stamped id=%s vid=%s lu=%s, version %+v", id, vid, lu, v)
	}
	got, err := s.Read(ctx, "Patient", v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Body) != string(v.Body) || got.VersionID != 1 || !got.LastUpdated.Equal(v.LastUpdated) {
		t.Errorf("read %+v\nwant %+v", got, v)
	}
	other := mustCreate(t, s, patient("Other"))
	if other.ID == v.ID {
		t.Error("two creates got the same id")
	}
}

func testCreateWithID(t *testing.T, s storage.Store) {
	w := patient("A")
	w.ID = "fixed-1"
	v := mustCreate(t, s, w)
	if v.ID != "fixed-1" {
		t.Errorf("id %s", v.ID)
	}
	_, err := s.Create(context.Background(), w)
	if !errors.Is(err, storage.ErrExists) {
		t.Errorf("second create: %v, want ErrExists", err)
	}
}

func testUpdateVersions(t *testing.T, s storage.Store) {
	ctx := context.Background()
	v1 := mustCreate(t, s, patient("One"))
	w := patient("Two")
	w.ID = v1.ID
	v2, created, err := s.Update(ctx, w, storage.Precondition{})
	if err != nil || created || v2.VersionID != 2 || !v2.LastUpdated.After(v1.LastUpdated) {
		t.Fatalf("update: %+v created=%v err=%v", v2, created, err)
	}
	w = patient("Three")
	w.ID = v1.ID
	v3, _, err := s.Update(ctx, w, storage.Precondition{VersionID: 2})
	if err != nil || v3.VersionID != 3 {
		t.Fatalf("update 3: %+v %v", v3, err)
	}
	for vid, want := range map[int64]string{1: "One", 2: "Two", 3: "Three"} {
		v, err := s.VRead(ctx, "Patient", v1.ID, vid)
		if err != nil {
			t.Fatalf("vread %d: %v", vid, err)
		}
		if family(t, v) != want || v.VersionID != vid {
			t.Errorf("vread %d = %s (v%d), want %s", vid, family(t, v), v.VersionID, want)
		}
		if _, gotVid, _ := meta(t, v.Body); gotVid != fmt.Sprint(vid) {
			t.Errorf("vread %d body has versionId %s", vid, gotVid)
		}
	}
	if _, err := s.VRead(ctx, "Patient", v1.ID, 4); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("vread 4: %v", err)
	}
	if _, err := s.VRead(ctx, "Patient", v1.ID, 0); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("vread 0: %v", err)
	}
	cur, err := s.Read(ctx, "Patient", v1.ID)
	if err != nil || family(t, cur) != "Three" || cur.VersionID != 3 {
		t.Errorf("read after updates: %+v %v", cur, err)
	}
}

func testUpdateAsCreate(t *testing.T, s storage.Store) {
	w := patient("New")
	w.ID = "client-chosen"
	v, created, err := s.Update(context.Background(), w, storage.Precondition{})
	if err != nil || !created || v.VersionID != 1 || v.ID != "client-chosen" || v.Method != "PUT" {
		t.Fatalf("update-as-create: %+v created=%v err=%v", v, created, err)
	}
}

func testPrecondition(t *testing.T, s storage.Store) {
	ctx := context.Background()
	v1 := mustCreate(t, s, patient("One"))
	w := patient("Two")
	w.ID = v1.ID
	_, _, err := s.Update(ctx, w, storage.Precondition{VersionID: 7})
	var conflict *storage.VersionConflictError
	if !errors.As(err, &conflict) || conflict.Current != 1 {
		t.Fatalf("stale update: %v", err)
	}
	if _, err := s.Delete(ctx, "Patient", v1.ID, storage.Precondition{VersionID: 2}); !errors.As(err, &conflict) {
		t.Fatalf("stale delete: %v", err)
	}
	w.ID = "missing"
	if _, _, err := s.Update(ctx, w, storage.Precondition{VersionID: 1}); !errors.As(err, &conflict) {
		t.Fatalf("conditional update of a missing resource: %v", err)
	}
	cur, _ := s.Read(ctx, "Patient", v1.ID)
	if cur.VersionID != 1 || family(t, cur) != "One" {
		t.Errorf("failed preconditions changed the resource: %+v", cur)
	}
}

func testDelete(t *testing.T, s storage.Store) {
	ctx := context.Background()
	v1 := mustCreate(t, s, patient("Gone"))
	d, err := s.Delete(ctx, "Patient", v1.ID, storage.Precondition{VersionID: 1})
	if err != nil || d == nil || d.VersionID != 2 || !d.Deleted || d.Method != "DELETE" {
		t.Fatalf("delete: %+v %v", d, err)
	}
	_, err = s.Read(ctx, "Patient", v1.ID)
	var gone *storage.GoneError
	if !errors.As(err, &gone) || gone.Deleted.VersionID != 2 {
		t.Fatalf("read after delete: %v", err)
	}
	if d2, err := s.Delete(ctx, "Patient", v1.ID, storage.Precondition{}); err != nil || d2 != nil {
		t.Errorf("second delete: %+v %v", d2, err)
	}
	if d3, err := s.Delete(ctx, "Patient", "never-existed", storage.Precondition{}); err != nil || d3 != nil {
		t.Errorf("delete of missing: %+v %v", d3, err)
	}
	old, err := s.VRead(ctx, "Patient", v1.ID, 1)
	if err != nil || family(t, old) != "Gone" {
		t.Errorf("vread 1 after delete: %v", err)
	}
	del, err := s.VRead(ctx, "Patient", v1.ID, 2)
	if err != nil || !del.Deleted || del.Body != nil {
		t.Errorf("vread of the deletion: %+v %v", del, err)
	}
	w := patient("Back")
	w.ID = v1.ID
	v3, created, err := s.Update(ctx, w, storage.Precondition{})
	if err != nil || !created || v3.VersionID != 3 {
		t.Errorf("update after delete: %+v created=%v %v", v3, created, err)
	}
	h, err := s.History(ctx, storage.HistoryQuery{Type: "Patient", ID: v1.ID, Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	if got := describe(h.Versions); got != "Patient/"+v1.ID+"/3 Patient/"+v1.ID+"/2(deleted) Patient/"+v1.ID+"/1" {
		t.Errorf("history after delete: %s", got)
	}
}

func describe(vs []*storage.Version) string {
	var parts []string
	for _, v := range vs {
		s := fmt.Sprintf("%s/%s/%d", v.Type, v.ID, v.VersionID)
		if v.Deleted {
			s += "(deleted)"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func testInstanceHistory(t *testing.T, s storage.Store) {
	ctx := context.Background()
	v := mustCreate(t, s, patient("v1"))
	mustCreate(t, s, patient("someone else"))
	var times []time.Time
	times = append(times, v.LastUpdated)
	for i := 2; i <= 5; i++ {
		w := patient(fmt.Sprintf("v%d", i))
		w.ID = v.ID
		u, _, err := s.Update(ctx, w, storage.Precondition{})
		if err != nil {
			t.Fatal(err)
		}
		times = append(times, u.LastUpdated)
	}
	h, err := s.History(ctx, storage.HistoryQuery{Type: "Patient", ID: v.ID, Count: 50})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Versions) != 5 || h.Next != "" || h.Total != 5 {
		t.Fatalf("history: %s next=%q total=%d", describe(h.Versions), h.Next, h.Total)
	}
	for i, hv := range h.Versions {
		if hv.VersionID != int64(5-i) || family(t, hv) != fmt.Sprintf("v%d", 5-i) {
			t.Errorf("history[%d] = v%d %s", i, hv.VersionID, family(t, hv))
		}
	}
	// Paging two at a time walks every version once.
	var seen []int64
	cursor := ""
	for page := 0; page < 10; page++ {
		h, err := s.History(ctx, storage.HistoryQuery{Type: "Patient", ID: v.ID, Count: 2, After: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, hv := range h.Versions {
			seen = append(seen, hv.VersionID)
		}
		if cursor = h.Next; cursor == "" {
			break
		}
	}
	if fmt.Sprint(seen) != "[5 4 3 2 1]" {
		t.Errorf("paged history %v", seen)
	}
	// _since includes versions at or after the instant.
	h, err = s.History(ctx, storage.HistoryQuery{Type: "Patient", ID: v.ID, Count: 50, Since: times[3]})
	if err != nil {
		t.Fatal(err)
	}
	if got := describe(h.Versions); got != fmt.Sprintf("Patient/%s/5 Patient/%s/4", v.ID, v.ID) {
		t.Errorf("since: %s", got)
	}
}

func testTypeAndSystemHistory(t *testing.T, s storage.Store) {
	ctx := context.Background()
	p := mustCreate(t, s, patient("P"))
	a := mustCreate(t, s, storage.Write{Type: "Appointment", Body: []byte(`{"resourceType":"Appointment","status":"booked","participant":[{"status":"accepted"}]}`)})
	w := patient("P2")
	w.ID = p.ID
	if _, _, err := s.Update(ctx, w, storage.Precondition{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "Appointment", a.ID, storage.Precondition{}); err != nil {
		t.Fatal(err)
	}
	h, err := s.History(ctx, storage.HistoryQuery{Type: "Patient", Count: 50})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := describe(h.Versions), fmt.Sprintf("Patient/%s/2 Patient/%s/1", p.ID, p.ID); got != want {
		t.Errorf("type history %s, want %s", got, want)
	}
	h, err = s.History(ctx, storage.HistoryQuery{Count: 50})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("Appointment/%s/2(deleted) Patient/%s/2 Appointment/%s/1 Patient/%s/1", a.ID, p.ID, a.ID, p.ID)
	if got := describe(h.Versions); got != want {
		t.Errorf("system history\n got %s\nwant %s", got, want)
	}
}

func testHistoryPagingStable(t *testing.T, s storage.Store) {
	ctx := context.Background()
	var ids []string
	for i := 0; i < 7; i++ {
		ids = append(ids, mustCreate(t, s, patient(fmt.Sprint(i))).ID)
	}
	first, err := s.History(ctx, storage.HistoryQuery{Type: "Patient", Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	// Writes after the first page sort before it and must not shift the next pages.
	for i := 0; i < 4; i++ {
		mustCreate(t, s, patient("late"))
	}
	seen := map[string]bool{}
	for _, v := range first.Versions {
		seen[v.ID] = true
	}
	cursor := first.Next
	for cursor != "" {
		h, err := s.History(ctx, storage.HistoryQuery{Type: "Patient", Count: 3, After: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range h.Versions {
			if seen[v.ID] {
				t.Errorf("%s served twice", v.ID)
			}
			if family(t, v) == "late" {
				t.Errorf("a version written after page 1 showed up on a later page")
			}
			seen[v.ID] = true
		}
		cursor = h.Next
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("%s never served", id)
		}
	}
}

func testConcurrentIfMatch(t *testing.T, s storage.Store) {
	ctx := context.Background()
	v := mustCreate(t, s, patient("start"))
	const writers = 16
	const rounds = 3
	wins := make([][]int64, writers)
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				cur, err := s.Read(ctx, "Patient", v.ID)
				if err != nil {
					t.Error(err)
					return
				}
				w := patient(fmt.Sprintf("writer%d", g))
				w.ID = v.ID
				u, _, err := s.Update(ctx, w, storage.Precondition{VersionID: cur.VersionID})
				var conflict *storage.VersionConflictError
				switch {
				case err == nil:
					if u.VersionID != cur.VersionID+1 {
						t.Errorf("writer %d: won version %d from %d", g, u.VersionID, cur.VersionID)
					}
					wins[g] = append(wins[g], u.VersionID)
				case errors.As(err, &conflict):
				default:
					t.Error(err)
				}
			}
		}(g)
	}
	wg.Wait()
	won := map[int64]int{}
	total := 0
	for g, ws := range wins {
		for _, vid := range ws {
			won[vid]++
			total++
			got, err := s.VRead(ctx, "Patient", v.ID, vid)
			if err != nil || family(t, got) != fmt.Sprintf("writer%d", g) {
				t.Errorf("version %d was won by writer %d but holds %v (%v)", vid, g, got, err)
			}
		}
	}
	for vid, n := range won {
		if n != 1 {
			t.Errorf("version %d won %d times", vid, n)
		}
	}
	cur, _ := s.Read(ctx, "Patient", v.ID)
	if cur.VersionID != int64(total)+1 {
		t.Errorf("final version %d after %d successful updates", cur.VersionID, total)
	}
	for vid := int64(2); vid <= cur.VersionID; vid++ {
		if won[vid] != 1 {
			t.Errorf("version %d has no winner: versions are not sequential", vid)
		}
	}
}

func testConcurrentUnconditional(t *testing.T, s storage.Store) {
	ctx := context.Background()
	v := mustCreate(t, s, patient("start"))
	const writers = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[int64]bool{}
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			w := patient(fmt.Sprintf("w%d", g))
			w.ID = v.ID
			u, _, err := s.Update(ctx, w, storage.Precondition{})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if got[u.VersionID] {
				t.Errorf("version %d assigned twice", u.VersionID)
			}
			got[u.VersionID] = true
		}(g)
	}
	wg.Wait()
	h, err := s.History(ctx, storage.HistoryQuery{Type: "Patient", ID: v.ID, Count: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Versions) != writers+1 {
		t.Errorf("history has %d versions, want %d (lost update)", len(h.Versions), writers+1)
	}
}

func testBodyIsLossless(t *testing.T, s storage.Store) {
	body := `{"resourceType":"Patient","_birthDate":{"extension":[{"url":"http://x","valueDecimal":1.50}]},"birthDate":"1970","contained":[{"resourceType":"Patient","id":"c","name":[{"text":"<b>é</b>"}]}]}`
	v := mustCreate(t, s, storage.Write{Type: "Patient", Body: []byte(body)})
	got, err := s.Read(context.Background(), "Patient", v.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"resourceType":"Patient","id":"` + v.ID + `","meta":{"versionId":"1","lastUpdated":"` + v.LastUpdated.Format("2006-01-02T15:04:05.000Z") + `"},"_birthDate":{"extension":[{"url":"http://x","valueDecimal":1.50}]},"birthDate":"1970","contained":[{"resourceType":"Patient","id":"c","name":[{"text":"<b>é</b>"}]}]}`
	if string(got.Body) != want {
		t.Errorf("stored\n%s\nwant\n%s", got.Body, want)
	}
}

func testBadCursor(t *testing.T, s storage.Store) {
	_, err := s.History(context.Background(), storage.HistoryQuery{Count: 5, After: "!!not-a-cursor"})
	if !errors.Is(err, storage.ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}
}

func testNotFound(t *testing.T, s storage.Store) {
	ctx := context.Background()
	if _, err := s.Read(ctx, "Patient", "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("read: %v", err)
	}
	if _, err := s.VRead(ctx, "Patient", "nope", 1); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("vread: %v", err)
	}
	h, err := s.History(ctx, storage.HistoryQuery{Type: "Patient", ID: "nope", Count: 5})
	if err != nil || len(h.Versions) != 0 {
		t.Errorf("history of missing: %+v %v", h, err)
	}
}

func testLastUpdatedIncreasing(t *testing.T, s storage.Store) {
	ctx := context.Background()
	v := mustCreate(t, s, patient("a"))
	prev := v.LastUpdated
	for i := 0; i < 5; i++ {
		w := patient("b")
		w.ID = v.ID
		u, _, err := s.Update(ctx, w, storage.Precondition{})
		if err != nil {
			t.Fatal(err)
		}
		if !u.LastUpdated.After(prev) {
			t.Errorf("version %d lastUpdated %v not after %v", u.VersionID, u.LastUpdated, prev)
		}
		prev = u.LastUpdated
	}
}

func testLockIsExclusive(t *testing.T, s storage.Store) {
	ctx := context.Background()
	var mu sync.Mutex
	inside, maxInside, total := 0, 0, 0
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, err := s.Lock(ctx, "Patient?identifier=x")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			inside++
			total++
			if inside > maxInside {
				maxInside = inside
			}
			mu.Unlock()
			// Give other goroutines the chance to enter if the lock were not exclusive.
			_, _ = s.Read(ctx, "Patient", "nobody")
			mu.Lock()
			inside--
			mu.Unlock()
			release()
		}()
	}
	wg.Wait()
	if maxInside != 1 || total != 16 {
		t.Errorf("%d holders at once (want 1), %d acquisitions (want 16)", maxInside, total)
	}
	// Another name is independent.
	r1, err := s.Lock(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.Lock(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	r1()
	r2()
}
