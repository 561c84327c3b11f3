package sqlite

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
)

// walkAll makes every sort field of s walked, as if searches had sorted on each.
func walkAll(t *testing.T, s *Store) {
	t.Helper()
	rows, err := s.read.Query("SELECT fid FROM fields WHERE name LIKE '%\\_sort' ESCAPE '\\'")
	if err != nil {
		t.Fatal(err)
	}
	var fids []int64
	for rows.Next() {
		var f int64
		if err := rows.Scan(&f); err != nil {
			t.Fatal(err)
		}
		fids = append(fids, f)
	}
	rows.Close()
	for _, f := range fids {
		if err := s.w.do(context.Background(), func(t *wtx) error { return t.enableWalk(f) }); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWalkedOnFirstSort: sort keys are stored out of srt_walk until a search sorts on their field; that
// search sorts its matches (same answer), and makes the field walked: its stored keys and the ones written
// after are in srt_walk, and the next searches walk. Fields nobody sorted on stay out. Reopening keeps the
// walked fields.
func TestWalkedOnFirstSort(t *testing.T) {
	reg := r4test.Load(t).Registry
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "walked.db")
	s, err := Open(ctx, Options{Path: path, Logger: slog.New(slog.DiscardHandler), Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		createPatient(t, s, reg, fmt.Sprintf("p%02d", i), map[string]any{"birthDate": fmt.Sprintf("19%02d-01-01", 90-i),
			"name": []any{map[string]any{"family": fmt.Sprintf("f%02d", i)}}})
	}
	marked := func(field string) (in, out int) {
		t.Helper()
		if err := s.read.QueryRow(`SELECT count(*) FILTER (WHERE w), count(*) FILTER (WHERE w IS NULL) FROM srt
			WHERE f = (SELECT fid FROM fields WHERE name = ?)`, field).Scan(&in, &out); err != nil {
			t.Fatal(err)
		}
		return in, out
	}
	if in, out := marked("s_birthdate_sort"); in != 0 || out != 30 {
		t.Fatalf("before any sort: %d birthdate keys in the walk, %d out; want 0, 30", in, out)
	}
	want := "p29 p28 p27 p26 p25"
	// sorted plans the search (whether it walks: planning it is what asks for the walk, which the writer
	// grants asynchronously), then runs it (walked or sorted, the same answer).
	sorted := func(s *Store) (ids string, walkedPage bool) {
		t.Helper()
		q, _ := reg.Parse("Patient", map[string][]string{"_sort": {"birthdate"}, "_count": {"5"}}, search.ParseOptions{DefaultCount: 50, Strict: true})
		tx, _, err := s.readTx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st, err := s.statements(ctx, cachedTx{tx: tx, cache: s.search}, q)
		_ = tx.Rollback()
		if err != nil {
			t.Fatal(err)
		}
		return searchIDs(t, s, reg, "Patient", "_sort=birthdate&_count=5", true), st.walk != ""
	}
	if ids, walked := sorted(s); ids != want || walked {
		t.Fatalf("first sort: %q (walked %v), want %q sorted, not walked", ids, walked, want)
	}
	s.walks.Wait()
	createPatient(t, s, reg, "p30", map[string]any{"birthDate": "1950-06-01"})
	if in, out := marked("s_birthdate_sort"); in != 31 || out != 0 {
		t.Errorf("after the first sort and a create: %d birthdate keys in the walk, %d out; want 31, 0", in, out)
	}
	if in, out := marked("s_family_sort"); in != 0 || out != 30 {
		t.Errorf("family, never sorted on: %d keys in the walk, %d out; want 0, 30", in, out)
	}
	want = "p30 p29 p28 p27 p26"
	if ids, walked := sorted(s); ids != want || !walked {
		t.Errorf("after: %q (walked %v), want %q walked", ids, walked, want)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, Options{Path: path, Logger: slog.New(slog.DiscardHandler), Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if _, walked := sorted(s); !walked {
		t.Error("reopened: the walked field is not walked")
	}
}
