package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// IsolationHooks are what RunIsolation gives a store it opens: the points at which the store's
// transactions pause, and how it reports a reader waiting for a transaction.
type IsolationHooks struct {
	// Pause is called by the goroutine writing a transaction at each of the points the store passes —
	// CrashAfterClaims (everything written, before the commit point), CrashAfterCommit (right after the
	// commit point, before anything is published) and CrashMidPublish (part of it written or published) —
	// and the transaction waits until it returns. Stores call the points they have, in their order.
	Pause func(at CrashPoint)
	// ReaderWaits is called when a read starts waiting for a committed transaction to finish (a store
	// whose reads never wait need not call it).
	ReaderWaits func()
}

// Isolation is what RunIsolation needs from an implementation.
type Isolation struct {
	// Open returns a store on a new, empty database for Types that calls h (see IsolationHooks).
	Open func(t *testing.T, h IsolationHooks) storage.Store
}

// State names what a reader saw of a transaction: none of it, all of it, or part of it (a failure).
const (
	sawNone    = "none"
	sawAll     = "all"
	sawPartial = "PART"
)

// RunIsolation checks the readers' side of atomicity: while the transaction of the crash fixture
// (CrashOps) is paused at each point, reads by id (read, vread, instance history, exists) all see either
// none of it or all of it — none before the commit point, all after it — and searches and the change feed
// (type and system history) see none or all of it too: a query that completes while the transaction is
// paused sees what the reads by id see (the change feed may still show none after the commit point: it
// lists a transaction once it is settled); one that waits for the transaction to finish sees all of it.
func RunIsolation(t *testing.T, iso Isolation) {
	t.Run("swap", func(t *testing.T) {
		testSwapSearch(t, iso.Open(t, IsolationHooks{Pause: func(CrashPoint) {}, ReaderWaits: func() {}}))
	})
	t.Run("include", func(t *testing.T) {
		testIncludeSnapshot(t, iso.Open(t, IsolationHooks{Pause: func(CrashPoint) {}, ReaderWaits: func() {}}))
	})
	t.Run("pairs", func(t *testing.T) {
		testPairs(t, iso.Open(t, IsolationHooks{Pause: func(CrashPoint) {}, ReaderWaits: func() {}}))
	})
	for _, at := range []CrashPoint{CrashAfterClaims, CrashAfterCommit, CrashMidPublish} {
		t.Run(string(at), func(t *testing.T) {
			ctx := context.Background()
			var armed atomic.Bool
			paused, release := make(chan struct{}), make(chan struct{})
			waits := make(chan struct{}, 1)
			s := iso.Open(t, IsolationHooks{
				Pause: func(p CrashPoint) {
					if p == at && armed.CompareAndSwap(true, false) {
						close(paused)
						<-release
					}
				},
				ReaderWaits: func() {
					select {
					case waits <- struct{}{}:
					default:
					}
				},
			})
			f := SeedCrash(t, s)
			armed.Store(true)
			txDone := make(chan error, 1)
			go func() {
				_, err := s.Transact(ctx, CrashOps())
				txDone <- err
			}()
			select {
			case <-paused:
			case err := <-txDone:
				t.Fatalf("the transaction ended without passing %s: %v", at, err)
			case <-time.After(2 * time.Minute):
				t.Fatalf("the transaction did not reach %s", at)
			}

			// Reads by id, while the transaction is paused.
			state := f.pointState(t, s)
			switch {
			case at == CrashAfterClaims && state != sawNone:
				t.Errorf("before the commit point, reads by id saw %s of the transaction", state)
			case at == CrashAfterCommit && state != sawAll:
				t.Errorf("after the commit point, reads by id saw %s of the transaction", state)
			}

			// Queries, started while it is paused; released when one waits for it.
			var released atomic.Bool
			results := make(chan []observation, 1)
			go func() { results <- f.queryStates(s, &released) }()
			var got []observation
			select {
			case got = <-results:
			case <-waits:
			}
			released.Store(true)
			close(release)
			if got == nil {
				got = <-results
			}
			if err := <-txDone; err != nil {
				t.Fatalf("transaction: %v", err)
			}
			for _, o := range got {
				switch {
				case o.err != nil:
					t.Errorf("%s: %v", o.what, o.err)
				case o.state == sawPartial:
					t.Errorf("%s saw part of the transaction: %s", o.what, o.detail)
				case o.whilePaused && !o.feed && o.state != state:
					t.Errorf("%s, while the transaction was paused, saw %s of it; reads by id saw %s: %s", o.what, o.state, state, o.detail)
				case !o.whilePaused && !o.feed && o.state != sawAll:
					t.Errorf("%s waited for the transaction and saw %s of it: %s", o.what, o.state, o.detail)
				}
			}
			if state := f.pointState(t, s); state != sawAll {
				t.Errorf("after the transaction, reads by id saw %s of it", state)
			}
			f.ExpectAll(t, s)
		})
	}
}

