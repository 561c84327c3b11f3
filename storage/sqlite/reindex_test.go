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
		return searchIDs(t, s, reg, "Observation", raw, false)
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
	downgrade(t, path,
		"DELETE FROM srt WHERE f IN (SELECT fid FROM fields WHERE name LIKE 's_value-quantity%' OR name LIKE 's_combo-value-quantity%')",
		"DROP TABLE ixq", "PRAGMA user_version = 3")
	plain, logs := openCopyWithoutReindex(t, path, filepath.Join(dir, "v3-plain.db"))
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

// TestUpgradeFromSchema4Reindexes: a file of schema version 4 (no composite or near values) gains them
// when opened: with Options.Reindex the resources stored before are found by composite and near searches
// at once, with the answers of a file written with them; without it they are not (until rewritten), and
// the store says so.
func TestUpgradeFromSchema4Reindexes(t *testing.T) {
	reg := r4test.Load(t).Registry
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "v4.db")
	s, err := Open(ctx, Options{Path: path, Logger: slog.New(slog.DiscardHandler), Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string]string{
		"Observation/bp1": `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},"component":[` +
			`{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":140,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}},` +
			`{"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":90,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}`,
		"Observation/bp2": `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},"component":[` +
			`{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":120,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}},` +
			`{"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":140,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}`,
		"Observation/abo": `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"883-9"}]},"valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"112144000"}]}}`,
		"Location/a2":     `{"resourceType":"Location","name":"Ann Arbor","position":{"latitude":42.2808,"longitude":-83.743}}`,
		"Location/det":    `{"resourceType":"Location","name":"Detroit","position":{"latitude":42.3314,"longitude":-83.0458}}`,
	}
	for key, body := range bodies {
		typ, id, _ := strings.Cut(key, "/")
		idx, err := reg.IndexBody(typ, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, storage.Write{Type: typ, ID: id, Body: []byte(body), Index: idx}); err != nil {
			t.Fatal(err)
		}
	}
	find := func(s *Store, typ, raw string) string {
		t.Helper()
		return searchIDs(t, s, reg, typ, raw, true)
	}
	queries := []struct{ typ, q, want string }{
		{"Observation", "component-code-value-quantity=" + url.QueryEscape("http://loinc.org|8480-6$gt130|http://unitsofmeasure.org|mm[Hg]"), "bp1"},
		{"Observation", "component-code-value-quantity=" + url.QueryEscape("8462-4$ge140"), "bp2"},
		{"Observation", "code-value-concept=" + url.QueryEscape("883-9$112144000"), "abo"},
		{"Location", "near=" + url.QueryEscape("42.2808|-83.743|60|km"), "a2 det"},
		{"Location", "near=" + url.QueryEscape("42.2808|-83.743|10|km"), "a2"},
	}
	for _, q := range queries {
		if got := find(s, q.typ, q.q); got != q.want {
			t.Fatalf("as written, %s?%s: %q, want %q", q.typ, q.q, got, q.want)
		}
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Back to schema 4: no composite keys, no composite or near rows in ixq.
	downgrade(t, path,
		"DELETE FROM ixk WHERE instr(v, char(31)) > 0",
		"DELETE FROM ixq WHERE instr(u, char(31)) > 0 OR f IN (SELECT fid FROM fields WHERE name = 's_near')",
		"PRAGMA user_version = 4")
	plain, logs := openCopyWithoutReindex(t, path, filepath.Join(dir, "v4-plain.db"))
	for _, q := range queries {
		if got := find(plain, q.typ, q.q); got != "" {
			t.Errorf("without Reindex, %s?%s found %q", q.typ, q.q, got)
		}
	}
	if !strings.Contains(logs.String(), "once rewritten") {
		t.Errorf("without Reindex: log %q", logs.String())
	}
	plain.Close(ctx)

	s, err = Open(ctx, Options{Path: path, Logger: slog.New(slog.DiscardHandler), Synchronous: "normal", Reindex: reg.IndexBody})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	for _, q := range queries {
		if got := find(s, q.typ, q.q); got != q.want {
			t.Errorf("after the upgrade with Reindex, %s?%s: %q, want %q", q.typ, q.q, got, q.want)
		}
	}
}

// searchIDs runs the search typ?raw (strict handling or lenient) on s and returns the ids found, in order,
// space-separated.
func searchIDs(t *testing.T, s *Store, reg *search.Registry, typ, raw string, strict bool) string {
	t.Helper()
	params, _ := url.ParseQuery(raw)
	q, oerr := reg.Parse(typ, params, search.ParseOptions{DefaultCount: 50, Strict: strict})
	if oerr != nil {
		t.Fatal(oerr)
	}
	page, err := s.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range page.Versions {
		got = append(got, v.ID)
	}
	return strings.Join(got, " ")
}

// downgrade runs statements on the closed data file at path, turning it back into an earlier schema (one
// before version 6: string values in two rows, splitStringKeys).
func downgrade(t *testing.T, path string, statements ...string) {
	t.Helper()
	db, err := openDB(path, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	publicTokenRows(t, db) // version 8
	splitStringKeys(t, db, r4test.Load(t).Registry)
	if _, err := db.Exec("DROP TABLE walked"); err != nil { // version 7
		t.Fatal(err)
	}
	for _, stmt := range statements {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

// openCopyWithoutReindex copies the data file at path to copyPath and opens the copy without
// Options.Reindex, returning the store and what it logs.
func openCopyWithoutReindex(t *testing.T, path, copyPath string) (*Store, *strings.Builder) {
	t.Helper()
	copyFile(t, path, copyPath)
	logs := &strings.Builder{}
	s, err := Open(context.Background(), Options{Path: copyPath, Logger: slog.New(slog.NewTextHandler(logs, nil)), Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	return s, logs
}
