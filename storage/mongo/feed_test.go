package mongo_test

import (
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
// the traversal's horizon as _since.
type poller struct {
	t     *testing.T
	since time.Time
	count int
	got   map[string]int
}

func newPoller(t *testing.T, pageSize int) *poller {
	return &poller{t: t, count: pageSize, got: map[string]int{}}
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
		h, err := s.History(context.Background(), storage.HistoryQuery{Since: p.since, Count: p.count, After: cursor})
		if err != nil {
			p.t.Fatalf("poll: %v", err)
		}
		if pages == 0 {
			horizon = h.Horizon
		} else if !h.Horizon.Equal(horizon) {
			p.t.Fatalf("horizon moved within a traversal: %v → %v", horizon, h.Horizon)
		}
		for _, v := range h.Versions {
			out = append(out, key(v))
			p.got[key(v)]++
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
// transaction's versions on its next poll, once.
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
	if got := p.poll(s); len(got) != 0 {
		t.Errorf("first poll listed unsettled versions: %v", got)
	}
	clock.Advance(5 * time.Second)
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
	if got := p.poll(s); len(got) != 0 {
		t.Errorf("poll right after publishing listed versions not yet settled: %v", got)
	}
	clock.Advance(3 * time.Second)
	if got := p.poll(s); len(got) != 3 {
		t.Errorf("poll after settling: %v, want the transaction's 3 versions", got)
	}
	clock.Advance(time.Minute)
	if got := p.poll(s); len(got) != 0 {
		t.Errorf("later poll repeated %v", got)
	}
	p.expectOnce(want)
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
	var duringStall []string
	log := &lateLog{}
	s = feedStore(t, clock, mongo.Hooks{BeforeVisible: func(ctx context.Context, versions []string) {
		if !stall.CompareAndSwap(true, false) {
			return
		}
		// The database stalls for 5 s; meanwhile a poller polls past the version's visibility instant.
		clock.Advance(5 * time.Second)
		duringStall = p.poll(s)
	}}, slog.New(log))
	want := map[string]bool{}
	check := func(what string, versions ...*storage.Version) {
		t.Helper()
		if len(duringStall) != 0 {
			t.Errorf("%s: the poll during the stall listed %v", what, duringStall)
		}
		for _, v := range versions {
			want[key(v)] = true
		}
		clock.Advance(3 * time.Second)
		got := p.poll(s)
		if len(got) != len(versions) {
			t.Errorf("%s: poll after the stall listed %v, want %d versions", what, got, len(versions))
		}
		for _, v := range versions {
			if p.got[key(v)] != 1 {
				t.Errorf("%s: %s delivered %d times", what, key(v), p.got[key(v)])
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
	// document's (already passed) and the history document's. Later polls list nothing again.
	clock.Advance(time.Minute)
	if got := p.poll(s); len(got) != 0 {
		t.Errorf("later poll repeated %v", got)
	}
	p.expectOnce(want)
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
// a poller follows the feed through either instance: every version is delivered, once — or more than
// once only when a writer reported a late write.
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
	if repeats > 0 && log.n.Load() == 0 {
		t.Errorf("%d versions delivered more than once without a late write", repeats)
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
