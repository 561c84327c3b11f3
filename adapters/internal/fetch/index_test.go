package fetch_test

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/adapters/internal/fetch"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/guard"
)

// searchOnly is a store that only searches (as the MongoDB store: no index answers).
type searchOnly struct{ s fetch.Searcher }

func (s searchOnly) Search(ctx context.Context, q *search.Query) (*storage.SearchPage, error) {
	return s.s.Search(ctx, q)
}

// batchedNoIndex is a store with a search batch size and no index-only searches.
type batchedNoIndex struct{ storage.Store }

func (batchedNoIndex) SearchBatch() int { return 100 }

type indexStore interface {
	fetch.Searcher
	SearchIndex(ctx context.Context, q *search.Query, fields []string, fn func(id string, field int, key string, lo, hi int64) error) error
}

// batchOf is the embedded store with batches of n values.
type batchOf struct {
	indexStore
	n int
}

func (b batchOf) SearchBatch() int { return b.n }

func TestIndexIn(t *testing.T) {
	e := adaptertest.New(t)
	appt := func(id, status, start, infos string) {
		if start != "" {
			start = fmt.Sprintf(`"start":%q,"end":"2026-12-31T00:00:00Z",`, start)
		}
		e.Put("Appointment", id, fmt.Sprintf(`{"status":%q,%s"participant":[{"actor":{"reference":"Patient/x"},"status":"accepted"}],"supportingInformation":[%s]}`,
			status, start, infos))
	}
	appt("a1", "booked", "2026-11-25T10:00:00Z", `{"reference":"CarePlan/p2"},{"reference":"CarePlan/p1"},{"reference":"Patient/x"}`)
	appt("a2", "booked", "2026-11-26T09:30:00.5+01:00", `{"reference":"CarePlan/p2/_history/3"}`)
	appt("a3", "cancelled", "2026-11-25T10:00:00Z", `{"reference":"CarePlan/p1"}`)
	appt("a4", "proposed", "", `{"reference":"CarePlan/p1"}`)
	appt("a5", "booked", "2026-11-25T10:00:00Z", `{"reference":"CarePlan/p9"}`)
	appt("a6", "booked", "2026-11-25T10:00:00Z", `{"reference":"CarePlan/p1"}`)
	e.Delete("Appointment", "a6")

	ctx := context.Background()
	plans := []string{"CarePlan/p1", "CarePlan/p2", "CarePlan/p3", "CarePlan/p4", "CarePlan/p5", "CarePlan/p6"}
	params := url.Values{"status": {"booked,proposed"}}
	want := []*fetch.Indexed{
		{ID: "a1", Keys: [][]string{{"CarePlan/p1", "CarePlan/p2", "Patient/x"}, nil},
			Dates: [][]fetch.Range{nil, {{Lo: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC).UnixMicro(), Hi: time.Date(2026, 11, 25, 10, 0, 1, 0, time.UTC).UnixMicro()}}}},
		{ID: "a2", Keys: [][]string{{"CarePlan/p2"}, nil},
			Dates: [][]fetch.Range{nil, {{Lo: time.Date(2026, 11, 26, 8, 30, 0, 5e8, time.UTC).UnixMicro(), Hi: time.Date(2026, 11, 26, 8, 30, 0, 6e8, time.UTC).UnixMicro()}}}},
		{ID: "a4", Keys: [][]string{{"CarePlan/p1"}, nil}, Dates: [][]fetch.Range{nil, nil}},
	}
	store := e.Store.(indexStore)
	for _, c := range []struct {
		name  string
		store fetch.Searcher
	}{
		{"one search", store},
		{"batches of 2", batchOf{store, 2}},
		{"scan (more than 4 batches of 1)", batchOf{store, 1}},
		{"through a memo", fetch.NewMemo(batchOf{store, 1})},
		{"through the store guard", guard.New(e.Store.(storage.Store), guard.Options{})},
	} {
		f := fetch.Fetcher{Store: c.store, Registry: e.Registry}
		got, ok, err := f.IndexIn(ctx, "Appointment", "supporting-info", plans, params, []string{"supporting-info", "date"})
		if err != nil || !ok {
			t.Fatalf("%s: ok %t, %v", c.name, ok, err)
		}
		for i := range want {
			if i >= len(got) || !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("%s: got %d resources, at %d %+v, want %+v", c.name, len(got), i, got[min(i, len(got)-1)], want[i])
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d resources, want %d", c.name, len(got), len(want))
		}
		if start, exact := got[1].Dates[1][0].Start(); !exact || !start.Equal(time.Date(2026, 11, 26, 8, 30, 0, 5e8, time.UTC)) {
			t.Errorf("%s: a2 starts %s (exact %t)", c.name, start, exact)
		}
	}
	// A store without index answers: nothing is read, the caller reads bodies.
	f := fetch.Fetcher{Store: fetch.NewMemo(searchOnly{store}), Registry: e.Registry}
	if got, ok, err := f.IndexIn(ctx, "Appointment", "supporting-info", plans, params, []string{"date"}); ok || err != nil || got != nil {
		t.Errorf("search-only store: %v %t %v", got, ok, err)
	}
	// Through the guard over a store without index answers: the guard says so, and nothing is read.
	noIndex := guard.New(batchedNoIndex{e.Store.(storage.Store)}, guard.Options{})
	f = fetch.Fetcher{Store: fetch.NewMemo(noIndex), Registry: e.Registry}
	if got, ok, err := f.IndexIn(ctx, "Appointment", "supporting-info", plans, params, []string{"date"}); ok || err != nil || got != nil {
		t.Errorf("guarded store without index answers: %v %t %v", got, ok, err)
	}
	// A start more precise than the index's microseconds is not exact.
	if _, exact := (fetch.Range{Lo: 10, Hi: 11}).Start(); exact {
		t.Error("a 1 µs range is exact")
	}
}

