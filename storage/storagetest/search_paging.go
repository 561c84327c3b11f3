package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// fixturePagingTests run on the fixture (search_fixture.go).
var fixturePagingTests = []namedSearchTest{
	{"Paging", testSearchPaging},
	{"CountZero", testSearchCountZero},
	{"BadCursor", testSearchBadCursor},
}

// mutationSearchTests each get an empty store of their own.
var mutationSearchTests = []namedSearchTest{
	{"DeletedNeverMatch", testSearchDeleted},
	{"UpdatedMatchesNewValuesOnly", testSearchUpdated},
	{"PagingUnderConcurrentInserts", testSearchPagingConcurrentInserts},
	{"OtherCompartments", testSearchOtherCompartments},
}

// pagedSearch is one search to walk page by page.
type pagedSearch struct {
	typ, in, query string
}

// walkForward follows Next from the first page of typ?raw (raw includes _count) and returns the pages.
// between, when set, runs before each page after the first is fetched.
func (e *searchEnv) walkForward(t *testing.T, s storage.Store, typ, in, raw string, between func(page int)) []*storage.SearchPage {
	t.Helper()
	q := e.query(t, typ, in, raw)
	var pages []*storage.SearchPage
	for {
		page := search1(t, s, q)
		pages = append(pages, page)
		if page.Next == "" {
			return pages
		}
		if len(pages) > 100 {
			t.Fatalf("%s?%s: more than 100 pages", typ, raw)
		}
		if between != nil {
			between(len(pages))
		}
		q = e.query(t, typ, in, raw)
		q.Cursor = page.Next
	}
}

// testSearchPaging: _count pages, walked forward through Next and back through Prev, concatenate to the
// unpaged result; the first page has the total and no Prev, the last no Next.
func testSearchPaging(t *testing.T, e *searchEnv, s storage.Store, _ *fixture) {
	for _, c := range []struct {
		pagedSearch
		count int
	}{
		{pagedSearch{"Patient", "", ""}, 2},
		{pagedSearch{"Patient", "", ""}, 4},
		{pagedSearch{"Patient", "", "_total=accurate"}, 4},
		{pagedSearch{"Patient", "", "_total=none"}, 5},
		{pagedSearch{"Patient", "", "_sort=family"}, 2},
		{pagedSearch{"Patient", "", "_sort=-family"}, 2},
		{pagedSearch{"Patient", "", "_sort=-birthdate"}, 2},
		// Page boundaries on resources without the sort value (p4 p5 p6 have no city; p5 no family).
		{pagedSearch{"Patient", "", "_sort=family"}, 1},
		{pagedSearch{"Patient", "", "_sort=address-city"}, 2},
		{pagedSearch{"Patient", "", "_sort=-address-city"}, 2},
		{pagedSearch{"Patient", "", "_sort=address-city,-_lastUpdated"}, 1},
		{pagedSearch{"Appointment", "", "_sort=date"}, 1},
		{pagedSearch{"Task", "", "_sort=-priority,authored-on"}, 1},
		{pagedSearch{"Patient", "", "_sort=gender,-_lastUpdated"}, 4},
		{pagedSearch{"Patient", "", "_sort=-_lastUpdated"}, 1},
		{pagedSearch{"Patient", "", "_sort=-_id"}, 4},
		{pagedSearch{"Patient", "", "_id=p1,p2,p3,p5&_sort=-family"}, 2},
		{pagedSearch{"Patient", "", "gender=female,male&_sort=family,-birthdate"}, 2},
		{pagedSearch{"Appointment", "", "_sort=-status,date"}, 2},
		// Several values and chains (one query per value on FerretDB, merged in sort order).
		{pagedSearch{"Appointment", "", "patient.family=chalmers,olund&_sort=-date"}, 1},
		{pagedSearch{"AllergyIntolerance", "", "patient=p1,p2,p6&_sort=-date"}, 2},
		{pagedSearch{"AllergyIntolerance", "", "patient=p1,p2,p6&_sort=criticality,date"}, 3},
		{pagedSearch{"AllergyIntolerance", "", "onset=ne2004"}, 1},
		{pagedSearch{"AllergyIntolerance", "", "onset=le2020&_sort=-_id"}, 1},
		{pagedSearch{"CarePlan", "", "activity-date=ne2023-02&_sort=-_lastUpdated"}, 1},
		{pagedSearch{"AllergyIntolerance", "Patient/p1", "_sort=date"}, 1},
		{pagedSearch{"Patient", "", "_has:AllergyIntolerance:patient:criticality=high,low&_sort=-family"}, 2},
	} {
		name := fmt.Sprintf("%s?%s&_count=%d", c.typ, c.query, c.count)
		if c.in != "" {
			name = c.in + "/" + name
		}
		t.Run(name, func(t *testing.T) {
			all := search1(t, s, e.query(t, c.typ, c.in, c.query))
			if all.Next != "" {
				t.Fatalf("unpaged search has a next page")
			}
			want := ids(all.Versions)
			n := len(all.Versions)
			if n <= c.count {
				t.Fatalf("fixture too small: %d results for pages of %d", n, c.count)
			}
			raw := strings.TrimPrefix(c.query+"&_count="+fmt.Sprint(c.count), "&")
			q := e.query(t, c.typ, c.in, raw)
			pages := e.walkForward(t, s, c.typ, c.in, raw, nil)
			var got []string
			for i, p := range pages {
				if len(p.Versions) == 0 || len(p.Versions) > c.count {
					t.Errorf("page %d has %d resources (count %d)", i+1, len(p.Versions), c.count)
				}
				if i < len(pages)-1 && len(p.Versions) != c.count {
					t.Errorf("page %d of %d is not full: %d", i+1, len(pages), len(p.Versions))
				}
				if i == 0 && p.Prev != "" {
					t.Errorf("first page has a previous page")
				}
				if i > 0 && p.Prev == "" {
					t.Errorf("page %d has no previous page", i+1)
				}
				checkPageTotal(t, q, p, i == 0, n)
				got = append(got, ids(p.Versions))
			}
			if g := strings.Join(got, " "); g != want {
				t.Errorf("pages forward\n got [%s]\nwant [%s]", g, want)
			}
			// Back from the last page: the same pages, in reverse.
			back := []string{got[len(got)-1]}
			cursor := pages[len(pages)-1].Prev
			for steps := 0; cursor != ""; steps++ {
				if steps > len(pages) {
					t.Fatalf("more pages backward than forward")
				}
				q := e.query(t, c.typ, c.in, raw)
				q.Cursor = cursor
				p := search1(t, s, q)
				if p.Next == "" {
					t.Errorf("page reached backward has no next page")
				}
				checkPageTotal(t, q, p, false, n)
				back = append(back, ids(p.Versions))
				cursor = p.Prev
			}
			slices.Reverse(back)
			if g, w := strings.Join(back, " | "), strings.Join(got, " | "); g != w {
				t.Errorf("pages backward\n got [%s]\nwant [%s]", g, w)
			}
		})
	}
}

