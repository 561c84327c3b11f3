package storagetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// transactionTests are part of Run.
var transactionTests = map[string]func(*testing.T, storage.Store){
	"TxCommits":                  testTxCommits,
	"TxAllOrNothing":             testTxAllOrNothing,
	"TxInvalid":                  testTxInvalid,
	"TxConcurrentIfMatch":        testTxConcurrentIfMatch,
	"TxConcurrentUnconditional":  testTxConcurrentUnconditional,
	"TxConcurrentCreateSameID":   testTxConcurrentCreateSameID,
	"TxDeleteNothingAndRecreate": testTxDeleteNothingAndRecreate,
}

// familyParam is a hand-made string search parameter on the index field the transaction tests fill, so
// that the suite can search without a registry.
var familyParam = &search.Param{Code: "family", Type: search.TypeString, Field: "s_family"}

// indexed is patient(family) with its family in the search index.
func indexed(id, family string) storage.Write {
	w := patient(family)
	w.ID = id
	w.Index = map[string]any{familyParam.Field: []string{strings.ToLower(family)}}
	return w
}

// searchFamily returns the ids of the current patients whose family starts with prefix ("" for all).
func searchFamily(t *testing.T, s storage.Store, prefix string) []string {
	t.Helper()
	q := &search.Query{Type: "Patient", Count: 1000, CountSet: true}
	if prefix != "" {
		q.Criteria = []search.Criterion{{Param: familyParam, Values: []search.Value{{Text: prefix}}}}
	}
	page, err := s.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("search: %v", err)
	}
	var ids []string
	for _, v := range page.Versions {
		ids = append(ids, v.ID)
	}
	return ids
}

