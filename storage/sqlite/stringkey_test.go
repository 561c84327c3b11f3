package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// TestStringKeys: a string parameter's values are one ixk row each (stringKey: the normalised text, then
// a NUL and the exact text when they differ), and the three ways of searching strings read them right:
// a prefix of the normalised text, :exact on the whole exact text (case and accents count), :contains
// anywhere in the normalised text; the rows of the exact values (f_e) are not stored.
func TestStringKeys(t *testing.T) {
	reg := r4test.Load(t).Registry
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(t.TempDir(), "str.db"), Logger: slog.New(slog.DiscardHandler), Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	for id, family := range map[string]string{"lopez": "López", "lopez2": "Lopez", "lower": "lopez", "smith": "Smith", "smithers": "Smithers", "space": "van  der Berg"} {
		createPatient(t, s, reg, id, map[string]any{"name": []any{map[string]any{"family": family}}})
	}
	var rows, exactRows int
	if err := s.read.QueryRow(`SELECT count(*), count(*) FILTER (WHERE f IN (SELECT fid FROM fields WHERE name LIKE '%\_e' ESCAPE '\')) FROM ixk`).Scan(&rows, &exactRows); err != nil {
		t.Fatal(err)
	}
	if exactRows != 0 {
		t.Errorf("%d rows of exact-value fields (of %d): want none", exactRows, rows)
	}
	for q, want := range map[string]string{
		"family=lop":                 "lopez lopez2 lower",
		"family=LÓP":                 "lopez lopez2 lower",
		"family=lopez":               "lopez lopez2 lower",
		"family=lopeza":              "",
		"family=smith":               "smith smithers",
		"family=van der":             "space",
		"family:exact=López":         "lopez",
		"family:exact=Lopez":         "lopez2",
		"family:exact=lopez":         "lower",
		"family:exact=LOPEZ":         "",
		"family:exact=Smith":         "smith",
		"family:exact=van  der Berg": "space",
		"family:exact=van der Berg":  "",
		"family:contains=pez":        "lopez lopez2 lower",
		"family:contains=ÓP":         "lopez lopez2 lower",
		"family:contains=ither":      "smithers",
		"family:contains=r b":        "space",
		"name=smi":                   "smith smithers",
		"family:exact=López,Smith":   "lopez smith",
	} {
		if got := searchIDs(t, s, reg, "Patient", q+"&_sort=_id", false); got != want {
			t.Errorf("%q: %q, want %q", q, got, want)
		}
	}
}

func createPatient(t *testing.T, s *Store, reg *search.Registry, id string, body map[string]any) {
	t.Helper()
	body["resourceType"] = "Patient"
	raw, _ := json.Marshal(body)
	idx, err := reg.Index("Patient", body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(context.Background(), storage.Write{Type: "Patient", ID: id, Body: raw, Index: idx}); err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeFromSchema5MergesStringKeys: a file of schema version 5 (string values in two rows, f and
// f_e) is rewritten when opened to the rows a version 6 write stores, and searches answer as before.
func TestUpgradeFromSchema5MergesStringKeys(t *testing.T) {
	reg := r4test.Load(t).Registry
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v5.db")
	s, err := Open(ctx, Options{Path: path, Logger: slog.New(slog.DiscardHandler), Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []struct{ family, given, city string }{{"López", "María José", "Málaga"}, {"lopez", "Ann", "boston"}, {"Nguyễn", "Văn", "Hà Nội"}} {
		createPatient(t, s, reg, fmt.Sprintf("p%d", i), map[string]any{
			"name":    []any{map[string]any{"family": n.family, "given": []any{n.given}}},
			"address": []any{map[string]any{"city": n.city, "country": "ES"}},
		})
	}
	queries := []string{"family=lop", "family:exact=López", "family:exact=lopez", "given:contains=jos", "address-city:exact=Hà Nội",
		"address=es", "address:exact=ES", "name=nguyen", "name:exact=Văn", "_sort=-family"}
	answers := func(s *Store) string {
		var b strings.Builder
		for _, q := range queries {
			fmt.Fprintf(&b, "%s: %s\n", q, searchIDs(t, s, reg, "Patient", q, false))
		}
		return b.String()
	}
	written := answers(s)
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := openDB(path, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	publicTokenRows(t, db) // as version 5 stored token keys, which the upgrade keeps
	rows := ixkRows(t, db)
	splitStringKeys(t, db, reg)
	for _, stmt := range []string{"DROP TABLE walked", "PRAGMA user_version = 5"} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	if split := ixkRows(t, db); !strings.Contains(split, "s_family_e López\n") || !strings.Contains(split, "s_family lopez\n") {
		t.Fatalf("the version 5 layout was not written:\n%s", split)
	}
	db.Close()

	s, err = Open(ctx, Options{Path: path, Logger: slog.New(slog.DiscardHandler), Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if got := ixkRows(t, s.read); got != rows {
		t.Errorf("index rows after the upgrade:\n%s\nas written\n%s", got, rows)
	}
	if got := answers(s); got != written {
		t.Errorf("after the upgrade:\n%s\nas written:\n%s", got, written)
	}
}

// ixkRows lists the index keys as "rid field value" lines, a NUL shown as |.
func ixkRows(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.Query("SELECT k.rid, f.name, k.v FROM ixk k JOIN fields f ON f.fid = k.f ORDER BY 1, 2, 3")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var rid int
		var f, v string
		if err := rows.Scan(&rid, &f, &v); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%d %s %s\n", rid, f, strings.ReplaceAll(v, keySep, "|"))
	}
	return b.String()
}

// splitStringKeys rewrites the string parameters' rows of a closed data file as versions before 6
// stored them: field f the normalised values, field f_e the exact ones.
func splitStringKeys(t *testing.T, db *sql.DB, reg *search.Registry) {
	t.Helper()
	type field struct {
		fid, tid int64
		name     string
	}
	var fields []field
	rows, err := db.Query("SELECT f.fid, f.tid, f.name, t.name FROM fields f JOIN types t ON t.tid = f.tid")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var f field
		var typ string
		if err := rows.Scan(&f.fid, &f.tid, &f.name, &typ); err != nil {
			t.Fatal(err)
		}
		for _, p := range reg.Params(typ) {
			if p.Type == search.TypeString && p.Field == f.name {
				fields = append(fields, f)
				break
			}
		}
	}
	rows.Close()
	for _, f := range fields {
		res, err := db.Exec("INSERT INTO fields(tid, name) VALUES (?, ?)", f.tid, f.name+search.SuffixExact)
		if err != nil {
			t.Fatal(err)
		}
		exact, _ := res.LastInsertId()
		for _, stmt := range []string{
			// substr stops at a NUL in a text: cut the bytes.
			"INSERT INTO ixk(rid, f, v) SELECT rid, ?2, CASE WHEN instr(v, X'00') > 0 THEN CAST(substr(CAST(v AS BLOB), instr(CAST(v AS BLOB), X'00') + 1) AS TEXT) ELSE v END FROM ixk WHERE f = ?1",
			"UPDATE OR IGNORE ixk SET v = CAST(substr(CAST(v AS BLOB), 1, instr(CAST(v AS BLOB), X'00') - 1) AS TEXT) WHERE f = ?1 AND instr(v, X'00') > 0",
			"DELETE FROM ixk WHERE f = ?1 AND instr(v, X'00') > 0",
		} {
			if _, err := db.Exec(stmt, f.fid, exact); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
	}
}