// checkPageTotal: the first page has the total (-1 with _total=none); later pages have it with
// _total=accurate, and otherwise either it or -1 (storage.SearchPage).
func checkPageTotal(t *testing.T, q *search.Query, p *storage.SearchPage, first bool, n int) {
	t.Helper()
	switch {
	case q.Total == "none":
		if p.Total != -1 {
			t.Errorf("total %d with _total=none, want -1", p.Total)
		}
	case first || q.Total == "accurate":
		if p.Total != n {
			t.Errorf("total %d, want %d", p.Total, n)
		}
	default:
		if p.Total != -1 && p.Total != n {
			t.Errorf("total %d on a later page, want %d or -1", p.Total, n)
		}
	}
}

// testSearchCountZero: _count=0 returns no resources, only the total (search.html#count).
func testSearchCountZero(t *testing.T, e *searchEnv, s storage.Store, _ *fixture) {
	for _, c := range []struct {
		typ, in, query string
		total          int
	}{
		{"Patient", "", "", 6},
		{"Patient", "", "gender=male", 3},
		{"Patient", "", "_total=none", -1},
		{"Patient", "", "_total=accurate&family=chal", 3},
		{"Patient", "", "_sort=-family", 6},
		{"AllergyIntolerance", "", "onset=2004", 1},
		{"AllergyIntolerance", "", "onset=2010", 0},
		{"AllergyIntolerance", "", "onset=ne2004", 2},
		{"CarePlan", "", "activity-date=2023-02", 1},
		{"Appointment", "", "patient.family=chalmers", 2},
		{"Patient", "", "_has:AllergyIntolerance:patient:criticality=low", 2},
		{"AllergyIntolerance", "Patient/p1", "", 2},
		{"Patient", "", "_lastUpdated=gt2000", 6},
	} {
		raw := strings.TrimPrefix(c.query+"&_count=0", "&")
		q := e.query(t, c.typ, c.in, raw)
		p := search1(t, s, q)
		if len(p.Versions) != 0 || p.Total != c.total || p.Next != "" {
			t.Errorf("%s %s?%s: %d resources, total %d, next %q; want none, total %d, no next",
				c.in, c.typ, raw, len(p.Versions), p.Total, p.Next, c.total)
		}
	}
}

