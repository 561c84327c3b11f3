package storagetest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// RunSearch runs the search conformance suite. open must return an empty store serving
// definitions.ResourceTypes whose search uses reg.
//
// Queries are parsed from query strings by the real parser (search.Registry.Parse) and resources are
// indexed by search.Registry.Index, exactly as server/rest does, so that the suite checks what a client
// gets: every case asserts the exact ordered ids (default order: by id) and the total. Expected results
// follow http://hl7.org/fhir/R4/search.html; where the specification leaves a choice, they pin careflow's
// (documented next to the case) so that every store makes the same one.
func RunSearch(t *testing.T, open func(t *testing.T, reg *search.Registry) storage.Store) {
	defs := r4test.Load(t)
	reg := defs.Registry
	env := &searchEnv{reg: reg, comps: defs.Compartments}
	t.Run("Fixture", func(t *testing.T) {
		s := open(t, reg)
		fx := loadFixture(t, s, reg)
		for _, g := range searchGroups {
			t.Run(g.name, func(t *testing.T) {
				for _, c := range g.cases {
					env.check(t, s, fx, c)
				}
			})
		}
		for _, nt := range fixturePagingTests {
			t.Run(nt.name, func(t *testing.T) { nt.f(t, env, s, fx) })
		}
	})
	for _, nt := range mutationSearchTests {
		t.Run(nt.name, func(t *testing.T) { nt.f(t, env, open(t, reg), nil) })
	}
}

// searchEnv is what the search tests share: the registry and the compartments.
type searchEnv struct {
	reg   *search.Registry
	comps *search.Compartments
}

// write indexes a resource as server/rest does (JSON decoded with UseNumber, then Registry.Index).
func (e *searchEnv) write(t *testing.T, body string) storage.Write {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var tree map[string]any
	if err := dec.Decode(&tree); err != nil {
		t.Fatalf("fixture %s: %v", body, err)
	}
	typ, _ := tree["resourceType"].(string)
	id, _ := tree["id"].(string)
	index, err := e.reg.Index(typ, tree)
	if err != nil {
		t.Fatalf("index %s/%s: %v", typ, id, err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(body)); err != nil {
		t.Fatal(err)
	}
	return storage.Write{Type: typ, ID: id, Body: compact.Bytes(), Index: index}
}

func (e *searchEnv) create(t *testing.T, s storage.Store, body string) *storage.Version {
	t.Helper()
	w := e.write(t, body)
	v, err := s.Create(context.Background(), w)
	if err != nil {
		t.Fatalf("create %s/%s: %v", w.Type, w.ID, err)
	}
	return v
}

func (e *searchEnv) update(t *testing.T, s storage.Store, body string) *storage.Version {
	t.Helper()
	w := e.write(t, body)
	v, _, err := s.Update(context.Background(), w, storage.Precondition{})
	if err != nil {
		t.Fatalf("update %s/%s: %v", w.Type, w.ID, err)
	}
	return v
}

// query parses a search as GET [base]/[typ]?[raw] (in, when set, is a compartment "Patient/id": GET
// [base]/Patient/id/[typ]?[raw]).
func (e *searchEnv) query(t *testing.T, typ, in, raw string) *search.Query {
	t.Helper()
	vals, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("query %q: %v", raw, err)
	}
	q, oerr := e.reg.Parse(typ, vals, search.ParseOptions{DefaultCount: 50})
	if oerr != nil {
		t.Fatalf("parse %s?%s: %v", typ, raw, oerr)
	}
	if len(q.Ignored) > 0 {
		t.Fatalf("parse %s?%s ignored %+v", typ, raw, q.Ignored)
	}
	if in != "" {
		ctyp, id, _ := strings.Cut(in, "/")
		cmp, ok := e.comps.Lookup(ctyp, id, typ)
		if !ok {
			t.Fatalf("%s is not in the %s compartment", typ, ctyp)
		}
		q.Compartment = cmp
	}
	return q
}