// TestIndexInPopulation asks for more resources than the embedded store lets a criterion drive a search
// with (4,000): the store then answers by reading its index ranges whole (SearchIndex's scan), and IndexIn
// with a list of more than 4 batches searches without the list and filters.
func TestIndexInPopulation(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 4,200 resources")
	}
	e := adaptertest.New(t)
	base := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	statuses := []string{"booked", "fulfilled", "cancelled"}
	var rs []adaptertest.Res
	want := map[string]*fetch.Indexed{}
	var plans []string
	for i := range 4200 {
		id := fmt.Sprintf("a%04d", i)
		status := statuses[i%3]
		if i >= 50 {
			status = statuses[i%2] // 4,150 booked or fulfilled, 17 cancelled
		}
		start := base.Add(time.Duration(i-100) * time.Minute)
		plan := fmt.Sprintf("CarePlan/p%03d", i%300)
		if i%300 < 280 && (i < 10 || i%7 != 0) {
			plans = append(plans, plan)
		}
		rs = append(rs, adaptertest.Res{Type: "Appointment", ID: id, Body: fmt.Sprintf(
			`{"resourceType":"Appointment","id":%q,"status":%q,"start":%q,"end":"2027-01-01T00:00:00Z","participant":[{"actor":{"reference":"Patient/x"},"status":"accepted"}],"supportingInformation":[{"reference":%q},{"reference":"Patient/x"}]}`,
			id, status, start.Format(time.RFC3339), plan)})
		if status != "cancelled" && !start.Before(base) {
			want[id] = &fetch.Indexed{ID: id, Keys: [][]string{{plan, "Patient/x"}, nil},
				Dates: [][]fetch.Range{nil, {{Lo: start.UnixMicro(), Hi: start.Add(time.Second).UnixMicro()}}}}
		}
	}
	e.WriteAll(rs)
	for _, id := range []string{"a0200", "a0301", "a4199"} { // deleted resources are not matches
		e.Delete("Appointment", id)
		delete(want, id)
	}
	params := url.Values{"status": {"booked,fulfilled"}, "date": {"ge2026-11-25T00:00:00Z"}}
	ctx := context.Background()
	inPlans := map[string]bool{}
	for _, p := range plans {
		inPlans[p] = true
	}
	var expect []*fetch.Indexed
	for i := range 4200 {
		if w := want[fmt.Sprintf("a%04d", i)]; w != nil && inPlans[w.Keys[0][0]] {
			expect = append(expect, w)
		}
	}
	store := e.Store.(indexStore)
	for _, c := range []struct {
		name  string
		store fetch.Searcher
	}{
		{"one search of every plan", batchOf{store, 5000}},
		{"batches of 100", batchOf{store, 100}},
		{"scan (more than 4 batches of 10)", batchOf{store, 10}},
	} {
		f := fetch.Fetcher{Store: c.store, Registry: e.Registry}
		got, ok, err := f.IndexIn(ctx, "Appointment", "supporting-info", plans, params, []string{"supporting-info", "date"})
		if err != nil || !ok {
			t.Fatalf("%s: ok %t, %v", c.name, ok, err)
		}
		if !reflect.DeepEqual(got, expect) {
			t.Errorf("%s: %d resources, want %d", c.name, len(got), len(expect))
			for i := range min(len(got), len(expect)) {
				if !reflect.DeepEqual(got[i], expect[i]) {
					t.Fatalf("%s: at %d %+v, want %+v", c.name, i, got[i], expect[i])
				}
			}
		}
	}
}

