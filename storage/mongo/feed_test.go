package mongo_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/mongo"
	"github.com/careflow/careflow/storage/mongo/mongotest"
	"github.com/careflow/careflow/storage/storagetest"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// lateLog counts the warnings of writers that made a version visible again ("listing it again").
type lateLog struct{ n atomic.Int64 }

func (l *lateLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *lateLog) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn && strings.Contains(r.Message, "listing") {
		l.n.Add(1)
	}
	return nil
}
func (l *lateLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *lateLog) WithGroup(string) slog.Handler      { return l }

const testSettle = 2 * time.Second

// poller follows the change feed with the documented protocol: traverse all pages, then poll again with
// the traversal's horizon as _since. It deduplicates as a client does, by type, id and versionId, and checks
// that a version delivered again is the same version (same lastUpdated, method and body).
type poller struct {
	t     *testing.T
	since time.Time
	count int
	got   map[string]int
	first map[string]*storage.Version
	// typ narrows the feed to type history.
	typ string
}

func newPoller(t *testing.T, pageSize int) *poller {
	return &poller{t: t, count: pageSize, got: map[string]int{}, first: map[string]*storage.Version{}}
}

func key(v *storage.Version) string { return fmt.Sprintf("%s/%s/%d", v.Type, v.ID, v.VersionID) }

// poll traverses the feed of s (system history) from p.since and returns what it delivered.
func (p *poller) poll(s storage.Store) []string {
	p.t.Helper()
	var out []string
	var horizon time.Time
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10000 {
			p.t.Fatal("feed does not end")
		}
		h, err := s.History(context.Background(), storage.HistoryQuery{Type: p.typ, Since: p.since, Count: p.count, After: cursor})
		if err != nil {
			p.t.Fatalf("poll: %v", err)
		}
		if pages == 0 {
			horizon = h.Horizon
		} else if !h.Horizon.Equal(horizon) {
			p.t.Fatalf("horizon moved within a traversal: %v → %v", horizon, h.Horizon)
		}
		for _, v := range h.Versions {
			k := key(v)
			if f := p.first[k]; f == nil {
				p.first[k] = v
			} else if !f.LastUpdated.Equal(v.LastUpdated) || f.Method != v.Method || f.Deleted != v.Deleted || !bytes.Equal(f.Body, v.Body) {
				p.t.Errorf("%s delivered again as a different version: %v %s %s, then %v %s %s", k, f.LastUpdated, f.Method, f.Body, v.LastUpdated, v.Method, v.Body)
			}
			out = append(out, k)
			p.got[k]++
		}
		if cursor = h.Next; cursor == "" {
			break
		}
	}
	if horizon.IsZero() || horizon.Before(p.since) {
		p.t.Fatalf("horizon %v before since %v", horizon, p.since)
	}
	p.since = horizon
	return out
}

// expectAll checks that the poller got exactly the versions in want, each at least once.
func (p *poller) expectAll(want map[string]bool) {
	p.t.Helper()
	for k := range want {
		if p.got[k] == 0 {
			p.t.Errorf("%s never delivered", k)
		}
	}
	for k := range p.got {
		if !want[k] {
			p.t.Errorf("%s delivered but never written", k)
		}
	}
}

// expectOnce checks that the poller got exactly the versions in want, each once.
func (p *poller) expectOnce(want map[string]bool) {
	p.t.Helper()
	for k := range want {
		if p.got[k] != 1 {
			p.t.Errorf("%s delivered %d times", k, p.got[k])
		}
	}
	for k := range p.got {
		if !want[k] {
			p.t.Errorf("%s delivered but never written", k)
		}
	}
}

func feedStore(t *testing.T, clock *fakeClock, hooks mongo.Hooks, log *slog.Logger) *mongo.Store {
	return mongotest.OpenWith(t, mongo.Options{Types: storagetest.Types, FeedSettle: testSettle, Clock: clock.Now, Hooks: hooks, Logger: log, RecoveryInterval: -1})
}