func testSearchBadCursor(t *testing.T, e *searchEnv, s storage.Store, _ *fixture) {
	for _, cursor := range []string{"!!!", "bm90IGpzb24", "e30"} { // not base64, not JSON, {}
		q := e.query(t, "Patient", "", "_count=2&_sort=family")
		q.Cursor = cursor
		if _, err := s.Search(context.Background(), q); !errors.Is(err, storage.ErrBadCursor) {
			t.Errorf("cursor %q: %v, want ErrBadCursor", cursor, err)
		}
	}
}

// expectSearch asserts the ids of one page of typ?raw (in: compartment), in order, and the total.
func (e *searchEnv) expectSearch(t *testing.T, s storage.Store, typ, in, raw, want string) {
	t.Helper()
	q := e.query(t, typ, in, raw)
	p, err := s.Search(context.Background(), q)
	if err != nil {
		t.Errorf("%s %s?%s: %v", in, typ, raw, err)
		return
	}
	if got := ids(p.Versions); got != want {
		t.Errorf("%s %s?%s\n got [%s]\nwant [%s]", in, typ, raw, got, want)
	}
	if n := len(strings.Fields(want)); p.Total != n && q.Total != "none" {
		t.Errorf("%s %s?%s: total %d, want %d", in, typ, raw, p.Total, n)
	}
}

func instant(t time.Time) string {
	return strings.ReplaceAll(t.UTC().Format("2006-01-02T15:04:05.000Z07:00"), "+", "%2B")
}

// testSearchDeleted: deleted resources match no criterion, chain, reverse chain, compartment or total;
// a resource recreated after its deletion matches on its new version.
func testSearchDeleted(t *testing.T, e *searchEnv, s storage.Store, _ *fixture) {
	ctx := context.Background()
	del := func(typ, id string) {
		t.Helper()
		if _, err := s.Delete(ctx, typ, id, storage.Precondition{}); err != nil {
			t.Fatalf("delete %s/%s: %v", typ, id, err)
		}
	}
	e.create(t, s, `{"resourceType":"Patient","id":"x1","name":[{"family":"Chalmers"}],"gender":"male","birthDate":"1970"}`)
	e.create(t, s, `{"resourceType":"Patient","id":"x2","name":[{"family":"Chalmers"}],"gender":"female","birthDate":"1980"}`)
	e.create(t, s, `{"resourceType":"Patient","id":"x3","name":[{"family":"Other"}]}`)
	e.create(t, s, `{"resourceType":"AllergyIntolerance","id":"y1","criticality":"high","patient":{"reference":"Patient/x2"},"reaction":[{"manifestation":[{"text":"rash"}],"onset":"2004"},{"manifestation":[{"text":"hives"}],"onset":"2012"}]}`)
	e.create(t, s, `{"resourceType":"Appointment","id":"z1","status":"booked","participant":[{"actor":{"reference":"Patient/x2"},"status":"accepted"}]}`)

	e.expectSearch(t, s, "Patient", "", "family=chalmers", "x1 x2")
	e.expectSearch(t, s, "Patient", "", "_has:AllergyIntolerance:patient:criticality=high", "x2")
	e.expectSearch(t, s, "AllergyIntolerance", "", "onset=2004", "y1")

	del("AllergyIntolerance", "y1")
	e.expectSearch(t, s, "Patient", "", "_has:AllergyIntolerance:patient:criticality=high", "")
	e.expectSearch(t, s, "AllergyIntolerance", "", "patient=x2", "")
	e.expectSearch(t, s, "AllergyIntolerance", "", "onset=2004", "")
	e.expectSearch(t, s, "AllergyIntolerance", "", "", "")
	e.expectSearch(t, s, "AllergyIntolerance", "Patient/x2", "", "")

	del("Patient", "x2")
	e.expectSearch(t, s, "Patient", "", "family=chalmers", "x1")
	e.expectSearch(t, s, "Patient", "", "_id=x2", "")
	e.expectSearch(t, s, "Patient", "", "birthdate=1980", "")
	e.expectSearch(t, s, "Patient", "", "gender:not=male", "x3")
	e.expectSearch(t, s, "Patient", "", "birthdate:missing=true", "x3")
	e.expectSearch(t, s, "Patient", "", "_sort=-family", "x3 x1")
	e.expectSearch(t, s, "Patient", "Patient/x2", "", "")
	e.expectSearch(t, s, "Appointment", "", "patient.family=chalmers", "")
	e.expectSearch(t, s, "Appointment", "", "patient.gender=female", "")
	// The appointment itself is not deleted: it still refers to Patient/x2.
	e.expectSearch(t, s, "Appointment", "", "patient=Patient/x2", "z1")
	e.expectSearch(t, s, "Appointment", "Patient/x2", "", "z1")
	if p := search1(t, s, e.query(t, "Patient", "", "_count=0")); p.Total != 2 {
		t.Errorf("total %d after a deletion, want 2", p.Total)
	}

	// Update after deletion recreates the resource: it matches on its new body only.
	e.update(t, s, `{"resourceType":"Patient","id":"x2","name":[{"family":"Chalmers"}],"gender":"male","birthDate":"1999"}`)
	e.expectSearch(t, s, "Patient", "", "family=chalmers", "x1 x2")
	e.expectSearch(t, s, "Patient", "", "birthdate=1980", "")
	e.expectSearch(t, s, "Patient", "", "birthdate=1999", "x2")
	e.expectSearch(t, s, "Appointment", "", "patient.gender=male", "z1")

	// Deleted in a transaction.
	if _, err := s.Transact(ctx, []storage.TxOp{{Kind: storage.TxDelete, Write: storage.Write{Type: "Patient", ID: "x1"}}}); err != nil {
		t.Fatal(err)
	}
	e.expectSearch(t, s, "Patient", "", "family=chalmers", "x2")

	// Deleted between two pages: not on the next one.
	q := e.query(t, "Patient", "", "_count=1")
	first := search1(t, s, q)
	if ids(first.Versions) != "x2" || first.Next == "" {
		t.Fatalf("first page [%s] next %q", ids(first.Versions), first.Next)
	}
	del("Patient", "x3")
	q.Cursor = first.Next
	if rest := search1(t, s, q); len(rest.Versions) != 0 || rest.Next != "" {
		t.Errorf("page after deleting x3: [%s] next %q", ids(rest.Versions), rest.Next)
	}
}