// testSwapSearch: transactions swap a family name between two patients, over and over, while a reader
// searches for it — every search finds exactly one of them (half a swap would show both or neither) — and
// follows type history, which lists both versions of a swap or neither.
func testSwapSearch(t *testing.T, s storage.Store) {
	ctx := context.Background()
	mustCreate(t, s, indexed("swap-a", "Smith"))
	mustCreate(t, s, indexed("swap-b", "Jones"))
	const swaps = 30
	done := make(chan error, 1)
	go func() {
		for i := 0; i < swaps; i++ {
			a, b := "Jones", "Smith"
			if i%2 == 1 {
				a, b = b, a
			}
			if _, err := s.Transact(ctx, []storage.TxOp{
				{Kind: storage.TxUpdate, Write: indexed("swap-a", a)},
				{Kind: storage.TxUpdate, Write: indexed("swap-b", b)},
			}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	searches := 0
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("transaction: %v", err)
			}
			if searches == 0 {
				t.Fatal("no search ran")
			}
			return
		default:
		}
		got := searchFamily(t, s, "smith")
		searches++
		if len(got) != 1 {
			t.Fatalf("search %d while patients swap names found %v, want exactly one of them", searches, got)
		}
		// The change feed lists both versions of a swap or neither.
		h, err := s.History(ctx, storage.HistoryQuery{Type: "Patient", Count: 1000})
		if err != nil {
			t.Fatal(err)
		}
		newest := map[string]int64{}
		for _, v := range h.Versions {
			newest[v.ID] = max(newest[v.ID], v.VersionID)
		}
		if newest["swap-a"] != newest["swap-b"] {
			t.Fatalf("type history while patients swap names lists swap-a up to version %d, swap-b up to %d: %s",
				newest["swap-a"], newest["swap-b"], describe(h.Versions))
		}
	}
}

