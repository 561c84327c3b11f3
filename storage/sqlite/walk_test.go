package sqlite

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// TestSortWalk: searches sorted on a date or a string parameter walk srt_walk where they can, and every
// page — forward, backward, ascending, descending, with and without a criterion, on data where some
// resources lack the key, some keys tie, some resources were deleted or changed their key — is what an
// independent sort of the live resources gives (missing keys first ascending, last descending, ties by id).
func TestSortWalk(t *testing.T) {
	reg := r4test.Load(t).Registry
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(t.TempDir(), "walk.db"), Logger: slog.New(slog.DiscardHandler), Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	rng := rand.New(rand.NewPCG(7, 11))
	families := []string{"", "ab", "ab", "b", "cd", "zz", "ma"}
	dates := []string{"", "1950", "1970-03", "1970-03-01", "1988-12-31", "2001-07-04", "2001-07-04"}
	genders := []string{"male", "female"}
	type pat struct{ id, family, birth, gender string }
	live := map[string]pat{}
	write := func(p pat, update bool) {
		body := map[string]any{"resourceType": "Patient", "id": p.id, "gender": p.gender}
		if p.family != "" {
			body["name"] = []any{map[string]any{"family": p.family}}
		}
		if p.birth != "" {
			body["birthDate"] = p.birth
		}
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := reg.Index("Patient", body)
		if err != nil {
			t.Fatal(err)
		}
		w := storage.Write{Type: "Patient", ID: p.id, Body: raw, Index: idx}
		if update {
			_, _, err = s.Update(ctx, w, storage.Precondition{})
		} else {
			_, err = s.Create(ctx, w)
		}
		if err != nil {
			t.Fatal(err)
		}
		live[p.id] = p
	}
	for i := range 60 {
		write(pat{fmt.Sprintf("p%02d", (i*37)%60), families[rng.IntN(len(families))], dates[rng.IntN(len(dates))], genders[rng.IntN(2)]}, false)
	}
	walkAll(t, s)       // the keys above are marked by the writer's back-fill, the ones below as they are written
	for i := range 10 { // keys changed, added or removed
		p := live[fmt.Sprintf("p%02d", i*5)]
		p.family, p.birth = families[rng.IntN(len(families))], dates[rng.IntN(len(dates))]
		write(p, true)
	}
	for i := range 5 {
		id := fmt.Sprintf("p%02d", i*7+1)
		if _, err := s.Delete(ctx, "Patient", id, storage.Precondition{}); err != nil {
			t.Fatal(err)
		}
		delete(live, id)
	}

	key := func(p pat, param string) string {
		if param == "family" {
			return p.family
		}
		if p.birth == "" {
			return ""
		}
		lo, _, _ := search.DateRange(p.birth)
		return lo.Format("2006-01-02T15:04:05.000Z")
	}
	want := func(param string, desc bool, gender string) []string {
		var ps []pat
		for _, p := range live {
			if gender == "" || p.gender == gender {
				ps = append(ps, p)
			}
		}
		slices.SortFunc(ps, func(a, b pat) int {
			ka, kb := key(a, param), key(b, param)
			c := cmp.Compare(ka, kb) // "" (no key) first
			if desc {
				c = -c
			}
			return cmp.Or(c, cmp.Compare(a.id, b.id))
		})
		var ids []string
		for _, p := range ps {
			ids = append(ids, p.id)
		}
		return ids
	}
	walked := 0
	for _, param := range []string{"family", "birthdate"} {
		for _, desc := range []bool{false, true} {
			for _, gender := range []string{"", "female"} {
				for _, count := range []int{1, 3, 7, 50} {
					raw := "_sort=" + map[bool]string{true: "-"}[desc] + param + "&_count=" + fmt.Sprint(count)
					if gender != "" {
						raw += "&gender=" + gender
					}
					params, _ := url.ParseQuery(raw)
					q, oerr := reg.Parse("Patient", params, search.ParseOptions{DefaultCount: 50})
					if oerr != nil {
						t.Fatal(oerr)
					}
					var got []string
					var pages []*storage.SearchPage
					for {
						// The plan this page gets: count how often it is a walk.
						tx, err := s.read.BeginTx(ctx, nil)
						if err != nil {
							t.Fatal(err)
						}
						st, err := s.statements(ctx, tx, q)
						_ = tx.Rollback()
						if err != nil {
							t.Fatal(err)
						}
						if st.walk != "" {
							walked++
						}
						page, err := s.Search(ctx, q)
						if err != nil {
							t.Fatal(err)
						}
						pages = append(pages, page)
						for _, v := range page.Versions {
							got = append(got, v.ID)
						}
						if page.Next == "" || len(pages) > 100 {
							break
						}
						next := *q
						next.Cursor = page.Next
						q = &next
					}
					if w := want(param, desc, gender); !slices.Equal(got, w) {
						t.Errorf("%s forward\n got %v\nwant %v", raw, got, w)
					}
					// Backward from the last page through Prev: the same pages.
					var back []string
					for cursor := pages[len(pages)-1].Prev; cursor != ""; {
						prev := *q
						prev.Cursor = cursor
						page, err := s.Search(ctx, &prev)
						if err != nil {
							t.Fatal(err)
						}
						var ids []string
						for _, v := range page.Versions {
							ids = append(ids, v.ID)
						}
						back = append(ids, back...)
						cursor = page.Prev
					}
					last := len(got) - len(pages[len(pages)-1].Versions)
					if !slices.Equal(back, got[:last]) {
						t.Errorf("%s backward\n got %v\nwant %v", raw, back, got[:last])
					}
				}
			}
		}
	}
	if walked < 50 {
		t.Errorf("only %d pages were walked: the walk is not exercised", walked)
	}
	t.Logf("%d pages walked", walked)
}

