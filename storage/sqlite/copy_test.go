package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
	"github.com/careflow/careflow/storage/storagetest"
)

func familyIndex(f string) map[string]any { return map[string]any{familyParam.Field: []string{f}} }

func searchFamily(t *testing.T, s storage.Store, family string) []string {
	t.Helper()
	q := &search.Query{Type: "Patient", Criteria: []search.Criterion{{Param: familyParam, Values: []search.Value{{Text: family}}}}, Count: 100, CountSet: true}
	page, err := s.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, v := range page.Versions {
		ids = append(ids, v.ID)
	}
	return ids
}

// TestImportReplaces: an import replaces whatever the store held for the resource — versions, current
// version, search values — with exactly the versions given.
func TestImportReplaces(t *testing.T) {
	s := sqlitetest.Open(t)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, _, err := s.Update(ctx, patient("p", "local"), storage.Precondition{}); err != nil {
			t.Fatal(err)
		}
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
	if ids := searchFamily(t, s, "local"); len(ids) != 0 {
		t.Errorf("search values of the replaced version remain: %v", ids)
	}

	alive := storagetest.ImportedHistory("p", 4, false)
	if err := s.ImportResource(ctx, "Patient", "p", alive, familyIndex("old4")); err != nil {
		t.Fatal(err)
	}
	if got := storagetest.OldestFirst(t, s, "Patient", "p"); !reflect.DeepEqual(got, alive) {
		t.Errorf("history after importing 4 versions: %v", got)
	}
	if ids := searchFamily(t, s, "old4"); !reflect.DeepEqual(ids, []string{"p"}) {
		t.Errorf("search after the import: %v", ids)
	}
	// The store goes on from the imported versions.
	v, _, err := s.Update(ctx, patient("p", "next"), storage.Precondition{VersionID: 4})
	if err != nil || v.VersionID != 5 || !v.LastUpdated.After(alive[3].LastUpdated) {
		t.Errorf("update after the import: %v %v", v, err)
	}

	for name, bad := range map[string][]*storage.Version{
		"none":                {},
		"decreasing":          {alive[1], alive[0]},
		"deletion with body":  {{VersionID: 1, LastUpdated: time.Now(), Deleted: true, Body: []byte("{}")}},
		"version without one": {{VersionID: 1, LastUpdated: time.Now()}},
		"other resource":      {{Type: "Patient", ID: "q", VersionID: 1, LastUpdated: time.Now(), Body: []byte("{}")}},
	} {
		if err := s.ImportResource(ctx, "Patient", "p", bad, nil); !errors.Is(err, storage.ErrBadImport) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := s.ImportResource(ctx, "Patient", "p", gone, familyIndex("x")); !errors.Is(err, storage.ErrBadImport) {
		t.Errorf("search values for a deletion: %v", err)
	}
}

// TestImportFeedExact: imports running among ordinary writes keep the change feed exact — a client
// following it receives every version, imported or written, exactly once — although the imported
// versions keep a lastUpdated long past: the feed lists them by the time of the import.
func TestImportFeedExact(t *testing.T) {
	s := sqlitetest.Open(t)
	ctx := context.Background()
	var mu sync.Mutex
	written := map[string]bool{}
	note := func(id string, vid int64) {
		mu.Lock()
		written[fmt.Sprintf("%s/%d", id, vid)] = true
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Go(func() {
			for i := 0; i < 50; i++ {
				v, _, err := s.Update(ctx, patient(fmt.Sprintf("w%d-%d", w, i%7), "f"), storage.Precondition{})
				if err != nil {
					t.Error(err)
					return
				}
				note(v.ID, v.VersionID)
			}
		})
		wg.Go(func() {
			for i := 0; i < 30; i++ {
				id := fmt.Sprintf("i%d-%d", w, i)
				vs := storagetest.ImportedHistory(id, 1+i%4, i%5 == 4)
				var index map[string]any
				if !vs[len(vs)-1].Deleted {
					index = familyIndex("imp")
				}
				if err := s.ImportResource(ctx, "Patient", id, vs, index); err != nil {
					t.Error(err)
					return
				}
				for _, v := range vs {
					note(id, v.VersionID)
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	seen, _ := followFeed(t, s, "Patient", 9, done)
	exactlyOnce(t, written, seen)
	if len(written) < 150+90 {
		t.Errorf("only %d versions written", len(written))
	}
}