func systemHistory(t *testing.T, s storage.Store) string {
	t.Helper()
	h, err := s.History(context.Background(), storage.HistoryQuery{Count: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return describe(h.Versions)
}

func testTxCommits(t *testing.T, s storage.Store) {
	ctx := context.Background()
	upd := mustCreate(t, s, indexed("", "Before"))
	del := mustCreate(t, s, indexed("", "Doomed"))
	appt := storage.Write{Type: "Appointment", Body: []byte(`{"resourceType":"Appointment","status":"booked","participant":[{"status":"accepted"}]}`)}
	ops := []storage.TxOp{
		{Kind: storage.TxCreate, Write: indexed("", "Fresh")}, // store-assigned id
		{Kind: storage.TxUpdate, Write: indexed(upd.ID, "After"), Precondition: storage.Precondition{VersionID: 1}},
		{Kind: storage.TxDelete, Write: storage.Write{Type: "Patient", ID: del.ID}},
		{Kind: storage.TxUpdate, Write: indexed("chosen-id", "Chosen")}, // update as create
		{Kind: storage.TxCreate, Write: appt},
	}
	res, err := s.Transact(ctx, ops)
	if err != nil {
		t.Fatalf("transact: %v", err)
	}
	if len(res) != len(ops) {
		t.Fatalf("%d results for %d ops", len(res), len(ops))
	}
	fresh, after, gone, chosen, a := res[0].Version, res[1].Version, res[2].Version, res[3].Version, res[4].Version
	switch {
	case fresh == nil || fresh.ID == "" || fresh.VersionID != 1 || !res[0].Created || fresh.Method != "POST":
		t.Errorf("create: %+v created=%v", fresh, res[0].Created)
	case after == nil || after.VersionID != 2 || res[1].Created || after.Method != "PUT":
		t.Errorf("update: %+v created=%v", after, res[1].Created)
	case gone == nil || !gone.Deleted || gone.VersionID != 2 || gone.Method != "DELETE" || gone.Body != nil:
		t.Errorf("delete: %+v", gone)
	case chosen == nil || chosen.ID != "chosen-id" || chosen.VersionID != 1 || !res[3].Created:
		t.Errorf("update as create: %+v created=%v", chosen, res[3].Created)
	case a == nil || a.Type != "Appointment" || a.VersionID != 1:
		t.Errorf("appointment: %+v", a)
	}
	if t.Failed() {
		return
	}
	for _, v := range []*storage.Version{fresh, after, chosen, a} {
		got, err := s.Read(ctx, v.Type, v.ID)
		if err != nil || string(got.Body) != string(v.Body) || got.VersionID != v.VersionID || !got.LastUpdated.Equal(v.LastUpdated) {
			t.Errorf("read %s/%s: %+v %v\nwant %+v", v.Type, v.ID, got, err, v)
		}
		if id, vid, _ := meta(t, got.Body); id != v.ID || vid != strconv.FormatInt(v.VersionID, 10) {
			t.Errorf("%s/%s stamped id=%s versionId=%s", v.Type, v.ID, id, vid)
		}
		vr, err := s.VRead(ctx, v.Type, v.ID, v.VersionID)
		if err != nil || string(vr.Body) != string(v.Body) {
			t.Errorf("vread %s/%s/%d: %v", v.Type, v.ID, v.VersionID, err)
		}
	}
	var goneErr *storage.GoneError
	if _, err := s.Read(ctx, "Patient", del.ID); !errors.As(err, &goneErr) || goneErr.Deleted.VersionID != 2 {
		t.Errorf("read of the deleted patient: %v", err)
	}
	if old, err := s.VRead(ctx, "Patient", upd.ID, 1); err != nil || family(t, old) != "Before" {
		t.Errorf("vread of the replaced version: %v", err)
	}
	h, err := s.History(ctx, storage.HistoryQuery{Type: "Patient", ID: upd.ID, Count: 10})
	if err != nil || describe(h.Versions) != fmt.Sprintf("Patient/%s/2 Patient/%s/1", upd.ID, upd.ID) {
		t.Errorf("instance history: %s %v", describe(h.Versions), err)
	}
	sys := systemHistory(t, s)
	for _, want := range []string{"Patient/" + fresh.ID + "/1", "Patient/chosen-id/1", "Patient/" + del.ID + "/2(deleted)", "Appointment/" + a.ID + "/1"} {
		if !strings.Contains(" "+sys+" ", " "+want+" ") {
			t.Errorf("system history lacks %s: %s", want, sys)
		}
	}
	if n := strings.Count(sys, "Patient/"+fresh.ID+"/"); n != 1 {
		t.Errorf("the created patient appears %d times in history: %s", n, sys)
	}
	if got := fmt.Sprint(searchFamily(t, s, "fre")); got != fmt.Sprint([]string{fresh.ID}) {
		t.Errorf("search family=fre: %s, want the created patient (index fields stored)", got)
	}
	if got := searchFamily(t, s, "before"); len(got) != 0 {
		t.Errorf("search family=before still finds %v", got)
	}
	if got := searchFamily(t, s, "doomed"); len(got) != 0 {
		t.Errorf("search finds the deleted patient: %v", got)
	}
	// The resources go on normally afterwards.
	w := indexed(fresh.ID, "Again")
	if v, _, err := s.Update(ctx, w, storage.Precondition{VersionID: 1}); err != nil || v.VersionID != 2 {
		t.Errorf("update after the transaction: %+v %v", v, err)
	}
}

func testTxAllOrNothing(t *testing.T, s storage.Store) {
	ctx := context.Background()
	keep := mustCreate(t, s, indexed("", "Keep"))
	doomed := mustCreate(t, s, indexed("", "Survivor"))
	victim := mustCreate(t, s, indexed("", "Victim"))
	taken := mustCreate(t, s, indexed("taken", "Taken"))
	before := systemHistory(t, s)

	cases := []struct {
		name  string
		ops   []storage.TxOp
		index int
		check func(error) bool
	}{
		{"failed precondition in the middle", []storage.TxOp{
			{Kind: storage.TxCreate, Write: indexed("new-a", "Ghost")},
			{Kind: storage.TxUpdate, Write: indexed(keep.ID, "Ghost"), Precondition: storage.Precondition{VersionID: 1}},
			{Kind: storage.TxUpdate, Write: indexed(doomed.ID, "Ghost"), Precondition: storage.Precondition{VersionID: 7}},
			{Kind: storage.TxDelete, Write: storage.Write{Type: "Patient", ID: victim.ID}},
			{Kind: storage.TxUpdate, Write: indexed("new-b", "Ghost")},
		}, 2, func(err error) bool {
			var c *storage.VersionConflictError
			return errors.As(err, &c) && c.Expected == 7 && c.Current == 1
		}},
		{"create of a taken id last", []storage.TxOp{
			{Kind: storage.TxUpdate, Write: indexed("new-c", "Ghost")},
			{Kind: storage.TxUpdate, Write: indexed(keep.ID, "Ghost")},
			{Kind: storage.TxCreate, Write: indexed(taken.ID, "Ghost")},
		}, 2, func(err error) bool { return errors.Is(err, storage.ErrExists) }},
		{"precondition on a missing resource first", []storage.TxOp{
			{Kind: storage.TxDelete, Write: storage.Write{Type: "Patient", ID: "missing"}, Precondition: storage.Precondition{VersionID: 1}},
			{Kind: storage.TxCreate, Write: indexed("new-d", "Ghost")},
		}, 0, func(err error) bool {
			var c *storage.VersionConflictError
			return errors.As(err, &c) && c.Current == 0
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Transact(ctx, tc.ops)
			var txErr *storage.TxError
			if !errors.As(err, &txErr) || txErr.Index != tc.index || !tc.check(err) {
				t.Fatalf("transact: %v, want a TxError at op %d", err, tc.index)
			}
			for _, id := range []string{"new-a", "new-b", "new-c", "new-d"} {
				if _, err := s.Read(ctx, "Patient", id); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("read %s: %v, want not found", id, err)
				}
				if _, err := s.VRead(ctx, "Patient", id, 1); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("vread %s/1: %v, want not found", id, err)
				}
			}
			for _, v := range []*storage.Version{keep, doomed, victim, taken} {
				got, err := s.Read(ctx, "Patient", v.ID)
				if err != nil || got.VersionID != 1 || string(got.Body) != string(v.Body) {
					t.Errorf("read %s: %+v %v, want version 1 unchanged", v.ID, got, err)
				}
				if _, err := s.VRead(ctx, "Patient", v.ID, 2); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("vread %s/2: %v, want not found", v.ID, err)
				}
			}
			if after := systemHistory(t, s); after != before {
				t.Errorf("history changed:\n%s\n%s", before, after)
			}
			if got := searchFamily(t, s, "ghost"); len(got) != 0 {
				t.Errorf("search finds %v", got)
			}
			if got := len(searchFamily(t, s, "")); got != 4 {
				t.Errorf("%d patients, want 4", got)
			}
		})
	}
	// Nothing is left behind that would block later writes.
	for _, id := range []string{"new-a", "new-b"} {
		if _, err := s.Create(ctx, indexed(id, "Real")); err != nil {
			t.Errorf("create %s after the failed transactions: %v", id, err)
		}
	}
	v, _, err := s.Update(ctx, indexed(keep.ID, "Next"), storage.Precondition{VersionID: 1})
	if err != nil || v.VersionID != 2 {
		t.Errorf("update after the failed transactions: %+v %v", v, err)
	}
}