// TestUpgradeFromSchema1: a file of schema version 1 (no w column, no srt_walk, no res_deleted, token sort
// keys in srt) is upgraded when opened: the sort keys of date and string parameters are marked and walked,
// token keys are dropped (as in version 3: searches read them from ixk), and searches answer as before.
func TestUpgradeFromSchema1(t *testing.T) {
	reg := r4test.Load(t).Registry
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	open := func() *Store { return openAt(t, path) }
	s := open()
	for i, b := range []string{"1980-02-03", "1975", ""} {
		body := map[string]any{"resourceType": "Patient", "gender": "female", "name": []any{map[string]any{"family": fmt.Sprintf("f%d", 3-i)}}}
		if b != "" {
			body["birthDate"] = b
		}
		raw, _ := json.Marshal(body)
		idx, err := reg.Index("Patient", body)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, storage.Write{Type: "Patient", ID: fmt.Sprintf("p%d", i), Body: raw, Index: idx}); err != nil {
			t.Fatal(err)
		}
	}
	marks := func(s *Store) string {
		rows, err := s.read.Query("SELECT rid, f, coalesce(w, 0) FROM srt ORDER BY rid, f")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var rid, f, w int
			if err := rows.Scan(&rid, &f, &w); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%d/%d/%d ", rid, f, w)
		}
		return b.String()
	}
	walkAll(t, s) // version 1's upgrade marks every date and string parameter's keys
	written := marks(s)
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := openDB(path, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	publicTokenRows(t, db)
	splitStringKeys(t, db, reg) // version 1 knew string parameters by their f_e fields
	for _, stmt := range []string{"DROP TABLE walked", "DROP INDEX srt_walk", "DROP INDEX res_deleted", "ALTER TABLE srt DROP COLUMN w",
		// Version 1 also stored token sort keys.
		"INSERT INTO fields(tid, name) SELECT tid, 's_gender_sort' FROM types WHERE name = 'Patient'",
		"INSERT INTO srt(rid, f, v) SELECT rid, (SELECT fid FROM fields WHERE name = 's_gender_sort'), 'female' FROM res",
		"PRAGMA user_version = 1"} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	db.Close()

	s = open()
	defer s.Close(ctx)
	var version int
	if err := s.read.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != schemaVersion {
		t.Errorf("after the upgrade: schema version %d, want %d", version, schemaVersion)
	}
	// The upgrade keeps and marks exactly the sort keys that writes store (date and string parameters).
	if upgraded := marks(s); upgraded != written || !strings.Contains(written, "/1 ") || strings.Contains(written, "/0 ") {
		t.Errorf("sort keys (rid/field/walked) after the upgrade\n%s\nas written\n%s", upgraded, written)
	}
	for raw, want := range map[string]string{"_sort=birthdate&_count=1": "p2 p1 p0", "_sort=-family&_count=2": "p0 p1 p2",
		"_sort=gender,-family&_count=2": "p0 p1 p2"} {
		params, _ := url.ParseQuery(raw)
		q, oerr := reg.Parse("Patient", params, search.ParseOptions{DefaultCount: 50})
		if oerr != nil {
			t.Fatal(oerr)
		}
		var got []string
		for {
			page, err := s.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range page.Versions {
				got = append(got, v.ID)
			}
			if page.Next == "" {
				break
			}
			next := *q
			next.Cursor = page.Next
			q = &next
		}
		if g := strings.Join(got, " "); g != want {
			t.Errorf("%s: got %s, want %s", raw, g, want)
		}
	}
}