// TestFeedTransactionPublishedLate: a transaction takes its lastUpdated before its commit point and is
// published later; a poller that polled in between, with a horizon past that lastUpdated, gets the
// transaction's versions on its next poll — and on the one after, which starts less than the settle
// window after their visibility instant — and never again.
func TestFeedTransactionPublishedLate(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	paused, release := make(chan struct{}), make(chan struct{})
	s := feedStore(t, clock, mongo.Hooks{AfterCommit: func(ctx context.Context, txID string) error {
		close(paused)
		<-release
		return nil
	}}, nil)
	want := map[string]bool{}
	before, err := s.Create(ctx, patientWrite("", "before"))
	if err != nil {
		t.Fatal(err)
	}
	want[key(before)] = true

	type txDone struct {
		res []storage.TxResult
		err error
	}
	done := make(chan txDone, 1)
	go func() {
		res, err := s.Transact(ctx, []storage.TxOp{
			{Kind: storage.TxCreate, Write: patientWrite("", "tx-a")},
			{Kind: storage.TxCreate, Write: patientWrite("", "tx-b")},
			{Kind: storage.TxUpdate, Write: patientWrite(before.ID, "tx-before")},
		})
		done <- txDone{res, err}
	}()
	<-paused // committed, nothing published

	p := newPoller(t, 50)
	// The create is listed at once (read-your-writes); the transaction is not visible yet.
	if got := p.poll(s); fmt.Sprint(got) != fmt.Sprintf("[%s]", key(before)) {
		t.Errorf("first poll: %v, want only %s", got, key(before))
	}
	clock.Advance(5 * time.Second)
	// Its horizon, now − settle, is before the create: listed again.
	if got := p.poll(s); fmt.Sprint(got) != fmt.Sprintf("[%s]", key(before)) {
		t.Errorf("second poll: %v, want only %s", got, key(before))
	}
	horizon := p.since

	close(release)
	d := <-done
	if d.err != nil {
		t.Fatal(d.err)
	}
	for _, r := range d.res {
		want[key(r.Version)] = true
		// The situation the feed exists for: polling by lastUpdated would have missed these for good.
		if !r.Version.LastUpdated.Before(horizon) {
			t.Fatalf("%s lastUpdated %v is not before the horizon %v already handed out", key(r.Version), r.Version.LastUpdated, horizon)
		}
	}
	if got := p.poll(s); len(got) != 3 {
		t.Errorf("poll right after publishing: %v, want the transaction's 3 versions", got)
	}
	clock.Advance(3 * time.Second)
	if got := p.poll(s); len(got) != 3 {
		t.Errorf("poll after settling: %v, want the transaction's 3 versions again", got)
	}
	clock.Advance(time.Minute)
	if got := p.poll(s); len(got) != 0 {
		t.Errorf("later poll repeated %v", got)
	}
	p.expectAll(want)
}