func testTxInvalid(t *testing.T, s storage.Store) {
	ctx := context.Background()
	p := mustCreate(t, s, indexed("", "P"))
	for name, ops := range map[string][]storage.TxOp{
		"same resource twice": {
			{Kind: storage.TxUpdate, Write: indexed(p.ID, "A")},
			{Kind: storage.TxDelete, Write: storage.Write{Type: "Patient", ID: p.ID}},
		},
		"update without id": {{Kind: storage.TxUpdate, Write: indexed("", "A")}},
		"unknown kind":      {{Kind: 0, Write: indexed("x", "A")}},
	} {
		_, err := s.Transact(ctx, ops)
		var txErr *storage.TxError
		if !errors.As(err, &txErr) || !errors.Is(err, storage.ErrTxInvalid) {
			t.Errorf("%s: %v, want a TxError wrapping ErrTxInvalid", name, err)
		}
	}
	if res, err := s.Transact(ctx, nil); err != nil || len(res) != 0 {
		t.Errorf("empty transaction: %v %v", res, err)
	}
	if cur, _ := s.Read(ctx, "Patient", p.ID); cur.VersionID != 1 {
		t.Errorf("invalid transactions changed the patient: %+v", cur)
	}
}

// counter reads the number a test keeps in a patient's family name.
func counter(t *testing.T, v *storage.Version) int {
	n, err := strconv.Atoi(family(t, v))
	if err != nil {
		t.Fatalf("family %q is not a counter", family(t, v))
	}
	return n
}

