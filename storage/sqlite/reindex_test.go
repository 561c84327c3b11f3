package sqlite

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// TestUpgradeFromSchema3Reindexes: a file of schema version 3 (no number and quantity index) gains ixq
// when opened, and with Options.Reindex the resources stored before are found by quantity searches and
// sorted by quantity at once; without it they are not (until rewritten), and the store says so.
func TestUpgradeFromSchema3Reindexes(t *testing.T) {
	reg := r4test.Load(t).Registry
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "v3.db")
	s, err := Open(ctx, Options{Path: path, Logger: slog.New(slog.DiscardHandler), Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []string{"4.2", "7.5", "5400"} {
		unit := "mmol/L"
		if i == 2 {
			unit = "umol/L" // 5400 µmol/L = 5.4 mmol/L
		}
		body := fmt.Sprintf(`{"resourceType":"Observation","status":"final","code":{"text":"glucose"},"valueQuantity":{"value":%s,"system":"http://unitsofmeasure.org","code":"%s"}}`, v, unit)
		idx, err := reg.IndexBody("Observation", []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, storage.Write{Type: "Observation", ID: fmt.Sprintf("o%d", i), Body: []byte(body), Index: idx}); err != nil {
			t.Fatal(err)
		}
	}
	find := func(s *Store, raw string) string {
		t.Helper()
		params, _ := url.ParseQuery(raw)
		q, oerr := reg.Parse("Observation", params, search.ParseOptions{DefaultCount: 50})
		if oerr != nil {
			t.Fatal(oerr)
		}
		page, err := s.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, v := range page.Versions {
			got = append(got, v.ID)
		}
		return strings.Join(got, " ")
	}
	queries := []string{
		"value-quantity=gt5|http://unitsofmeasure.org|mmol/L",
		"value-quantity=5.4|http://unitsofmeasure.org|mmol/L",
		"value-quantity=lt5000|http://unitsofmeasure.org|umol/L",
		"status=final&_sort=value-quantity",
		"value-quantity:missing=false&_sort=-value-quantity&_count=2",
	}
	before := map[string]string{}
	for _, q := range queries {
		before[q] = find(s, q)
	}
	if before[queries[0]] != "o1 o2" || before[queries[1]] != "o2" {
		t.Fatalf("as written: %v", before)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Back to schema 3: the number and quantity index and its sort keys did not exist.
	db, err := openDB(path, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"DELETE FROM srt WHERE f IN (SELECT fid FROM fields WHERE name LIKE 's_value-quantity%' OR name LIKE 's_combo-value-quantity%')",
		"DROP TABLE ixq", "PRAGMA user_version = 3"} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	db.Close()
	copyFile(t, path, filepath.Join(dir, "v3-plain.db"))

	var logs strings.Builder
	plain, err := Open(ctx, Options{Path: filepath.Join(dir, "v3-plain.db"), Logger: slog.New(slog.NewTextHandler(&logs, nil)), Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	if got := find(plain, queries[0]); got != "" || !strings.Contains(logs.String(), "once rewritten") {
		t.Errorf("without Reindex: %q found, log %q", got, logs.String())
	}
	plain.Close(ctx)

	s, err = Open(ctx, Options{Path: path, Logger: slog.New(slog.DiscardHandler), Synchronous: "normal", Reindex: reg.IndexBody})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	for _, q := range queries {
		if got := find(s, q); got != before[q] {
			t.Errorf("after the upgrade with Reindex, %s: %q, want %q as before", q, got, before[q])
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