// TestFeedPagingKeepsHorizon: pages after the first keep the first page's horizon, so versions written
// meanwhile are neither listed on later pages nor lost: the next poll lists them.
func TestFeedPagingKeepsHorizon(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s := feedStore(t, clock, mongo.Hooks{}, nil)
	want := map[string]bool{}
	add := func(v *storage.Version, err error) *storage.Version {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		want[key(v)] = true
		return v
	}
	var first []*storage.Version
	for i := 0; i < 4; i++ {
		first = append(first, add(s.Create(ctx, patientWrite("", fmt.Sprint(i)))))
		clock.Advance(time.Millisecond)
	}
	// Same visibility instant for several versions: the key's tie-breakers keep paging exact.
	add(s.Create(ctx, storage.Write{Type: "Appointment", Body: []byte(`{"resourceType":"Appointment","status":"booked","participant":[{"status":"accepted"}]}`)}))
	add(s.Create(ctx, patientWrite("", "same instant")))
	u, _, err := s.Update(ctx, patientWrite(first[0].ID, "updated"), storage.Precondition{})
	add(u, err)
	add(s.Delete(ctx, "Patient", first[1].ID, storage.Precondition{}))
	clock.Advance(3 * time.Second)

	p := newPoller(t, 3)
	h, err := s.History(ctx, storage.HistoryQuery{Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	horizon := h.Horizon
	seen := map[string]int{}
	for _, v := range h.Versions {
		seen[key(v)]++
	}
	// Written between the pages, and settled by the time the later pages are read.
	late := map[string]bool{}
	for i := 0; i < 3; i++ {
		v := add(s.Create(ctx, patientWrite("", "late")))
		late[key(v)] = true
	}
	u, _, err = s.Update(ctx, patientWrite(first[2].ID, "late update"), storage.Precondition{})
	late[key(add(u, err))] = true
	clock.Advance(10 * time.Second)
	pages := 1
	for cursor := h.Next; cursor != ""; cursor = h.Next {
		if h, err = s.History(ctx, storage.HistoryQuery{Count: 3, After: cursor}); err != nil {
			t.Fatal(err)
		}
		pages++
		if !h.Horizon.Equal(horizon) {
			t.Errorf("page %d horizon %v, want %v", pages, h.Horizon, horizon)
		}
		for _, v := range h.Versions {
			seen[key(v)]++
		}
	}
	if pages < 3 {
		t.Errorf("%d pages, want at least 3", pages)
	}
	for k := range want {
		if late[k] {
			if seen[k] != 0 {
				t.Errorf("%s written after the first page was listed in the same traversal", k)
			}
		} else if seen[k] != 1 {
			t.Errorf("%s listed %d times in the traversal", k, seen[k])
		}
	}
	// The next poll, from that horizon, lists exactly the late versions.
	p.since = horizon
	got := p.poll(s)
	if len(got) != len(late) {
		t.Errorf("next poll %v, want %d late versions", got, len(late))
	}
	for _, k := range got {
		if !late[k] {
			t.Errorf("next poll repeated %s", k)
		}
	}
}

// TestFeedLateVisibility: a write that becomes visible only after the settle window has passed (the
// database stalled between taking the visibility instant and the write) is listed by a later poll rather
// than missed, for a create, an update and a transaction.
func TestFeedLateVisibility(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	var s *mongo.Store
	var stall atomic.Bool
	p := newPoller(t, 50)
	var duringStall, stalled []string
	log := &lateLog{}
	s = feedStore(t, clock, mongo.Hooks{BeforeVisible: func(ctx context.Context, versions []string) {
		if !stall.CompareAndSwap(true, false) {
			return
		}
		stalled = append([]string(nil), versions...)
		// The database stalls for 5 s; meanwhile a poller polls past the version's visibility instant.
		clock.Advance(5 * time.Second)
		duringStall = p.poll(s)
	}}, slog.New(log))
	want := map[string]bool{}
	check := func(what string, versions ...*storage.Version) {
		t.Helper()
		// The poll during the stall lists what is visible (other versions of a transaction, whose marks
		// are cleared concurrently, may be), never the stalled write.
		for _, k := range duringStall {
			for _, x := range stalled {
				if k == x {
					t.Errorf("%s: the poll during the stall listed %s, which was not written yet", what, k)
				}
			}
		}
		for _, v := range versions {
			want[key(v)] = true
		}
		clock.Advance(3 * time.Second)
		got := strings.Join(p.poll(s), " ")
		for _, v := range versions {
			if !strings.Contains(got+" ", key(v)+" ") {
				t.Errorf("%s: poll after the stall listed %s, not %s", what, got, key(v))
			}
		}
	}

	stall.Store(true)
	v1, err := s.Create(ctx, patientWrite("", "stalled create"))
	if err != nil {
		t.Fatal(err)
	}
	check("create", v1)

	stall.Store(true)
	v2, _, err := s.Update(ctx, patientWrite(v1.ID, "stalled update"), storage.Precondition{})
	if err != nil {
		t.Fatal(err)
	}
	check("update", v2)

	other, err := s.Create(ctx, patientWrite("", "other"))
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(3 * time.Second)
	p.poll(s)
	want[key(other)] = true
	stall.Store(true)
	res, err := s.Transact(ctx, []storage.TxOp{
		{Kind: storage.TxUpdate, Write: patientWrite(v1.ID, "stalled tx")},
		{Kind: storage.TxUpdate, Write: patientWrite(other.ID, "stalled tx")},
		{Kind: storage.TxCreate, Write: patientWrite("", "stalled tx")},
	})
	if err != nil {
		t.Fatal(err)
	}
	check("transaction", res[0].Version, res[1].Version, res[2].Version)

	// A version 1 made visible again has two copies with different instants: the current-version
	// document's and the history document's. Polls a settle window later list nothing again.
	clock.Advance(time.Minute)
	if got := p.poll(s); len(got) != 0 {
		t.Errorf("later poll repeated %v", got)
	}
	p.expectAll(want)
	if log.n.Load() < 3 {
		t.Errorf("%d warnings about late versions, want one per late write", log.n.Load())
	}
}

// TestFeedLegacyDocuments: documents written before versions had a visibility instant are listed by
// lastUpdated, after the others, and page like them.
func TestFeedLegacyDocuments(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s := feedStore(t, clock, mongo.Hooks{}, nil)
	want := map[string]bool{}
	var ids []string
	for i := 0; i < 3; i++ {
		v, err := s.Create(ctx, patientWrite("", fmt.Sprint("old", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
		want[key(v)] = true
		clock.Advance(time.Millisecond)
	}
	u, _, err := s.Update(ctx, patientWrite(ids[0], "old update"), storage.Precondition{})
	if err != nil {
		t.Fatal(err)
	}
	want[key(u)] = true
	// Make them look like an older careflow's documents.
	unset := bson.D{{Key: "$unset", Value: bson.D{{Key: "vis", Value: ""}}}}
	if _, err := s.Database().Collection("Patient").UpdateMany(ctx, bson.D{}, unset); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Database().Collection("history").UpdateMany(ctx, bson.D{}, unset); err != nil {
		t.Fatal(err)
	}
	v, err := s.Create(ctx, patientWrite("", "new"))
	if err != nil {
		t.Fatal(err)
	}
	want[key(v)] = true
	clock.Advance(3 * time.Second)
	p := newPoller(t, 2)
	got := p.poll(s)
	if len(got) == 0 || got[0] != key(v) {
		t.Errorf("feed %v: want the new version first, then the legacy ones", got)
	}
	p.expectOnce(want)
}

// TestFeedSkewedInstances: two store instances on one database, their clocks apart by less than half the
// settle window, write concurrently (creates, updates, deletes, transactions, on shared resources) while
// a poller follows the feed through either instance: every version is delivered at least once, a
// repeat being the same version (the poller checks).
func TestFeedSkewedInstances(t *testing.T) {
	ctx := context.Background()
	const settle = time.Second
	const skew = 300 * time.Millisecond
	log := &lateLog{}
	a := mongotest.OpenWith(t, mongo.Options{Types: storagetest.Types, FeedSettle: settle, Logger: slog.New(log), RecoveryInterval: -1})
	b := mongotest.Reopen(t, a.Database().Name(), mongo.Options{Types: storagetest.Types, FeedSettle: settle, Logger: slog.New(log), RecoveryInterval: -1,
		Clock: func() time.Time { return time.Now().Add(-skew) }})
	stores := []*mongo.Store{a, b}

	ids := make([]string, 12)
	for i := range ids {
		ids[i] = fmt.Sprintf("shared-%d", i)
	}
	var mu sync.Mutex
	want := map[string]bool{}
	record := func(vs ...*storage.Version) {
		mu.Lock()
		defer mu.Unlock()
		for _, v := range vs {
			if v != nil {
				want[key(v)] = true
			}
		}
	}
	var writers sync.WaitGroup
	var failed atomic.Value
	for w := 0; w < 4; w++ {
		s := stores[w%2]
		writers.Add(1)
		go func() {
			defer writers.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for op := 0; op < 20; op++ {
				id := ids[rng.IntN(len(ids))]
				var err error
				switch rng.IntN(5) {
				case 0:
					var v *storage.Version
					v, err = s.Create(ctx, patientWrite("", "new"))
					record(v)
				case 1, 2:
					var v *storage.Version
					v, _, err = s.Update(ctx, patientWrite(id, fmt.Sprint("w", w, "op", op)), storage.Precondition{})
					record(v)
				case 3:
					var v *storage.Version
					v, err = s.Delete(ctx, "Patient", id, storage.Precondition{})
					record(v)
				case 4:
					other := ids[(rng.IntN(len(ids)-1)+1+indexOf(ids, id))%len(ids)]
					var res []storage.TxResult
					res, err = s.Transact(ctx, []storage.TxOp{
						{Kind: storage.TxUpdate, Write: patientWrite(id, "tx")},
						{Kind: storage.TxUpdate, Write: patientWrite(other, "tx")},
						{Kind: storage.TxCreate, Write: patientWrite("", "tx")},
					})
					for _, r := range res {
						record(r.Version)
					}
				}
				if err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	writing := make(chan struct{})
	go func() { writers.Wait(); close(writing) }()

	p := newPoller(t, 7)
	polls := 0
	tick := time.NewTicker(20 * time.Millisecond) // pacing only: correctness does not depend on it
	defer tick.Stop()
	var end time.Time
	for {
		p.poll(stores[polls%2])
		polls++
		if end.IsZero() {
			select {
			case <-writing:
				end = time.Now() // every write has returned: its visibility instant is before end (+ skew)
			default:
			}
		} else if p.since.After(end.Add(skew)) {
			break
		}
		<-tick.C
	}
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
	repeats := 0
	for k := range want {
		switch n := p.got[k]; {
		case n == 0:
			t.Errorf("%s never delivered", k)
		case n > 1:
			repeats++
		}
	}
	for k := range p.got {
		if !want[k] {
			t.Errorf("%s delivered but never written", k)
		}
	}
	t.Logf("%d versions, %d polls, %d repeated, %d late writes", len(want), polls, repeats, log.n.Load())
}

func indexOf(xs []string, x string) int {
	for i, y := range xs {
		if y == x {
			return i
		}
	}
	return -1
}

// keysOf lists the versions of a history page.
func keysOf(h *storage.HistoryPage) string {
	var ks []string
	for _, v := range h.Versions {
		ks = append(ks, key(v))
	}
	return strings.Join(ks, " ")
}

// TestFeedReadYourWrites: with a real settle window, type history and system history with _since a moment
// before a write list that write right after it (creates, updates, deletes, transactions), while the
// horizon they report stays now − settle — or _since, when that is later: the client keeps it.
func TestFeedReadYourWrites(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s := feedStore(t, clock, mongo.Hooks{}, nil)
	history := func(q storage.HistoryQuery) *storage.HistoryPage {
		t.Helper()
		q.Count = 10
		h, err := s.History(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	horizonNow := func() time.Time { return clock.Now().Add(-testSettle) }

	moment := clock.Now().Add(-time.Millisecond)
	v1, err := s.Create(ctx, patientWrite("", "fresh"))
	if err != nil {
		t.Fatal(err)
	}
	if h := history(storage.HistoryQuery{Type: "Patient"}); keysOf(h) != key(v1) || !h.Horizon.Equal(horizonNow()) {
		t.Errorf("type history right after a create: [%s] horizon %v, want [%s] horizon %v", keysOf(h), h.Horizon, key(v1), horizonNow())
	}
	if h := history(storage.HistoryQuery{Since: moment}); keysOf(h) != key(v1) || !h.Horizon.Equal(moment) {
		t.Errorf("system history since a moment before the create: [%s] horizon %v, want [%s] horizon %v (its _since)", keysOf(h), h.Horizon, key(v1), moment)
	}
	long := clock.Now().Add(-time.Hour)
	if h := history(storage.HistoryQuery{Since: long}); keysOf(h) != key(v1) || !h.Horizon.Equal(horizonNow()) {
		t.Errorf("system history since an hour ago: [%s] horizon %v, want [%s] horizon %v", keysOf(h), h.Horizon, key(v1), horizonNow())
	}

	clock.Advance(300 * time.Millisecond)
	moment = clock.Now().Add(-time.Millisecond)
	v2, _, err := s.Update(ctx, patientWrite(v1.ID, "fresher"), storage.Precondition{})
	if err != nil {
		t.Fatal(err)
	}
	appt, err := s.Create(ctx, storage.Write{Type: "Appointment", Body: []byte(`{"resourceType":"Appointment","status":"booked","participant":[{"status":"accepted"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keysOf(history(storage.HistoryQuery{Type: "Patient"})), key(v2)+" "+key(v1); got != want {
		t.Errorf("type history right after an update: [%s], want [%s]", got, want)
	}
	if got := keysOf(history(storage.HistoryQuery{Since: moment})); !strings.Contains(got, key(v2)) || !strings.Contains(got, key(appt)) || strings.Contains(got, key(v1)) {
		t.Errorf("system history since a moment before the update: [%s], want %s and %s", got, key(v2), key(appt))
	}

	clock.Advance(300 * time.Millisecond)
	moment = clock.Now().Add(-time.Millisecond)
	d, err := s.Delete(ctx, "Patient", v1.ID, storage.Precondition{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Transact(ctx, []storage.TxOp{{Kind: storage.TxCreate, Write: patientWrite("", "tx")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []storage.HistoryQuery{{Type: "Patient", Since: moment}, {Since: moment}} {
		got := keysOf(history(q))
		if !strings.Contains(got, key(d)) || !strings.Contains(got, key(res[0].Version)) || strings.Contains(got, key(v2)) {
			t.Errorf("history %+v right after a delete and a transaction: [%s]", q, got)
		}
	}
}

// TestFeedProtocolAtLeastOnce: a client that polls right after each write, following the horizon
// protocol with small pages while the settle window (2 s) spans several polls, gets each write on the
// poll right after it, and every version at least once; a repeat is the same version, and only polls
// starting less than the settle window after the version list it.
func TestFeedProtocolAtLeastOnce(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s := feedStore(t, clock, mongo.Hooks{}, nil)
	const gap = 700 * time.Millisecond
	want := map[string]bool{}
	for _, typ := range []string{"", "Patient"} {
		p := newPoller(t, 2)
		p.typ = typ
		var ids []string
		for i := 0; i < 12; i++ {
			var written []*storage.Version
			switch {
			case i%4 == 3:
				res, err := s.Transact(ctx, []storage.TxOp{
					{Kind: storage.TxUpdate, Write: patientWrite(ids[0], fmt.Sprint("tx", i))},
					{Kind: storage.TxCreate, Write: patientWrite("", fmt.Sprint("tx", i))},
				})
				if err != nil {
					t.Fatal(err)
				}
				written = append(written, res[0].Version, res[1].Version)
			case i%4 == 2 && len(ids) > 1:
				v, err := s.Delete(ctx, "Patient", ids[len(ids)-1], storage.Precondition{})
				if err != nil {
					t.Fatal(err)
				}
				ids = ids[:len(ids)-1]
				written = append(written, v)
			case i%4 == 1:
				v, _, err := s.Update(ctx, patientWrite(ids[0], fmt.Sprint("u", i)), storage.Precondition{})
				if err != nil {
					t.Fatal(err)
				}
				written = append(written, v)
			default:
				v, err := s.Create(ctx, patientWrite("", fmt.Sprint("c", i)))
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, v.ID)
				written = append(written, v)
			}
			got := " " + strings.Join(p.poll(s), " ") + " "
			for _, v := range written {
				want[key(v)] = true
				if !strings.Contains(got, " "+key(v)+" ") {
					t.Errorf("feed %q: poll right after writing %s listed [%s]", typ, key(v), got)
				}
			}
			clock.Advance(gap)
		}
		// A poll a minute later still lists what the previous one, less than the settle window before,
		// could have missed; the one after it lists nothing.
		clock.Advance(time.Minute)
		p.poll(s)
		if got := p.poll(s); len(got) != 0 {
			t.Errorf("feed %q: repeated %v a settle window later", typ, got)
		}
		p.expectAll(want) // the type feed's first poll lists the system feed's writes too: all are Patients
		repeats := 0
		for k, n := range p.got {
			if n > 1 {
				repeats++
			}
			if max := int(testSettle/gap) + 2; n > max {
				t.Errorf("feed %q: %s delivered %d times, more than the %d polls that can list it", typ, k, n, max)
			}
		}
		if repeats == 0 {
			t.Errorf("feed %q: no version listed twice, although polls %v apart overlap the settle window", typ, gap)
		}
		t.Logf("feed %q: %d versions, %d listed more than once", typ, len(p.got), repeats)
	}
}