// testTxConcurrentIfMatch: transactions incrementing two counters with If-Match, racing single
// read-modify-write updates of one of them. Every successful write sets counter = read counter + 1 on
// the version it read, so if no update is lost, version k of each resource holds counter k-1.
func testTxConcurrentIfMatch(t *testing.T, s storage.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, indexed("", "0"))
	b := mustCreate(t, s, indexed("", "0"))
	const workers, rounds = 8, 4
	var wg sync.WaitGroup
	var mu sync.Mutex
	txWins, plainWins := 0, 0
	for g := 0; g < workers; g++ {
		wg.Add(2)
		go func() { // transactions over a and b
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				ca, err1 := s.Read(ctx, "Patient", a.ID)
				cb, err2 := s.Read(ctx, "Patient", b.ID)
				if err1 != nil || err2 != nil {
					t.Error(err1, err2)
					return
				}
				_, err := s.Transact(ctx, []storage.TxOp{
					{Kind: storage.TxUpdate, Write: indexed(a.ID, strconv.Itoa(counter(t, ca)+1)), Precondition: storage.Precondition{VersionID: ca.VersionID}},
					{Kind: storage.TxUpdate, Write: indexed(b.ID, strconv.Itoa(counter(t, cb)+1)), Precondition: storage.Precondition{VersionID: cb.VersionID}},
				})
				var conflict *storage.VersionConflictError
				switch {
				case err == nil:
					mu.Lock()
					txWins++
					mu.Unlock()
				case errors.As(err, &conflict):
				default:
					t.Errorf("transaction: %v", err)
				}
			}
		}()
		go func() { // single updates of a
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				ca, err := s.Read(ctx, "Patient", a.ID)
				if err != nil {
					t.Error(err)
					return
				}
				_, _, err = s.Update(ctx, indexed(a.ID, strconv.Itoa(counter(t, ca)+1)), storage.Precondition{VersionID: ca.VersionID})
				var conflict *storage.VersionConflictError
				switch {
				case err == nil:
					mu.Lock()
					plainWins++
					mu.Unlock()
				case errors.As(err, &conflict):
				default:
					t.Errorf("update: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if txWins == 0 {
		// Every transaction can lose the race to the single updates (a legitimate outcome on a loaded
		// machine); then one more, uncontended, must win, so that the transaction path is exercised.
		ca, err1 := s.Read(ctx, "Patient", a.ID)
		cb, err2 := s.Read(ctx, "Patient", b.ID)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if _, err := s.Transact(ctx, []storage.TxOp{
			{Kind: storage.TxUpdate, Write: indexed(a.ID, strconv.Itoa(counter(t, ca)+1)), Precondition: storage.Precondition{VersionID: ca.VersionID}},
			{Kind: storage.TxUpdate, Write: indexed(b.ID, strconv.Itoa(counter(t, cb)+1)), Precondition: storage.Precondition{VersionID: cb.VersionID}},
		}); err != nil {
			t.Fatalf("an uncontended transaction failed: %v", err)
		}
		txWins++
	}
	check := func(v *storage.Version, wins int) {
		cur, err := s.Read(ctx, "Patient", v.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cur.VersionID != int64(wins)+1 || counter(t, cur) != wins {
			t.Errorf("%s: version %d counter %d after %d successful writes", v.ID, cur.VersionID, counter(t, cur), wins)
		}
		for vid := int64(1); vid <= cur.VersionID; vid++ {
			old, err := s.VRead(ctx, "Patient", v.ID, vid)
			if err != nil || counter(t, old) != int(vid-1) {
				t.Errorf("%s version %d: %v %v (a lost update)", v.ID, vid, old, err)
			}
		}
		h, err := s.History(ctx, storage.HistoryQuery{Type: "Patient", ID: v.ID, Count: 1000})
		if err != nil || len(h.Versions) != int(cur.VersionID) {
			t.Errorf("%s: history has %d versions, want %d (%v)", v.ID, len(h.Versions), cur.VersionID, err)
		}
	}
	check(a, txWins+plainWins)
	check(b, txWins)
}

// testTxConcurrentUnconditional: unconditional transactions over two resources, racing single updates of
// one of them; all succeed, versions are sequential, and every transaction's two writes are both there.
func testTxConcurrentUnconditional(t *testing.T, s storage.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, indexed("", "start"))
	const workers, rounds = 6, 3
	var wg sync.WaitGroup
	for g := 0; g < workers; g++ {
		wg.Add(2)
		go func(g int) {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				tag := fmt.Sprintf("tx%d-%d", g, r)
				ops := []storage.TxOp{
					{Kind: storage.TxUpdate, Write: indexed(a.ID, tag)},
					{Kind: storage.TxUpdate, Write: indexed("shared-b", tag)}, // created by the first to commit
				}
				if r%2 == 1 { // the other order: claims are ordered by the store, whatever the op order
					ops[0], ops[1] = ops[1], ops[0]
				}
				if _, err := s.Transact(ctx, ops); err != nil {
					t.Errorf("transaction %s: %v", tag, err)
				}
			}
		}(g)
		go func(g int) {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				if _, _, err := s.Update(ctx, indexed(a.ID, fmt.Sprintf("plain%d-%d", g, r)), storage.Precondition{}); err != nil {
					t.Errorf("update: %v", err)
				}
			}
		}(g)
	}
	wg.Wait()
	tags := func(id string, want int) map[string]bool {
		h, err := s.History(ctx, storage.HistoryQuery{Type: "Patient", ID: id, Count: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Versions) != want {
			t.Errorf("%s has %d versions, want %d (lost or duplicated writes)", id, len(h.Versions), want)
		}
		seen := map[string]bool{}
		for i, v := range h.Versions {
			if v.VersionID != int64(len(h.Versions)-i) {
				t.Errorf("%s: history position %d holds version %d: not sequential", id, i, v.VersionID)
			}
			seen[family(t, v)] = true
		}
		return seen
	}
	inA := tags(a.ID, 1+2*workers*rounds)
	inB := tags("shared-b", workers*rounds)
	for g := 0; g < workers; g++ {
		for r := 0; r < rounds; r++ {
			tag := fmt.Sprintf("tx%d-%d", g, r)
			if !inA[tag] || !inB[tag] {
				t.Errorf("transaction %s is half there: in a %v, in b %v", tag, inA[tag], inB[tag])
			}
		}
	}
}

