package mongo_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/mongo/mongotest"
)

// TestDistinct: the distinct values of an index field over current, non-deleted resources only.
func TestDistinct(t *testing.T) {
	ctx := context.Background()
	s := mongotest.Open(t, []string{"Patient", "Appointment"}, nil)
	write := func(id string, tags ...string) {
		t.Helper()
		w := storage.Write{Type: "Patient", ID: id, Body: []byte(`{"resourceType":"Patient"}`), Index: map[string]any{}}
		if len(tags) > 0 {
			w.Index["s__tag"] = tags
		}
		switch id {
		case "a", "b":
			w.Index["s__profile"] = []string{"http://p/" + map[string]string{"a": "1", "b": "2"}[id]}
		case "c":
			w.Index["s__profile"] = []string{"http://p/1"} // same profile, no tag: a second combination
		}
		if _, _, err := s.Update(ctx, w, storage.Precondition{}); err != nil {
			t.Fatal(err)
		}
	}
	write("a", "s:x|1", "c:1")
	write("b", "s:x|2", "c:2", "c:1")
	write("c")
	write("d", "s:gone|9")
	if _, err := s.Delete(ctx, "Patient", "d", storage.Precondition{}); err != nil {
		t.Fatal(err)
	}
	// An old version's values are not in use any more.
	write("e", "s:old|0")
	write("e", "s:x|3")

	got, err := s.Distinct(ctx, "Patient", "s__tag", "s__profile", "s_gender")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"c:1", "c:2", "s:x|1", "s:x|2", "s:x|3"}; !slices.Equal(got["s__tag"], want) {
		t.Errorf("distinct _tag = %q, want %q", got["s__tag"], want)
	}
	if want := []string{"http://p/1", "http://p/2"}; !slices.Equal(got["s__profile"], want) {
		t.Errorf("distinct _profile = %q, want %q", got["s__profile"], want)
	}
	if v, ok := got["s_gender"]; !ok || len(v) != 0 {
		t.Errorf("a field no resource holds: %q, present %v", v, ok)
	}
	if got, err := s.Distinct(ctx, "Appointment", "s__tag"); err != nil || len(got["s__tag"]) != 0 {
		t.Errorf("empty collection: %q, %v", got, err)
	}
	if _, err := s.Distinct(ctx, "Observation", "s__tag"); err == nil {
		t.Error("distinct on a type the store does not hold succeeded")
	}
	if _, err := s.Distinct(ctx, "Patient", "raw"); err == nil {
		t.Error("distinct on a field that is not a search-index field succeeded")
	}
}

// BenchmarkDistinct times the three $meta fields over 2,000 current resources (a tenth of them tagged).
func BenchmarkDistinct(b *testing.B) {
	ctx := context.Background()
	s := mongotest.Open(b, []string{"Patient"}, nil)
	for i := range 2000 {
		w := storage.Write{Type: "Patient", Body: []byte(`{"resourceType":"Patient"}`), Index: map[string]any{"s_gender": []string{"c:female"}}}
		if i%10 == 0 {
			w.Index["s__tag"] = []string{fmt.Sprintf("s:urn:t|%d", i%37), fmt.Sprintf("c:%d", i%37)}
		}
		if _, err := s.Create(ctx, w); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Distinct(ctx, "Patient", "s__tag", "s__security", "s__profile"); err != nil {
			b.Fatal(err)
		}
	}
}
