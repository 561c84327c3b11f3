package fetch_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/adapters/internal/fetch"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// fakeStore serves ids in pages, using the cursor as an offset, and records the queries it gets.
type fakeStore struct {
	ids     []string
	queries []*search.Query
	repeat  bool // answer every page with the same Next cursor (a broken store)
	err     error
}

func (f *fakeStore) Search(_ context.Context, q *search.Query) (*storage.SearchPage, error) {
	cp := *q
	f.queries = append(f.queries, &cp)
	if f.err != nil {
		return nil, f.err
	}
	start := 0
	if q.Cursor != "" {
		start, _ = strconv.Atoi(q.Cursor)
	}
	end := min(start+q.Count, len(f.ids))
	page := &storage.SearchPage{Total: -1}
	for _, id := range f.ids[start:end] {
		page.Versions = append(page.Versions, &storage.Version{Type: q.Type, ID: id, VersionID: 1, Body: []byte(`{}`)})
	}
	if end < len(f.ids) {
		page.Next = strconv.Itoa(end)
	}
	if f.repeat {
		page.Next = "same"
	}
	return page, nil
}

func TestAllPages(t *testing.T) {
	reg := r4test.Load(t).Registry
	store := &fakeStore{ids: []string{"a", "b", "c", "d", "e", "c"}}
	f := fetch.Fetcher{Store: store, Registry: reg, PageSize: 2}
	got, err := f.All(context.Background(), "Patient", url.Values{"gender": {"female"}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, v := range got {
		ids = append(ids, v.ID)
	}
	if strings.Join(ids, ",") != "a,b,c,d,e" {
		t.Errorf("ids %v (duplicates must be dropped)", ids)
	}
	if len(store.queries) != 3 {
		t.Fatalf("%d pages read, want 3", len(store.queries))
	}
	q := store.queries[0]
	if q.Count != 2 || q.Total != "none" || len(q.Criteria) != 1 || q.Criteria[0].Param.Code != "gender" || q.Cursor != "" ||
		store.queries[1].Cursor != "2" || store.queries[2].Cursor != "4" {
		t.Errorf("queries: %+v %+v %+v", q, store.queries[1], store.queries[2])
	}
	// A store that keeps answering the same cursor does not loop forever.
	loop := &fakeStore{ids: []string{"a", "b", "c"}, repeat: true}
	if _, err := (fetch.Fetcher{Store: loop, Registry: reg, PageSize: 1}).All(context.Background(), "Patient", nil); err != nil {
		t.Fatal(err)
	}
	if len(loop.queries) != 2 {
		t.Errorf("%d pages read from a looping store", len(loop.queries))
	}
}

func TestAllErrors(t *testing.T) {
	reg := r4test.Load(t).Registry
	store := &fakeStore{}
	f := fetch.Fetcher{Store: store, Registry: reg}
	// Unknown parameters are errors, never silently dropped.
	if _, err := f.All(context.Background(), "Patient", url.Values{"no-such-param": {"x"}}); err == nil {
		t.Error("unknown parameter accepted")
	}
	if len(store.queries) != 0 {
		t.Error("store searched with an invalid query")
	}
	boom := errors.New("boom")
	store.err = boom
	if _, err := f.All(context.Background(), "Patient", nil); !errors.Is(err, boom) {
		t.Errorf("store error not wrapped: %v", err)
	}
	if _, err := (fetch.Fetcher{}).All(context.Background(), "Patient", nil); err == nil {
		t.Error("empty Fetcher accepted")
	}
}

func TestInBatches(t *testing.T) {
	reg := r4test.Load(t).Registry
	store := &fakeStore{ids: []string{"x"}}
	f := fetch.Fetcher{Store: store, Registry: reg, Batch: 2}
	refs := []string{"Patient/1", "Patient/2", "Patient/3", "Patient/2", "", "Patient/4", "Patient/5"}
	got, err := f.In(context.Background(), "Coverage", "beneficiary", refs, url.Values{"status": {"active"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Errorf("results of every batch must be deduplicated: %d", len(got))
	}
	var batches []string
	for _, q := range store.queries {
		var vals []string
		for _, c := range q.Criteria {
			if c.Param.Code != "beneficiary" {
				continue
			}
			for _, v := range c.Values {
				vals = append(vals, v.RefType+"/"+v.RefID)
			}
		}
		if len(q.Criteria) != 2 {
			t.Errorf("batch query lost the status criterion: %+v", q.Criteria)
		}
		batches = append(batches, strings.Join(vals, "+"))
	}
	if strings.Join(batches, " ") != "Patient/1+Patient/2 Patient/3+Patient/4 Patient/5" {
		t.Errorf("batches %v", batches)
	}
	store.queries = nil
	if got, err := f.In(context.Background(), "Coverage", "beneficiary", nil, nil); err != nil || got != nil || len(store.queries) != 0 {
		t.Errorf("no values: %v %v, %d queries", got, err, len(store.queries))
	}
}

// TestInManyValues: beyond LargeIn values, In reads the matching resources once and filters them in
// memory — with the same answer as the batched searches.
func TestInManyValues(t *testing.T) {
	e := adaptertest.New(t)
	for i := 0; i < 30; i++ {
		status := "active"
		if i%2 == 1 {
			status = "cancelled"
		}
		e.Put("Coverage", fmt.Sprintf("c%d", i), fmt.Sprintf(`{"status":%q,"beneficiary":{"reference":"Patient/p%d"},"payor":[{"display":"Acme"}]}`, status, i))
	}
	var many []string
	for i := 0; i < fetch.LargeIn+100; i++ {
		many = append(many, fmt.Sprintf("Patient/p%d", (i*7)%(fetch.LargeIn+100)))
	}
	f := fetch.Fetcher{Store: e.Store, Registry: e.Registry}
	ids := func(vs []*storage.Version) string {
		var out []string
		for _, v := range vs {
			out = append(out, v.ID)
		}
		sort.Strings(out)
		return strings.Join(out, ",")
	}
	active := url.Values{"status": {"active"}}
	got, err := f.In(context.Background(), "Coverage", "beneficiary", many, active)
	if err != nil {
		t.Fatal(err)
	}
	var few []string // the values that name a stored beneficiary, and a few that do not
	for i := 0; i < 40; i++ {
		few = append(few, fmt.Sprintf("Patient/p%d", i))
	}
	want, err := f.In(context.Background(), "Coverage", "beneficiary", few, active)
	if err != nil {
		t.Fatal(err)
	}
	if ids(got) != "c0,c10,c12,c14,c16,c18,c2,c20,c22,c24,c26,c28,c4,c6,c8" || ids(got) != ids(want) {
		t.Errorf("in memory: %s; batched: %s", ids(got), ids(want))
	}
}

// TestDecodeOnce: through a Memo, Decode decodes each resource version once per kind and hands every
// caller that value; a new version, another kind or a store without a memo decodes again.
func TestDecodeOnce(t *testing.T) {
	calls := 0
	decode := func(v *storage.Version) (string, error) {
		calls++
		return fmt.Sprintf("%s/%s/%d", v.Type, v.ID, v.VersionID), nil
	}
	m := fetch.NewMemo(&fakeStore{})
	v1 := &storage.Version{Type: "CarePlan", ID: "a", VersionID: 1}
	same := &storage.Version{Type: "CarePlan", ID: "a", VersionID: 1} // the same version, read by another search
	v2 := &storage.Version{Type: "CarePlan", ID: "a", VersionID: 2}
	for _, c := range []struct {
		s     fetch.Searcher
		kind  string
		v     *storage.Version
		want  string
		calls int
	}{
		{m, "k", v1, "CarePlan/a/1", 1},
		{m, "k", same, "CarePlan/a/1", 1},
		{m, "k", v2, "CarePlan/a/2", 2},
		{m, "other", v1, "CarePlan/a/1", 3},
		{&fakeStore{}, "k", v1, "CarePlan/a/1", 4},
	} {
		got, err := fetch.Decode(c.s, c.kind, c.v, decode)
		if err != nil || got != c.want || calls != c.calls {
			t.Errorf("%s %s/%d: %q %v after %d decodings, want %q after %d", c.kind, c.v.ID, c.v.VersionID, got, err, calls, c.want, c.calls)
		}
	}
	// Errors are not kept: the next call decodes again.
	boom := errors.New("boom")
	failing := func(*storage.Version) (string, error) { calls++; return "", boom }
	v3 := &storage.Version{Type: "CarePlan", ID: "b", VersionID: 1}
	for i := 0; i < 2; i++ {
		if _, err := fetch.Decode(m, "k", v3, failing); !errors.Is(err, boom) {
			t.Errorf("error %v", err)
		}
	}
	if calls != 6 {
		t.Errorf("%d decodings, want 6", calls)
	}
}

// blockingStore answers every search after release is closed, counting the searches.
type blockingStore struct {
	release chan struct{}
	n       atomic.Int64
}

func (b *blockingStore) Search(_ context.Context, q *search.Query) (*storage.SearchPage, error) {
	b.n.Add(1)
	<-b.release
	return &storage.SearchPage{Versions: []*storage.Version{{Type: q.Type, ID: "x", VersionID: 1}}}, nil
}

// TestMemoConcurrentCallers: callers asking a Memo the same search, or the same decoding, at the same time
// share one: the store sees one search and the decoder runs once, whatever the interleaving.
func TestMemoConcurrentCallers(t *testing.T) {
	reg := r4test.Load(t).Registry
	store := &blockingStore{release: make(chan struct{})}
	m := fetch.NewMemo(store)
	q, oerr := reg.Parse("Patient", url.Values{"gender": {"female"}}, search.ParseOptions{Strict: true})
	if oerr != nil {
		t.Fatal(oerr)
	}
	var decodings atomic.Int64
	v := &storage.Version{Type: "Patient", ID: "x", VersionID: 1}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			page, err := m.Search(context.Background(), q)
			if err != nil || len(page.Versions) != 1 {
				errs <- fmt.Errorf("search: %v %v", page, err)
				return
			}
			got, err := fetch.Decode(m, "k", v, func(*storage.Version) (int64, error) {
				return decodings.Add(1), nil
			})
			if err != nil || got != 1 {
				errs <- fmt.Errorf("decode: %d %v", got, err)
			}
		}()
	}
	close(store.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if store.n.Load() != 1 || decodings.Load() != 1 {
		t.Errorf("%d searches and %d decodings for 8 concurrent callers, want 1 and 1", store.n.Load(), decodings.Load())
	}
}

// TestDecodeDetaches: the values a Memo keeps hold no string of the buffer they were decoded from.
func TestDecodeDetaches(t *testing.T) {
	type inner struct{ S string }
	type value struct {
		S     string
		P     *inner
		L     []inner
		A     [1]string
		local string // unexported: left alone
	}
	buf := []byte("abcdefgh")
	view := func(i, j int) string { return unsafe.String(&buf[i], j-i) }
	got, err := fetch.Decode(fetch.NewMemo(&fakeStore{}), "k", &storage.Version{Type: "T", ID: "x", VersionID: 1},
		func(*storage.Version) (value, error) {
			return value{S: view(0, 2), P: &inner{view(2, 4)}, L: []inner{{view(4, 6)}}, A: [1]string{view(6, 8)}, local: view(0, 1)}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	inBuf := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return p >= uintptr(unsafe.Pointer(&buf[0])) && p < uintptr(unsafe.Pointer(&buf[0]))+uintptr(len(buf))
	}
	if got.S != "ab" || got.P.S != "cd" || got.L[0].S != "ef" || got.A[0] != "gh" || got.local != "a" {
		t.Fatalf("values changed: %+v", got)
	}
	for _, s := range []string{got.S, got.P.S, got.L[0].S, got.A[0]} {
		if inBuf(s) {
			t.Errorf("%q still points into the decoded buffer", s)
		}
	}
}

// TestMemoKeepsTypes: a Memo made with types keeps the pages of those types only.
func TestMemoKeepsTypes(t *testing.T) {
	reg := r4test.Load(t).Registry
	store := &fakeStore{ids: []string{"a"}}
	m := fetch.NewMemo(store, "CarePlan")
	for _, typ := range []string{"CarePlan", "Patient", "CarePlan", "Patient"} {
		q, oerr := reg.Parse(typ, url.Values{"_id": {"a"}}, search.ParseOptions{Strict: true})
		if oerr != nil {
			t.Fatal(oerr)
		}
		if _, err := m.Search(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, q := range store.queries {
		got = append(got, q.Type)
	}
	if strings.Join(got, ",") != "CarePlan,Patient,Patient" {
		t.Errorf("searches that reached the store: %v", got)
	}
}

// TestInEach: InEach hands over In's resources in In's order, and an error of its function stops it.
func TestInEach(t *testing.T) {
	reg := r4test.Load(t).Registry
	store := &fakeStore{ids: []string{"x", "y", "z"}}
	f := fetch.Fetcher{Store: store, Registry: reg, Batch: 2, PageSize: 2}
	refs := []string{"Patient/1", "Patient/2", "Patient/3"}
	want, err := f.In(context.Background(), "Coverage", "beneficiary", refs, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = f.InEach(context.Background(), "Coverage", "beneficiary", refs, nil, func(v *storage.Version) error {
		got = append(got, v.ID)
		return nil
	})
	var wantIDs []string
	for _, v := range want {
		wantIDs = append(wantIDs, v.ID)
	}
	if err != nil || strings.Join(got, ",") != strings.Join(wantIDs, ",") || len(got) != 3 {
		t.Errorf("InEach %v %v, In %v", got, err, wantIDs)
	}
	boom := errors.New("boom")
	store.queries = nil
	calls := 0
	err = f.InEach(context.Background(), "Coverage", "beneficiary", refs, nil, func(*storage.Version) error {
		calls++
		return boom
	})
	if !errors.Is(err, boom) || calls != 1 || len(store.queries) != 2 { // the two pages of the first batch, no more
		t.Errorf("after an error: %v, %d calls, %d searches", err, calls, len(store.queries))
	}
}

// aheadStore answers a search of Coverage?beneficiary=Patient/N with one Coverage whose id is N, and
// counts the searches under way. The searches of Patient/1 and Patient/2 each wait until the other has
// started: they return only if they run at the same time.
type aheadStore struct {
	inflight, most atomic.Int32
	first, second  chan struct{} // closed when the search of Patient/1, Patient/2 starts
}

func (a *aheadStore) Search(ctx context.Context, q *search.Query) (*storage.SearchPage, error) {
	n := a.inflight.Add(1)
	defer a.inflight.Add(-1)
	for m := a.most.Load(); n > m && !a.most.CompareAndSwap(m, n); m = a.most.Load() {
	}
	id := q.Criteria[0].Values[0].RefID
	if mine, other := a.first, a.second; id == "1" || id == "2" {
		if id == "2" {
			mine, other = other, mine
		}
		close(mine)
		select {
		case <-other:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &storage.SearchPage{Total: -1, Versions: []*storage.Version{{Type: q.Type, ID: id, VersionID: 1, Body: []byte(`{}`)}}}, nil
}

// TestInEachAhead: through a Memo with SearchAhead(2), InEach searches the next batches while the
// caller handles one — at most two at a time — and hands over the same resources in the same order; after
// an error of its function it returns with no search under way.
func TestInEachAhead(t *testing.T) {
	reg := r4test.Load(t).Registry
	store := &aheadStore{first: make(chan struct{}), second: make(chan struct{})}
	m := fetch.NewMemo(store).SearchAhead(2)
	if m.BatchesAhead() != 2 {
		t.Fatalf("BatchesAhead %d", m.BatchesAhead())
	}
	f := fetch.Fetcher{Store: m, Registry: reg, Batch: 1}
	refs := []string{"Patient/1", "Patient/2", "Patient/3", "Patient/4", "Patient/5", "Patient/6"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a sequential InEach would wait here
	defer cancel()
	var got []string
	err := f.InEach(ctx, "Coverage", "beneficiary", refs, nil, func(v *storage.Version) error {
		got = append(got, v.ID)
		return nil
	})
	if err != nil || strings.Join(got, ",") != "1,2,3,4,5,6" {
		t.Fatalf("InEach ahead: %v %v", got, err)
	}
	if most := store.most.Load(); most != 2 {
		t.Errorf("at most %d searches at a time, want 2", most)
	}
	boom := errors.New("boom")
	calls := 0
	err = f.InEach(context.Background(), "Coverage", "beneficiary", []string{"Patient/7", "Patient/8", "Patient/9", "Patient/10"}, nil, func(*storage.Version) error {
		calls++
		return boom
	})
	if !errors.Is(err, boom) || calls != 1 {
		t.Errorf("after an error: %v, %d calls", err, calls)
	}
	if n := store.inflight.Load(); n != 0 {
		t.Errorf("%d searches still under way after InEach returned", n)
	}
}