// testTxConcurrentCreateSameID: concurrent transactions creating the same id: exactly one wins, the others
// fail with ErrExists, and a single update-as-create racing them lands on top.
func testTxConcurrentCreateSameID(t *testing.T, s storage.Store) {
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			_, err := s.Transact(ctx, []storage.TxOp{
				{Kind: storage.TxCreate, Write: indexed("contested", fmt.Sprint("c", g))},
				{Kind: storage.TxCreate, Write: indexed(fmt.Sprint("side-", g), "side")},
			})
			switch {
			case err == nil:
				mu.Lock()
				wins++
				mu.Unlock()
			case errors.Is(err, storage.ErrExists):
				if _, err := s.Read(ctx, "Patient", fmt.Sprint("side-", g)); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("a failed transaction's other create is visible: %v", err)
				}
			default:
				t.Errorf("transaction %d: %v", g, err)
			}
		}(g)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, _, err := s.Update(ctx, indexed("contested", "plain"), storage.Precondition{}); err != nil {
			t.Errorf("update as create: %v", err)
		}
	}()
	wg.Wait()
	h, err := s.History(ctx, storage.HistoryQuery{Type: "Patient", ID: "contested", Count: 100})
	if err != nil {
		t.Fatal(err)
	}
	// Either the plain update created it (then no transaction could) or one transaction did and the plain
	// update came first or second.
	want := wins + 1
	if len(h.Versions) != want || wins > 1 {
		t.Errorf("%d transactions created the id; history %s", wins, describe(h.Versions))
	}
}

