package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/storage"
)

// TestCompact: after deletions free index pages, Compact gives them back (no free page left, a smaller
// file), and the store opens on the compacted file with everything it held: live resources, the history
// of deleted ones, searches. A file in use is refused, and so is a path without a data file.
func TestCompact(t *testing.T) {
	reg := r4test.Load(t).Registry
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "careflow.db")
	s := openAt(t, path)
	for i := range 400 {
		createPatient(t, s, reg, fmt.Sprintf("p%03d", i), map[string]any{
			"name":       []any{map[string]any{"family": fmt.Sprintf("Family%03d", i), "given": []any{"Given"}}},
			"identifier": []any{map[string]any{"system": "urn:mrn", "value": fmt.Sprintf("MRN%06d", i)}},
			"telecom":    []any{map[string]any{"system": "phone", "value": fmt.Sprintf("555-%04d", i)}},
		})
	}
	for i := range 350 {
		if _, err := s.Delete(ctx, "Patient", fmt.Sprintf("p%03d", i), storage.Precondition{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := Compact(ctx, path); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("Compact of a file in use: %v, want refused", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	free := func() int {
		db, err := openDB(path, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRow("PRAGMA freelist_count").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if free() == 0 {
		t.Fatal("the deletions freed no page: nothing to compact")
	}
	before, after, err := Compact(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if after >= before || free() != 0 {
		t.Errorf("compacted %d → %d bytes with %d free pages left", before, after, free())
	}
	if st, err := os.Stat(path); err != nil || st.Size() != after {
		t.Errorf("file size %v (%v), Compact said %d", st.Size(), err, after)
	}
	s = openAt(t, path)
	defer s.Close(ctx)
	if v, err := s.Read(ctx, "Patient", "p399"); err != nil || v.Deleted {
		t.Errorf("a live patient after Compact: %v, %v", v, err)
	}
	h, err := s.History(ctx, storage.HistoryQuery{Type: "Patient", ID: "p000", Count: 10})
	if err != nil || len(h.Versions) != 2 {
		t.Errorf("a deleted patient's history after Compact: %v, %v", h, err)
	}
	if got := searchIDs(t, s, reg, "Patient", "identifier=urn:mrn|MRN000399", true); got != "p399" {
		t.Errorf("search after Compact: %q", got)
	}
	if got := searchIDs(t, s, reg, "Patient", "identifier=urn:mrn|MRN000001", true); got != "" {
		t.Errorf("a deleted patient found after Compact: %q", got)
	}
	if _, _, err := Compact(ctx, filepath.Join(dir, "missing.db")); err == nil || !strings.Contains(err.Error(), "no data file") {
		t.Errorf("Compact of a missing file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); err == nil {
		t.Error("Compact created a data file")
	}
}