// testSearchUpdated: an updated resource matches on its new values only, also through chains, reverse
// chains, compartments and sorting.
func testSearchUpdated(t *testing.T, e *searchEnv, s storage.Store, _ *fixture) {
	ctx := context.Background()
	e.create(t, s, `{"resourceType":"Patient","id":"u1","identifier":[{"system":"http://example.org/mrn","value":"A"}],"name":[{"family":"Old","given":["Anna"]}],"gender":"female","birthDate":"1970-01-01"}`)
	e.create(t, s, `{"resourceType":"Patient","id":"u2","name":[{"family":"Nancy"}]}`)
	e.create(t, s, `{"resourceType":"Appointment","id":"v1","status":"booked","start":"2024-01-01T10:00:00Z","participant":[{"actor":{"reference":"Patient/u1"},"status":"accepted"}]}`)
	last := e.create(t, s, `{"resourceType":"AllergyIntolerance","id":"w1","patient":{"reference":"Patient/u1"},"reaction":[{"manifestation":[{"text":"rash"}],"onset":"2004"},{"manifestation":[{"text":"hives"}],"onset":"2012"}]}`)

	e.expectSearch(t, s, "Patient", "", "_sort=family", "u2 u1")
	e.update(t, s, `{"resourceType":"Patient","id":"u1","name":[{"family":"Aardvark","given":["Bob"]}],"gender":"male","birthDate":"1990-06-15"}`)
	for _, c := range [][2]string{
		{"family=old", ""},
		{"family=aardvark", "u1"},
		{"family:exact=Old", ""},
		{"given=anna", ""},
		{"given=bob", "u1"},
		{"birthdate=1970", ""},
		{"birthdate=1990-06-15", "u1"},
		{"birthdate=lt1980", ""},
		{"gender=female", ""},
		{"gender=male", "u1"},
		{"identifier=http://example.org/mrn|A", ""},
		{"identifier:missing=true", "u1 u2"},
		{"_sort=family", "u1 u2"},
		{"_sort=-_lastUpdated", "u1 u2"},
		{"_lastUpdated=gt" + instant(last.LastUpdated), "u1"},
	} {
		e.expectSearch(t, s, "Patient", "", c[0], c[1])
	}
	e.expectSearch(t, s, "Appointment", "", "patient.family=old", "")
	e.expectSearch(t, s, "Appointment", "", "patient.family=aardvark", "v1")

	// The appointment moves to u2.
	e.update(t, s, `{"resourceType":"Appointment","id":"v1","status":"booked","start":"2024-01-02T10:00:00Z","participant":[{"actor":{"reference":"Patient/u2"},"status":"accepted"}]}`)
	e.expectSearch(t, s, "Appointment", "", "patient=u1", "")
	e.expectSearch(t, s, "Appointment", "", "patient=u2", "v1")
	e.expectSearch(t, s, "Appointment", "", "date=2024-01-01", "")
	e.expectSearch(t, s, "Appointment", "", "date=2024-01-02", "v1")
	e.expectSearch(t, s, "Appointment", "Patient/u1", "", "")
	e.expectSearch(t, s, "Appointment", "Patient/u2", "", "v1")
	e.expectSearch(t, s, "Patient", "", "_has:Appointment:patient:status=booked", "u2")

	// Several dates replaced by one.
	e.update(t, s, `{"resourceType":"AllergyIntolerance","id":"w1","patient":{"reference":"Patient/u1"},"reaction":[{"manifestation":[{"text":"rash"}],"onset":"2015"}]}`)
	e.expectSearch(t, s, "AllergyIntolerance", "", "onset=2004", "")
	e.expectSearch(t, s, "AllergyIntolerance", "", "onset=2010", "")
	e.expectSearch(t, s, "AllergyIntolerance", "", "onset=2015", "w1")
	e.expectSearch(t, s, "AllergyIntolerance", "", "onset=lt2014", "")

	// Updated in a transaction.
	w := e.write(t, `{"resourceType":"Patient","id":"u2","name":[{"family":"Zed"}]}`)
	if _, err := s.Transact(ctx, []storage.TxOp{{Kind: storage.TxUpdate, Write: w}}); err != nil {
		t.Fatal(err)
	}
	e.expectSearch(t, s, "Patient", "", "family=nancy", "")
	e.expectSearch(t, s, "Patient", "", "family=zed", "u2")
	e.expectSearch(t, s, "Appointment", "", "patient.family=zed", "v1")
}

