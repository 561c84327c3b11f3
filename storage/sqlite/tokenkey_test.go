package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// publicTokenRows rewrites the token fields' rows of a closed data file as versions before 8 stored them
// (the keys search.Registry.Index gives, publicTokenKeys) and drops the marks fields.tok and fields.old
// and the table systems.
func publicTokenRows(t *testing.T, db *sql.DB) {
	t.Helper()
	type row struct {
		rid, f int64
		v      string
	}
	systems := map[int64]string{}
	rows, err := db.Query("SELECT sid, uri FROM systems")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var sid int64
		var uri string
		if err := rows.Scan(&sid, &uri); err != nil {
			t.Fatal(err)
		}
		systems[sid] = uri
	}
	rows.Close()
	system := func(sid int64) (string, bool) { uri, ok := systems[sid]; return uri, ok }
	rows, err = db.Query("SELECT k.rid, k.f, k.v FROM ixk k JOIN fields f ON f.fid = k.f WHERE f.tok")
	if err != nil {
		t.Fatal(err)
	}
	var stored []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.rid, &r.f, &r.v); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, r)
	}
	rows.Close()
	for _, r := range stored {
		if _, err := db.Exec("DELETE FROM ixk WHERE rid = ? AND f = ? AND v = ?", r.rid, r.f, r.v); err != nil {
			t.Fatal(err)
		}
		err := publicTokenKeys(r.v, system, func(k string) error {
			_, err := db.Exec("INSERT OR IGNORE INTO ixk(rid, f, v) VALUES (?, ?, ?)", r.rid, r.f, k)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, stmt := range []string{"ALTER TABLE fields DROP COLUMN tok", "ALTER TABLE fields DROP COLUMN old", "DROP TABLE systems"} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
}

// tokenPatients are Patients whose identifiers, telecoms, tags and gender exercise every token key form:
// a system and a code (shared codes across systems, a code holding "|"), a code without a system, a
// system without a code.
var tokenPatients = map[string]map[string]any{
	"a": {"gender": "female",
		"identifier": []any{map[string]any{"system": "urn:mrn", "value": "100"}, map[string]any{"system": "urn:ssn", "value": "200"}},
		"telecom":    []any{map[string]any{"system": "phone", "value": "555-0100"}, map[string]any{"system": "email", "value": "a@x.org"}},
		"meta":       map[string]any{"tag": []any{map[string]any{"system": "urn:tags", "code": "vip"}, map[string]any{"code": "plain"}}}},
	"b": {"gender": "male",
		"identifier": []any{map[string]any{"system": "urn:mrn", "value": "200"}, map[string]any{"value": "300"}},
		"telecom":    []any{map[string]any{"system": "phone", "value": "555-0199"}},
		"meta":       map[string]any{"tag": []any{map[string]any{"system": "urn:tags", "code": "a|b"}, map[string]any{"system": "urn:only"}}}},
	"c": {"gender": "female",
		"identifier": []any{map[string]any{"system": "urn:ssn", "value": "100"}},
		"meta":       map[string]any{"tag": []any{map[string]any{"system": "urn:other", "code": "vip"}}}},
}

// tokenQueries and the Patients each answers, sorted by id (sorts by a token by their least code or value).
var tokenQueries = map[string]string{
	"identifier=100":                  "a c",
	"identifier=200":                  "a b",
	"identifier=urn:mrn|200":          "b",
	"identifier=urn:ssn|200":          "a",
	"identifier=urn:mrn|":             "a b",
	"identifier=urn:ssn|":             "a c",
	"identifier=|300":                 "b",
	"identifier=300":                  "b",
	"identifier=|100":                 "",
	"identifier=urn:mrn|300":          "",
	"identifier=10":                   "",
	"identifier=urn:nope|100":         "",
	"identifier=urn:nope|":            "",
	"identifier:not=100":              "b",
	"identifier:not=urn:mrn|":         "c",
	"identifier=urn:mrn|100,urn:ssn|": "a c",
	"phone=555-0100":                  "a",
	"telecom=phone|":                  "a b",
	"telecom=email|a@x.org":           "a",
	"email=a@x.org":                   "a",
	"gender=female":                   "a c",
	"_tag=vip":                        "a c",
	"_tag=urn:tags|vip":               "a",
	"_tag=urn:tags|":                  "a b",
	`_tag=urn:tags|a\|b`:              "b",
	`_tag=urn:tags|a`:                 "",
	`_tag=a\|b`:                       "b",
	"_tag=urn:only|":                  "b",
	"_tag=plain":                      "a",
	"_tag=|plain":                     "a",
	"_tag:missing=true":               "",
	"identifier:missing=false":        "a b c",
	"_sort=identifier":                "a c b",
	"_sort=-identifier":               "b a c",
	"_sort=_tag,_id":                  "b a c",
}

// tokenTable lists every token query, sorted, with answer(query).
func tokenTable(answer func(q string) string) string {
	qs := make([]string, 0, len(tokenQueries))
	for q := range tokenQueries {
		qs = append(qs, q)
	}
	slices.Sort(qs)
	var b strings.Builder
	for _, q := range qs {
		fmt.Fprintf(&b, "%s: %s\n", q, answer(q))
	}
	return b.String()
}

// tokenAnswers is tokenTable with what s answers (sorted by id unless the query sorts).
func tokenAnswers(t *testing.T, s *Store, reg *search.Registry) string {
	t.Helper()
	return tokenTable(func(q string) string {
		if !strings.Contains(q, "_sort") {
			q += "&_sort=_id"
		}
		return searchIDs(t, s, reg, "Patient", q, true)
	})
}

// tokenWant is tokenTable with the expected answers.
func tokenWant() string { return tokenTable(func(q string) string { return tokenQueries[q] }) }

// TestTokenKeys: a token field's keys are stored one per coding ("c:code␀S", S the interned system, empty
// without one) plus one "m:S" per system, identifier types as they are, no "s:" keys; every token search —
// code alone, system|code, system|, |code, an unknown system, :not, :missing, several values — and sorts by
// a token answer on them; SearchIndex and Distinct give back the keys the index wrote.
func TestTokenKeys(t *testing.T) {
	reg := r4test.Load(t).Registry
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "tok.db"))
	defer s.Close(ctx)
	indexes := map[string]map[string]any{}
	for _, id := range slices.Sorted(maps.Keys(tokenPatients)) {
		body := tokenPatients[id]
		createPatient(t, s, reg, id, maps.Clone(body))
		body = maps.Clone(body)
		body["resourceType"] = "Patient"
		idx, err := reg.Index("Patient", body)
		if err != nil {
			t.Fatal(err)
		}
		indexes[id] = idx
	}
	if got, want := tokenAnswers(t, s, reg), tokenWant(); got != want {
		t.Errorf("answers:\n%s\nwant\n%s", got, want)
	}
	identifier, _ := reg.Lookup("Patient", "identifier")
	rows := ixkRows(t, s.read)
	mrn, ok := s.names.systemID("urn:mrn")
	if !ok {
		t.Fatal("urn:mrn is not interned")
	}
	sid := strconv.FormatInt(mrn, 36)
	for _, want := range []string{" " + identifier.Field + " c:100|" + sid + "\n", " " + identifier.Field + " m:" + sid + "\n", " " + identifier.Field + " c:300|\n"} {
		if !strings.Contains(rows, want) {
			t.Errorf("no row %q in\n%s", want, rows)
		}
	}
	for _, unwanted := range []string{" " + identifier.Field + " s:", " " + identifier.Field + " c:100\n"} {
		if strings.Contains(rows, unwanted) {
			t.Errorf("a row %q in\n%s", unwanted, rows)
		}
	}
	// Read back: the keys search.Registry.Index wrote, for every token field asked for.
	codes := []string{"identifier", "telecom", "_tag", "gender"}
	fields := make([]string, len(codes))
	for i, c := range codes {
		p, _ := reg.Lookup("Patient", c)
		fields[i] = p.Field
	}
	q, oerr := reg.Parse("Patient", url.Values{}, search.ParseOptions{})
	if oerr != nil {
		t.Fatal(oerr)
	}
	got := map[string]map[string][]string{}
	err := s.SearchIndex(ctx, q, fields, func(id string, field int, key string, lo, hi int64) error {
		if got[id] == nil {
			got[id] = map[string][]string{}
		}
		got[id][fields[field]] = append(got[id][fields[field]], key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for id, idx := range indexes {
		for _, f := range fields {
			want, _ := idx[f].(search.TokenKeys)
			have := got[id][f]
			slices.Sort(have)
			have = slices.Compact(have)
			if fmt.Sprint(have) != fmt.Sprint([]string(want)) {
				t.Errorf("SearchIndex %s %s: %q, want %q", id, f, have, want)
			}
		}
	}
	tag, _ := reg.Lookup("Patient", "_tag")
	distinct, err := s.Distinct(ctx, "Patient", tag.Field)
	if err != nil {
		t.Fatal(err)
	}
	var wantTags []string
	for _, idx := range indexes {
		wantTags = append(wantTags, idx[tag.Field].(search.TokenKeys)...)
	}
	slices.Sort(wantTags)
	if fmt.Sprint(distinct[tag.Field]) != fmt.Sprint(slices.Compact(wantTags)) {
		t.Errorf("Distinct _tag: %q, want %q", distinct[tag.Field], slices.Compact(wantTags))
	}
}

// createTokenPatients writes tokenPatients to s in the order of their ids.
func createTokenPatients(t *testing.T, s *Store, reg *search.Registry) {
	t.Helper()
	for _, id := range slices.Sorted(maps.Keys(tokenPatients)) {
		createPatient(t, s, reg, id, maps.Clone(tokenPatients[id]))
	}
}

// tokenFileOfVersion7 writes tokenPatients to a new file at path and turns it into a file of version 7:
// token keys as the index gave them.
func tokenFileOfVersion7(t *testing.T, reg *search.Registry, path string) {
	t.Helper()
	s := openAt(t, path)
	createTokenPatients(t, s, reg)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	db, err := openDB(path, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	publicTokenRows(t, db)
	if _, err := db.Exec("PRAGMA user_version = 7"); err != nil {
		t.Fatal(err)
	}
	if rows := ixkRows(t, db); !strings.Contains(rows, " s:urn:mrn|100\n") || strings.Contains(rows, " m:") {
		t.Fatalf("the version 7 layout was not written:\n%s", rows)
	}
}

// TestTokenKeysOfVersion7: a file of version 7 holds token keys as the index gave them ("c:code" and
// "s:system|code"); opened by this version without Options.Reindex, every token search answers as on a new
// file, also once some of its resources are written again (in the stored form) and others not.
func TestTokenKeysOfVersion7(t *testing.T) {
	reg := r4test.Load(t).Registry
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v7.db")
	tokenFileOfVersion7(t, reg, path)
	s := openAt(t, path)
	defer s.Close(ctx)
	want := tokenWant()
	if got := tokenAnswers(t, s, reg); got != want {
		t.Errorf("answers on the version 7 file:\n%s\nwant\n%s", got, want)
	}
	// b written again: its keys in the stored form, a's and c's as they were.
	body := maps.Clone(tokenPatients["b"])
	body["resourceType"] = "Patient"
	raw, _ := json.Marshal(body)
	idx, err := reg.Index("Patient", body)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Update(ctx, storage.Write{Type: "Patient", ID: "b", Body: raw, Index: idx}, storage.Precondition{}); err != nil {
		t.Fatal(err)
	}
	mrn, _ := s.names.systemID("urn:mrn")
	if rows := ixkRows(t, s.read); !strings.Contains(rows, " c:200|"+strconv.FormatInt(mrn, 36)+"\n") || !strings.Contains(rows, " s:urn:mrn|100\n") {
		t.Fatalf("want both layouts:\n%s", rows)
	}
	if got := tokenAnswers(t, s, reg); got != want {
		t.Errorf("answers with both layouts:\n%s\nwant\n%s", got, want)
	}
}

// TestUpgradeFromSchema7RewritesTokenKeys: opened with Options.Reindex, a file of version 7 has its token
// keys rewritten to the rows a new write stores, no field is left old (searched in both forms), and every
// token search answers as before.
func TestUpgradeFromSchema7RewritesTokenKeys(t *testing.T) {
	reg := r4test.Load(t).Registry
	ctx := context.Background()
	dir := t.TempDir()
	fresh := openAt(t, filepath.Join(dir, "new.db"))
	createTokenPatients(t, fresh, reg)
	written := ixkRows(t, fresh.read)
	if written == "" {
		t.Fatal("no rows written")
	}
	if err := fresh.Close(ctx); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "v7.db")
	tokenFileOfVersion7(t, reg, path)
	s, err := Open(ctx, Options{Path: path, Logger: slog.New(slog.DiscardHandler), Synchronous: "normal", Reindex: reg.IndexBody})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	// The systems may be numbered in another order than on the new file: compare with them as URIs.
	uris := func(st *Store, rows string) string {
		for sid, uri := range st.names.systemOf {
			n := strconv.FormatInt(sid, 36)
			rows = strings.ReplaceAll(rows, "|"+n+"\n", "|<"+uri+">\n")
			rows = strings.ReplaceAll(rows, " m:"+n+"\n", " m:<"+uri+">\n")
		}
		// Rows are ordered by the systems' numbers: order them again by their URIs.
		lines := strings.SplitAfter(rows, "\n")
		slices.Sort(lines)
		return strings.Join(lines, "")
	}
	freshAgain := openAt(t, filepath.Join(dir, "new.db"))
	defer freshAgain.Close(ctx)
	if got, want := uris(s, ixkRows(t, s.read)), uris(freshAgain, written); got != want {
		t.Errorf("rows after the upgrade:\n%s\nas a new file writes them:\n%s", got, want)
	}
	var old int
	if err := s.read.QueryRow("SELECT count(*) FROM fields WHERE old IS NOT NULL AND fid IN (SELECT f FROM ixk)").Scan(&old); err != nil {
		t.Fatal(err)
	}
	if old != 0 {
		t.Errorf("%d fields with keys still old", old)
	}
	if got, want := tokenAnswers(t, s, reg), tokenWant(); got != want {
		t.Errorf("answers after the upgrade:\n%s\nwant\n%s", got, want)
	}
}

// TestStoredTokenKeys: the stored form of each public key form (systems interned in order of first use:
// urn:s 1, urn:t 2, then 3), and back.
func TestStoredTokenKeys(t *testing.T) {
	for _, c := range []struct{ public, stored string }{
		{"[c:a s:urn:s|a]", "[c:a|1 m:1]"},
		{"[c:a s:urn:s|a s:urn:t|a]", "[c:a|1 c:a|2 m:1 m:2]"},
		{"[n:b]", "[c:b|]"},
		{"[y:urn:s]", "[c:|1 m:1]"},
		{"[c:a c:b n:a s:urn:s|a s:urn:s|b t:urn:v2|MR|a y:urn:t]", "[c:|2 c:a| c:a|1 c:b|1 m:1 m:2 t:urn:v2|MR|a]"},
		{"[c:e s:urn:x|d|e]", "[c:e|3 m:3]"},         // system "urn:x|d", code "e"
		{"[c:d|e s:urn:x|d|e]", "[c:d|e|3 m:3]"},     // system "urn:x", code "d|e"
		{"[c:a|b c:b s:x|a|b]", "[c:a|b|3 c:b m:3]"}, // two codings, one key: the second kept as it is
	} {
		systems := map[string]int64{"urn:s": 1, "urn:t": 2}
		uris := map[int64]string{1: "urn:s", 2: "urn:t"}
		intern := func(uri string) (int64, error) {
			if _, ok := systems[uri]; !ok {
				systems[uri] = 3
				uris[3] = uri
			}
			return systems[uri], nil
		}
		public := strings.Fields(strings.Trim(c.public, "[]"))
		stored, err := storedTokenKeys(public, intern)
		if err != nil {
			t.Fatal(err)
		}
		shown := make([]string, len(stored))
		for i, k := range stored {
			shown[i] = strings.ReplaceAll(k, keySep, "|")
		}
		if got := fmt.Sprint(shown); got != c.stored {
			t.Errorf("stored %s: %s, want %s", c.public, got, c.stored)
		}
		var back []string
		for _, k := range stored {
			err := publicTokenKeys(k, func(sid int64) (string, bool) { uri, ok := uris[sid]; return uri, ok }, func(k string) error { back = append(back, k); return nil })
			if err != nil {
				t.Fatal(err)
			}
		}
		slices.Sort(back)
		if got := fmt.Sprint(slices.Compact(back)); got != c.public {
			t.Errorf("public %s: %s", c.public, got)
		}
	}
	if err := publicTokenKeys("c:a"+keySep+"z", func(int64) (string, bool) { return "", false }, func(string) error { return nil }); err == nil {
		t.Error("a codeKey of an unknown system read back")
	}
}
