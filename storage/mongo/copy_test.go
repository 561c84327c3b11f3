package mongo_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/mongo/mongotest"
	"github.com/careflow/careflow/storage/storagetest"
)

var importFamily = &search.Param{Code: "family", Type: search.TypeString, Field: "s_family"}

// feedOf lists the type history of Patient as "id/vid" → times listed.
func feedOf(t *testing.T, s storage.Store) map[string]int {
	t.Helper()
	out := map[string]int{}
	q := storage.HistoryQuery{Type: "Patient", Count: 3}
	for {
		page, err := s.History(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Versions {
			out[fmt.Sprintf("%s/%d", v.ID, v.VersionID)]++
		}
		if page.Next == "" {
			return out
		}
		q.After = page.Next
	}
}

// TestImport: an import replaces whatever the store held for the resource with exactly the versions given,
// settled and visible — in reads, instance history, the change feed and searches — also over what an
// import interrupted part-way left behind.
func TestImport(t *testing.T) {
	s := mongotest.Open(t, storagetest.Types, nil)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, _, err := s.Update(ctx, storage.Write{Type: "Patient", ID: "p", Body: []byte(`{"resourceType":"Patient"}`),
			Index: map[string]any{importFamily.Field: []string{"local"}}}, storage.Precondition{}); err != nil {
			t.Fatal(err)
		}
	}
	family := func(f string) []string {
		q := &search.Query{Type: "Patient", Criteria: []search.Criterion{{Param: importFamily, Values: []search.Value{{Text: f}}}}, Count: 100, CountSet: true}
		page, err := s.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{}
		for _, v := range page.Versions {
			ids = append(ids, v.ID)
		}
		return ids
	}

	gone := storagetest.ImportedHistory("p", 2, true)
	if err := s.ImportResource(ctx, "Patient", "p", gone, nil); err != nil {
		t.Fatal(err)
	}
	if got := storagetest.OldestFirst(t, s, "Patient", "p"); !reflect.DeepEqual(got, gone) {
		t.Errorf("history after importing a deletion: %v", got)
	}
	var g *storage.GoneError
	if _, err := s.Read(ctx, "Patient", "p"); !errors.As(err, &g) || g.Deleted.VersionID != 2 {
		t.Errorf("read of an imported deletion: %v", err)
	}
	if _, err := s.VRead(ctx, "Patient", "p", 3); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("vread of a replaced version: %v", err)
	}
	if ids := family("local"); len(ids) != 0 {
		t.Errorf("search values of the replaced version remain: %v", ids)
	}
	if f := feedOf(t, s); !reflect.DeepEqual(f, map[string]int{"p/1": 1, "p/2": 1}) {
		t.Errorf("feed after importing a deletion: %v", f)
	}

	alive := storagetest.ImportedHistory("p", 4, false)
	if err := s.ImportResource(ctx, "Patient", "p", alive, map[string]any{importFamily.Field: []string{"old4"}}); err != nil {
		t.Fatal(err)
	}
	if got := storagetest.OldestFirst(t, s, "Patient", "p"); !reflect.DeepEqual(got, alive) {
		t.Errorf("history after importing 4 versions: %v", got)
	}
	if ids := family("old4"); !reflect.DeepEqual(ids, []string{"p"}) {
		t.Errorf("search after the import: %v", ids)
	}
	for _, v := range alive {
		if got, err := s.VRead(ctx, "Patient", "p", v.VersionID); err != nil || !reflect.DeepEqual(got, v) {
			t.Errorf("vread %d: %v %v", v.VersionID, got, err)
		}
	}

	// A resource with only a version 1 is its current-version document alone, as Create leaves it; the
	// store goes on from it.
	one := storagetest.ImportedHistory("one", 1, false)
	if err := s.ImportResource(ctx, "Patient", "one", one, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Database().Collection("history").CountDocuments(ctx, bson.D{{Key: "rid", Value: "one"}}); err != nil || n != 0 {
		t.Errorf("history documents of a version 1 alone: %d %v", n, err)
	}
	v, _, err := s.Update(ctx, storage.Write{Type: "Patient", ID: "one", Body: []byte(`{"resourceType":"Patient"}`)}, storage.Precondition{VersionID: 1})
	if err != nil || v.VersionID != 2 || !v.LastUpdated.After(one[0].LastUpdated) {
		t.Errorf("update after the import: %v %v", v, err)
	}

	// An import interrupted after it stored the history documents, before the current-version document
	// (and stray documents of versions the source does not have).
	hist := s.Database().Collection("history")
	for _, vid := range []int64{1, 2, 7} {
		doc := bson.D{{Key: "_id", Value: fmt.Sprintf("Patient/q/%d", vid)}, {Key: "t", Value: "Patient"}, {Key: "rid", Value: "q"},
			{Key: "vid", Value: vid}, {Key: "lu", Value: bson.NewDateTimeFromTime(time.Now())}, {Key: "vis", Value: bson.NewDateTimeFromTime(time.Now())},
			{Key: "del", Value: false}, {Key: "m", Value: "PUT"}, {Key: "raw", Value: `{"resourceType":"Patient","half":true}`}}
		if _, err := hist.InsertOne(ctx, doc); err != nil {
			t.Fatal(err)
		}
	}
	q := storagetest.ImportedHistory("q", 2, false)
	if err := s.ImportResource(ctx, "Patient", "q", q, nil); err != nil {
		t.Fatal(err)
	}
	if got := storagetest.OldestFirst(t, s, "Patient", "q"); !reflect.DeepEqual(got, q) {
		t.Errorf("history after importing over a half import: %v", got)
	}
	if f := feedOf(t, s); !reflect.DeepEqual(f, map[string]int{"p/1": 1, "p/2": 1, "p/3": 1, "p/4": 1, "one/1": 1, "one/2": 1, "q/1": 1, "q/2": 1}) {
		t.Errorf("feed: %v", f)
	}

	obs := storagetest.ImportedHistory("o", 1, false)
	obs[0].Type = "Observation"
	if err := s.ImportResource(ctx, "Observation", "o", obs, nil); err == nil || errors.Is(err, storage.ErrBadImport) {
		t.Errorf("import of a type the store does not hold: %v", err)
	}
	if err := s.ImportResource(ctx, "Patient", "p", []*storage.Version{alive[1], alive[0]}, nil); !errors.Is(err, storage.ErrBadImport) {
		t.Errorf("versions out of order: %v", err)
	}
}