// TestUpgradeFromSchema2: a file of schema version 2 (token, reference and uri sort keys in srt, unmarked)
// loses those rows when opened and keeps the marked ones; searches sorted on either kind answer as before.
func TestUpgradeFromSchema2(t *testing.T) {
	reg := r4test.Load(t).Registry
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v2.db")
	open := func() *Store { return openAt(t, path) }
	s := open()
	for i, g := range []string{"male", "female", ""} {
		body := map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"family": fmt.Sprintf("f%d", i)}}}
		if g != "" {
			body["gender"] = g
		}
		raw, _ := json.Marshal(body)
		idx, err := reg.Index("Patient", body)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, storage.Write{Type: "Patient", ID: fmt.Sprintf("p%d", i), Body: raw, Index: idx}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(s *Store, where string) int {
		var n int
		if err := s.read.QueryRow("SELECT count(*) FROM srt WHERE " + where).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	walkAll(t, s) // version 2 marked the keys of every date and string parameter
	marked := count(s, "w")
	if n := count(s, "w IS NULL"); marked == 0 || n != 0 {
		t.Fatalf("as written: %d marked sort keys, %d unmarked (want some, none)", marked, n)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := openDB(path, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	publicTokenRows(t, db)
	for _, stmt := range []string{
		"INSERT INTO fields(tid, name) SELECT tid, 's_gender_sort' FROM types WHERE name = 'Patient'",
		"INSERT INTO srt(rid, f, v) SELECT rid, (SELECT fid FROM fields WHERE name = 's_gender_sort'), 'zzz' FROM res",
		"DROP TABLE walked", "PRAGMA user_version = 2"} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	db.Close()
	s = open()
	defer s.Close(ctx)
	var version int
	if err := s.read.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != schemaVersion {
		t.Errorf("after the upgrade: schema version %d, want %d", version, schemaVersion)
	}
	if n, m := count(s, "w IS NULL"), count(s, "w"); n != 0 || m != marked {
		t.Errorf("after the upgrade: %d unmarked sort keys (want 0), %d marked (want %d)", n, m, marked)
	}
	// Version 7 lists the fields with marked keys as walked.
	var listed, fields int
	if err := s.read.QueryRow("SELECT (SELECT count(*) FROM walked), (SELECT count(DISTINCT f) FROM srt WHERE w)").Scan(&listed, &fields); err != nil {
		t.Fatal(err)
	}
	if listed == 0 || listed != fields {
		t.Errorf("after the upgrade: %d walked fields, want the %d with marked keys", listed, fields)
	}
	for raw, want := range map[string]string{"_sort=gender": "p2 p1 p0", "_sort=-gender": "p0 p1 p2", "_sort=-family": "p2 p1 p0"} {
		params, _ := url.ParseQuery(raw)
		q, oerr := reg.Parse("Patient", params, search.ParseOptions{DefaultCount: 50})
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
		if g := strings.Join(got, " "); g != want {
			t.Errorf("%s: got %s, want %s", raw, g, want)
		}
	}
}

// openAt opens the data file at path (synchronous=normal, logs discarded).
func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Path: path, Logger: slog.New(slog.DiscardHandler), Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