// TestIndexAll: without criteria, the embedded store lists the index values of every current resource of
// the type (read whole, not per resource) — not those of a deleted one, only the current version's.
func TestIndexAll(t *testing.T) {
	e := adaptertest.New(t)
	appt := func(id, status, start, infos string) {
		if start != "" {
			start = fmt.Sprintf(`"start":%q,"end":"2026-12-31T00:00:00Z",`, start)
		}
		e.Put("Appointment", id, fmt.Sprintf(`{"status":%q,%s"participant":[{"actor":{"reference":"Patient/x"},"status":"accepted"}],"supportingInformation":[%s]}`,
			status, start, infos))
	}
	appt("a1", "booked", "2026-11-25T10:00:00Z", `{"reference":"CarePlan/p2"},{"reference":"CarePlan/p1"}`)
	appt("a2", "cancelled", "", `{"reference":"CarePlan/p2"}`)
	appt("a3", "booked", "2026-11-25T10:00:00Z", `{"reference":"CarePlan/p3"}`)
	appt("a3", "booked", "", `{"reference":"CarePlan/p4"}`)
	appt("a4", "booked", "2026-11-25T10:00:00Z", `{"reference":"CarePlan/p1"}`)
	e.Delete("Appointment", "a4")
	e.Put("CarePlan", "p1", `{"status":"active","intent":"plan","subject":{"reference":"Patient/x"}}`)

	f := fetch.Fetcher{Store: e.Store.(indexStore), Registry: e.Registry}
	got, ok, err := f.IndexAll(context.Background(), "Appointment", nil, []string{"supporting-info", "date"})
	if err != nil || !ok {
		t.Fatalf("ok %t, %v", ok, err)
	}
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC).UnixMicro()
	want := []*fetch.Indexed{
		{ID: "a1", Keys: [][]string{{"CarePlan/p1", "CarePlan/p2"}, nil}, Dates: [][]fetch.Range{nil, {{Lo: start, Hi: start + 1e6}}}},
		{ID: "a2", Keys: [][]string{{"CarePlan/p2"}, nil}, Dates: [][]fetch.Range{nil, nil}},
		{ID: "a3", Keys: [][]string{{"CarePlan/p4"}, nil}, Dates: [][]fetch.Range{nil, nil}},
	}
	if !reflect.DeepEqual(got, want) {
		for _, r := range got {
			t.Logf("got %+v", *r)
		}
		t.Errorf("IndexAll: %d resources, want %d", len(got), len(want))
	}
}