func testTxDeleteNothingAndRecreate(t *testing.T, s storage.Store) {
	ctx := context.Background()
	p := mustCreate(t, s, indexed("", "P"))
	if _, err := s.Delete(ctx, "Patient", p.ID, storage.Precondition{}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Transact(ctx, []storage.TxOp{
		{Kind: storage.TxDelete, Write: storage.Write{Type: "Patient", ID: "never"}},
		{Kind: storage.TxDelete, Write: storage.Write{Type: "Patient", ID: p.ID}},
		{Kind: storage.TxUpdate, Write: indexed("revived", "R")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Version != nil || res[1].Version != nil {
		t.Errorf("deletes of nothing returned versions: %+v %+v", res[0], res[1])
	}
	res, err = s.Transact(ctx, []storage.TxOp{{Kind: storage.TxUpdate, Write: indexed(p.ID, "Back")}})
	if err != nil || !res[0].Created || res[0].Version.VersionID != 3 {
		t.Fatalf("update of a deleted resource: %+v %v", res, err)
	}
	if _, err := s.Transact(ctx, []storage.TxOp{{Kind: storage.TxCreate, Write: indexed(p.ID, "Again")}}); !errors.Is(err, storage.ErrExists) {
		t.Errorf("create of an existing id: %v", err)
	}
}

// CrashPoint is where a transaction stops as if its process had been killed there.
type CrashPoint string

const (
	// CrashAfterClaims stops before the commit point: recovery must roll the transaction back.
	CrashAfterClaims CrashPoint = "after-claims"
	// CrashAfterCommit stops right after the commit point: recovery must roll it forward.
	CrashAfterCommit CrashPoint = "after-commit"
	// CrashMidPublish stops after the first resource type (Appointment) is published: recovery must
	// publish the rest.
	CrashMidPublish CrashPoint = "mid-publish"
)

// Recovery is what RunRecovery needs from an implementation beyond storage.Store.
type Recovery struct {
	// Open returns a store on a new, empty database for Types whose transactions stop at crash as if the
	// process had died there (Transact returns an error and cleans nothing up).
	Open func(t *testing.T, crash CrashPoint) storage.Store
	// Restart opens another store on the database of crashed, as a restarted server would, and returns it
	// once it has recovered what crashed left behind (waiting out any timeout that needs).
	Restart func(t *testing.T, crashed storage.Store) storage.Store
}

// RunRecovery checks that a transaction interrupted at any point is all-or-nothing once the store has
// recovered: rolled back before the commit point, rolled forward after it; and that nothing of an
// uncommitted transaction is visible meanwhile.
func RunRecovery(t *testing.T, r Recovery) {
	for _, tc := range []struct {
		at        CrashPoint
		committed bool
	}{{CrashAfterClaims, false}, {CrashAfterCommit, true}, {CrashMidPublish, true}} {
		t.Run(string(tc.at), func(t *testing.T) {
			crashed := r.Open(t, tc.at)
			f := SeedCrash(t, crashed)
			if _, err := crashed.Transact(context.Background(), CrashOps()); err == nil {
				t.Fatal("the transaction did not stop at the crash point")
			}
			if !tc.committed {
				f.ExpectNone(t, crashed, "before recovery")
			}
			recovered := r.Restart(t, crashed)
			if tc.committed {
				f.ExpectAll(t, recovered)
				return
			}
			f.ExpectNone(t, recovered, "after recovery")
			// Nothing is left that blocks the resources.
			if _, err := recovered.Transact(context.Background(), CrashOps()); err != nil {
				t.Fatalf("the same transaction after recovery: %v", err)
			}
			f.ExpectAll(t, recovered)
		})
	}
}

// The resources of the crash fixture.
const (
	crashNewPatient = "crash-new"
	crashNewAppt    = "crash-appt-new"
	crashUpd        = "crash-upd"
	crashDel        = "crash-del"
	crashAppt       = "crash-appt"
)

// CrashFixture is the data of the crash tests: resources of both types, seeded by SeedCrash, and a
// transaction over them (CrashOps), with what the store must look like without it and with it.
type CrashFixture struct {
	upd, del, appt *storage.Version
	history        string
}

// SeedCrash writes the resources CrashOps works on.
func SeedCrash(t *testing.T, s storage.Store) *CrashFixture {
	f := &CrashFixture{}
	f.upd = mustCreate(t, s, indexed(crashUpd, "Old"))
	f.del = mustCreate(t, s, indexed(crashDel, "Victim"))
	f.appt = mustCreate(t, s, storage.Write{Type: "Appointment", ID: crashAppt, Body: []byte(`{"resourceType":"Appointment","status":"proposed","participant":[{"status":"needs-action"}]}`)})
	f.history = systemHistory(t, s)
	return f
}

// CrashOps is a transaction over the resources SeedCrash writes: it creates a patient and an appointment,
// updates a patient (If-Match) and an appointment, and deletes a patient. Appointments come first in
// claim and publish order.
func CrashOps() []storage.TxOp {
	return []storage.TxOp{
		{Kind: storage.TxCreate, Write: indexed(crashNewPatient, "Newborn")},
		{Kind: storage.TxUpdate, Write: indexed(crashUpd, "New"), Precondition: storage.Precondition{VersionID: 1}},
		{Kind: storage.TxDelete, Write: storage.Write{Type: "Patient", ID: crashDel}},
		{Kind: storage.TxUpdate, Write: storage.Write{Type: "Appointment", ID: crashAppt, Body: []byte(`{"resourceType":"Appointment","id":"` + crashAppt + `","status":"booked","participant":[{"status":"accepted"}]}`)}},
		{Kind: storage.TxCreate, Write: storage.Write{Type: "Appointment", ID: crashNewAppt, Body: []byte(`{"resourceType":"Appointment","status":"booked","participant":[{"status":"accepted"}]}`)}},
	}
}

// ExpectNone checks that nothing of CrashOps is visible: read, vread, history, search.
func (f *CrashFixture) ExpectNone(t *testing.T, s storage.Store, when string) {
	t.Helper()
	ctx := context.Background()
	for _, r := range [][2]string{{"Patient", crashNewPatient}, {"Appointment", crashNewAppt}} {
		if _, err := s.Read(ctx, r[0], r[1]); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s: read %s/%s: %v, want not found", when, r[0], r[1], err)
		}
		if _, err := s.VRead(ctx, r[0], r[1], 1); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s: vread %s/%s/1: %v, want not found", when, r[0], r[1], err)
		}
	}
	for _, v := range []*storage.Version{f.upd, f.del, f.appt} {
		cur, err := s.Read(ctx, v.Type, v.ID)
		if err != nil || cur.VersionID != 1 || string(cur.Body) != string(v.Body) {
			t.Errorf("%s: read %s/%s: %+v %v, want version 1", when, v.Type, v.ID, cur, err)
		}
		if _, err := s.VRead(ctx, v.Type, v.ID, 2); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s: vread %s/%s/2: %v, want not found", when, v.Type, v.ID, err)
		}
	}
	if h := systemHistory(t, s); h != f.history {
		t.Errorf("%s: history\n%s\nwant\n%s", when, h, f.history)
	}
	if got := searchFamily(t, s, "new"); len(got) != 0 {
		t.Errorf("%s: search family=new finds %v", when, got)
	}
	if got := len(searchFamily(t, s, "")); got != 2 {
		t.Errorf("%s: %d patients, want 2", when, got)
	}
}

// ExpectAll checks that all of CrashOps is visible, and that the resources can be written normally.
func (f *CrashFixture) ExpectAll(t *testing.T, s storage.Store) {
	t.Helper()
	ctx := context.Background()
	for _, r := range [][3]string{{"Patient", crashNewPatient, "1"}, {"Appointment", crashNewAppt, "1"}, {"Patient", crashUpd, "2"}, {"Appointment", crashAppt, "2"}} {
		cur, err := s.Read(ctx, r[0], r[1])
		if err != nil || strconv.FormatInt(cur.VersionID, 10) != r[2] {
			t.Errorf("read %s/%s: %+v %v, want version %s", r[0], r[1], cur, err, r[2])
			continue
		}
		if _, vid, _ := meta(t, cur.Body); vid != r[2] {
			t.Errorf("%s/%s body has versionId %s", r[0], r[1], vid)
		}
	}
	var gone *storage.GoneError
	if _, err := s.Read(ctx, "Patient", crashDel); !errors.As(err, &gone) || gone.Deleted.VersionID != 2 {
		t.Errorf("read of the deleted patient: %v", err)
	}
	h := systemHistory(t, s)
	for _, want := range []string{
		"Patient/" + crashNewPatient + "/1", "Appointment/" + crashNewAppt + "/1", "Patient/" + crashUpd + "/2", "Patient/" + crashUpd + "/1",
		"Patient/" + crashDel + "/2(deleted)", "Appointment/" + crashAppt + "/2",
	} {
		if strings.Count(" "+h+" ", " "+want+" ") != 1 {
			t.Errorf("history has not exactly one %s: %s", want, h)
		}
	}
	if got := fmt.Sprint(searchFamily(t, s, "new")); got != fmt.Sprint([]string{crashNewPatient, crashUpd}) {
		t.Errorf("search family=new: %s (index fields of the recovered versions)", got)
	}
	// The resources go on normally.
	v, _, err := s.Update(ctx, indexed(crashUpd, "Newer"), storage.Precondition{VersionID: 2})
	if err != nil || v.VersionID != 3 {
		t.Errorf("update after recovery: %+v %v", v, err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := s.Update(ctx, indexed(crashNewPatient, "Second"), storage.Precondition{VersionID: 1})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("update of the recovered creation: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("update of the recovered creation blocks")
	}
}