// testSearchPagingConcurrentInserts walks the pages of searches while matching resources are created
// between page fetches: every resource that matched before the walk appears exactly once; new ones may
// appear or not, but never twice. (No concurrency primitives are needed: the writes happen between two
// page requests of the same walk, which is what concurrent clients do to a paging client.)
func testSearchPagingConcurrentInserts(t *testing.T, e *searchEnv, s storage.Store, _ *fixture) {
	for i := 1; i <= 9; i++ {
		e.create(t, s, fmt.Sprintf(`{"resourceType":"Patient","id":"w%d0","name":[{"family":"Walker","given":["G%d"]}],"birthDate":"%d"}`,
			i, (i*7)%10, 1950+(i*37)%50))
	}
	e.create(t, s, `{"resourceType":"Patient","id":"w00","name":[{"family":"Other"}]}`)
	n := 0
	insert := func() {
		// Ids, names and dates before, among and after the existing ones.
		for _, id := range []string{"w05", "w45", "w95"} {
			n++
			e.create(t, s, fmt.Sprintf(`{"resourceType":"Patient","id":"%s-%d","name":[{"family":"Walker","given":["%c%d"]}],"birthDate":"%d"}`,
				id, n, "AMZ"[n%3], n, 1900+n*13%200))
		}
	}
	for _, raw := range []string{
		"family=walker&_count=3",
		"family=walker&_count=2&_sort=birthdate",
		"family=walker&_count=3&_sort=-_lastUpdated",
		"family=walker&_count=4&_sort=_lastUpdated",
		"family=walker&_count=2&_sort=-given",
		"family=walker&_count=3&_sort=-_id",
	} {
		t.Run(raw, func(t *testing.T) {
			before := map[string]bool{}
			for _, v := range search1(t, s, e.query(t, "Patient", "", "family=walker&_count=1000")).Versions {
				before[v.ID] = true
			}
			created := n
			seen := map[string]int{}
			// Inserts before each of the first three pages after the first (new resources may land ahead
			// of the cursor: inserting before every page would never end the walk).
			between := func(page int) {
				if page <= 3 {
					insert()
				}
			}
			for _, p := range e.walkForward(t, s, "Patient", "", raw, between) {
				for _, v := range p.Versions {
					seen[v.ID]++
				}
			}
			if n == created {
				t.Fatal("nothing was inserted during the walk")
			}
			for id := range before {
				if seen[id] != 1 {
					t.Errorf("%s, which existed before the walk, appeared %d times", id, seen[id])
				}
			}
			for id, k := range seen {
				if k > 1 {
					t.Errorf("%s appeared %d times", id, k)
				}
				if id == "w00" {
					t.Errorf("%s does not match", id)
				}
			}
		})
	}
}