// testPairs: transactions rename two patients together (smith <-> jones) and make two appointments refer
// to a patient together (or neither), over and over, while a reader counts the smiths (a page of one:
// the total is a count of its own; pair-0 is always a smith) and asks for the referrers of the patient:
// the total is 1 or 3, the referrers both appointments or neither — never part of a transaction.
func testPairs(t *testing.T, s storage.Store) {
	ctx := context.Background()
	appt := func(id string, refers bool) storage.Write {
		if refers {
			return appointment(id, "Patient/pair-x")
		}
		return appointment(id)
	}
	for _, id := range []string{"pair-0", "pair-a", "pair-b"} {
		mustCreate(t, s, indexed(id, "Smith"))
	}
	for _, id := range []string{"pair-ra", "pair-rb"} {
		mustCreate(t, s, appt(id, false))
	}
	const rounds = 30
	done := make(chan error, 1)
	go func() {
		for i := 0; i < rounds; i++ {
			family, refers := "Jones", true
			if i%2 == 1 {
				family, refers = "Smith", false
			}
			if _, err := s.Transact(ctx, []storage.TxOp{
				{Kind: storage.TxUpdate, Write: indexed("pair-a", family)},
				{Kind: storage.TxUpdate, Write: indexed("pair-b", family)},
				{Kind: storage.TxUpdate, Write: appt("pair-ra", refers)},
				{Kind: storage.TxUpdate, Write: appt("pair-rb", refers)},
			}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	reads := 0
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("transaction: %v", err)
			}
			if reads == 0 {
				t.Fatal("no read ran")
			}
			return
		default:
		}
		reads++
		page, err := s.Search(ctx, &search.Query{Type: "Patient", Count: 1, CountSet: true,
			Criteria: []search.Criterion{{Param: familyParam, Values: []search.Value{{Text: "smith"}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != 1 && page.Total != 3 {
			t.Fatalf("read %d: %d smiths counted while transactions rename two of three together", reads, page.Total)
		}
		refs, total, err := s.Referrers(ctx, []string{"Patient/pair-x"}, 10)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(refs, " "); got != "" && got != "Appointment/pair-ra Appointment/pair-rb" || total != len(refs) {
			t.Fatalf("read %d: referrers %q (total %d) while transactions make two appointments refer to the patient together", reads, got, total)
		}
	}
}

// classify names the state whose expected value got equals.
func classify(got, none, all string) string {
	switch got {
	case none:
		return sawNone
	case all:
		return sawAll
	}
	return sawPartial
}

// pointState reads every resource of the crash fixture by id, and returns what all of them saw; reads
// that disagree fail the test.
func (f *CrashFixture) pointState(t *testing.T, s storage.Store) string {
	t.Helper()
	ctx := context.Background()
	seen := map[string]string{}
	read := func(typ, id string) string {
		v, err := s.Read(ctx, typ, id)
		var gone *storage.GoneError
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return "not found"
		case errors.As(err, &gone):
			return fmt.Sprintf("gone %d", gone.Deleted.VersionID)
		case err != nil:
			return err.Error()
		}
		return fmt.Sprintf("version %d", v.VersionID)
	}
	vread := func(typ, id string, vid int64) string {
		_, err := s.VRead(ctx, typ, id, vid)
		if errors.Is(err, storage.ErrNotFound) {
			return "not found"
		}
		if err != nil {
			return err.Error()
		}
		return "found"
	}
	seen["read Patient/"+crashNewPatient] = classify(read("Patient", crashNewPatient), "not found", "version 1")
	seen["read Appointment/"+crashNewAppt] = classify(read("Appointment", crashNewAppt), "not found", "version 1")
	seen["read Patient/"+crashUpd] = classify(read("Patient", crashUpd), "version 1", "version 2")
	seen["read Patient/"+crashDel] = classify(read("Patient", crashDel), "version 1", "gone 2")
	seen["read Appointment/"+crashAppt] = classify(read("Appointment", crashAppt), "version 1", "version 2")
	seen["vread Patient/"+crashUpd+"/2"] = classify(vread("Patient", crashUpd, 2), "not found", "found")
	seen["vread Patient/"+crashNewPatient+"/1"] = classify(vread("Patient", crashNewPatient, 1), "not found", "found")
	seen["vread Appointment/"+crashAppt+"/2"] = classify(vread("Appointment", crashAppt, 2), "not found", "found")
	h, err := s.History(ctx, storage.HistoryQuery{Type: "Patient", ID: crashUpd, Count: 10})
	if err != nil {
		t.Fatalf("instance history: %v", err)
	}
	seen["instance history of Patient/"+crashUpd] = classify(describe(h.Versions),
		fmt.Sprintf("Patient/%s/1", crashUpd), fmt.Sprintf("Patient/%s/2 Patient/%s/1", crashUpd, crashUpd))
	ex, err := s.Exists(ctx, "Patient", []string{crashNewPatient, crashDel})
	if err != nil {
		t.Fatalf("exists: %v", err)
	}
	seen["exists"] = classify(fmt.Sprint(ex), fmt.Sprint(map[string]bool{crashDel: true}), fmt.Sprint(map[string]bool{crashNewPatient: true, crashDel: false}))
	states := map[string][]string{}
	for what, st := range seen {
		states[st] = append(states[st], what)
	}
	if len(states) == 1 {
		for st := range states {
			if st != sawPartial {
				return st
			}
		}
	}
	for st, whats := range states {
		sort.Strings(whats)
		t.Errorf("reads by id saw %s of the transaction: %s", st, strings.Join(whats, ", "))
	}
	return sawPartial
}

// observation is what one query saw of the crash fixture's transaction.
type observation struct {
	what, state, detail string
	err                 error
	// whilePaused: the query ended before the transaction was released.
	whilePaused bool
	// feed: type or system history, which may list a transaction later than reads see it.
	feed bool
}

// queryStates runs searches and the change feed over the crash fixture and classifies what each saw.
func (f *CrashFixture) queryStates(s storage.Store, released *atomic.Bool) []observation {
	ctx := context.Background()
	var out []observation
	add := func(what string, feed bool, got, none, all string, err error) {
		out = append(out, observation{what: what, state: classify(got, none, all), detail: got, err: err, whilePaused: !released.Load(), feed: feed})
	}
	sorted := func(ids ...string) string {
		sort.Strings(ids)
		return strings.Join(ids, " ")
	}
	searchIDs := func(typ string, criteria []search.Criterion) (string, error) {
		page, err := s.Search(ctx, &search.Query{Type: typ, Criteria: criteria, Count: 100, CountSet: true})
		if err != nil {
			return "", err
		}
		var ids []string
		for _, v := range page.Versions {
			ids = append(ids, fmt.Sprintf("%s/%d", v.ID, v.VersionID))
		}
		sort.Strings(ids)
		return strings.Join(ids, " "), nil
	}
	newFamily := []search.Criterion{{Param: familyParam, Values: []search.Value{{Text: "new"}}}}
	got, err := searchIDs("Patient", newFamily)
	add("search Patient?family=new", false, got, "", sorted(crashNewPatient+"/1", crashUpd+"/2"), err)
	got, err = searchIDs("Patient", nil)
	add("search Patient", false, got, sorted(crashDel+"/1", crashUpd+"/1"), sorted(crashNewPatient+"/1", crashUpd+"/2"), err)
	got, err = searchIDs("Appointment", nil)
	add("search Appointment", false, got, crashAppt+"/1", sorted(crashAppt+"/2", crashNewAppt+"/1"), err)

	txVersions := map[string][]string{
		"Patient":     {"Patient/" + crashNewPatient + "/1", "Patient/" + crashUpd + "/2", "Patient/" + crashDel + "/2(deleted)"},
		"Appointment": {"Appointment/" + crashNewAppt + "/1", "Appointment/" + crashAppt + "/2"},
	}
	feed := func(what, typ string) {
		h, err := s.History(ctx, storage.HistoryQuery{Type: typ, Count: 1000})
		if err != nil {
			add(what, true, "", "", "", err)
			return
		}
		listed := " " + describe(h.Versions) + " "
		var want []string
		for t, vs := range txVersions {
			if typ == "" || typ == t {
				want = append(want, vs...)
			}
		}
		n := 0
		for _, v := range want {
			if strings.Contains(listed, " "+v+" ") {
				n++
			}
		}
		add(what, true, fmt.Sprintf("%d of the transaction's %d versions listed", n, len(want)),
			fmt.Sprintf("0 of the transaction's %d versions listed", len(want)), fmt.Sprintf("%d of the transaction's %d versions listed", len(want), len(want)), nil)
	}
	feed("system history", "")
	feed("Patient history", "Patient")
	feed("Appointment history", "Appointment")
	return out
}

// ExpectReads checks that reads by id (read, vread, instance history, exists) see all of CrashOps when
// all is set, none of it otherwise — never part of it.
func (f *CrashFixture) ExpectReads(t *testing.T, s storage.Store, all bool, when string) {
	t.Helper()
	want := sawNone
	if all {
		want = sawAll
	}
	if got := f.pointState(t, s); got != want {
		t.Errorf("%s: reads by id saw %s of the transaction, want %s", when, got, want)
	}
}