// search runs q and returns the page, failing the test on an error.
func search1(t *testing.T, s storage.Store, q *search.Query) *storage.SearchPage {
	t.Helper()
	page, err := s.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("search %s: %v", q.Type, err)
	}
	return page
}

func ids(vs []*storage.Version) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.ID
	}
	return strings.Join(out, " ")
}

// searchCase is one search and its exact result. Query is the query string as a client sends it; in
// it "{Type/id}" is replaced by that fixture resource's meta.lastUpdated (millisecond precision).
type searchCase struct {
	typ   string // the searched type, or for a compartment search "Patient/id/Type"
	query string
	want  string // ids in order, space-separated
}

// inCase is a compartment search: GET [base]/[in]/[typ]?[query].
func inCase(in, typ, query, want string) searchCase {
	return searchCase{typ: in + "/" + typ, query: query, want: want}
}

// namedSearchTest is a search test that is not a table of cases; fx is nil for the tests that get an
// empty store of their own.
type namedSearchTest struct {
	name string
	f    func(t *testing.T, e *searchEnv, s storage.Store, fx *fixture)
}

type searchGroup struct {
	name  string
	cases []searchCase
}

// check runs one case and asserts the ids, in order, and the total (the number of matches, or -1 with
// _total=none).
func (e *searchEnv) check(t *testing.T, s storage.Store, fx *fixture, c searchCase) {
	t.Helper()
	raw := fx.expand(t, c.query)
	name := c.typ + "?" + c.query
	typ, in := c.typ, ""
	if i := strings.LastIndexByte(typ, '/'); i >= 0 {
		typ, in = typ[i+1:], typ[:i]
	}
	q := e.query(t, typ, in, raw)
	page, err := s.Search(context.Background(), q)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	got := ids(page.Versions)
	if got != c.want {
		t.Errorf("%s\n got [%s]\nwant [%s]", name, got, c.want)
	}
	want := len(strings.Fields(c.want))
	if q.Total == "none" {
		want = -1
	}
	if page.Total != want {
		t.Errorf("%s: total %d, want %d", name, page.Total, want)
	}
	if page.Next != "" || page.Prev != "" {
		t.Errorf("%s: one page of %d has links next=%q prev=%q", name, len(page.Versions), page.Next, page.Prev)
	}
}

// fixture is the loaded fixture: the lastUpdated the store gave each resource.
type fixture struct {
	lastUpdated map[string]time.Time // "Type/id" →
}

// expand replaces each {Type/id} in a query by that resource's lastUpdated.
func (fx *fixture) expand(t *testing.T, q string) string {
	t.Helper()
	for {
		i := strings.IndexByte(q, '{')
		if i < 0 {
			return q
		}
		j := strings.IndexByte(q[i:], '}')
		if j < 0 {
			t.Fatalf("bad placeholder in %s", q)
		}
		key := q[i+1 : i+j]
		lu, ok := fx.lastUpdated[key]
		if !ok {
			t.Fatalf("no fixture resource %s", key)
		}
		q = q[:i] + url.QueryEscape(lu.UTC().Format("2006-01-02T15:04:05.000Z07:00")) + q[i+j+1:]
	}
}

// loadFixture creates the fixture resources, in order, and records their lastUpdated.
func loadFixture(t *testing.T, s storage.Store, reg *search.Registry) *fixture {
	t.Helper()
	e := &searchEnv{reg: reg}
	fx := &fixture{lastUpdated: map[string]time.Time{}}
	var prev time.Time
	for _, body := range fixtureResources {
		v := e.create(t, s, body)
		if !v.LastUpdated.After(prev) {
			t.Fatalf("lastUpdated of %s/%s (%v) is not after the previous create's (%v)", v.Type, v.ID, v.LastUpdated, prev)
		}
		prev = v.LastUpdated
		fx.lastUpdated[v.Type+"/"+v.ID] = v.LastUpdated
	}
	return fx
}
