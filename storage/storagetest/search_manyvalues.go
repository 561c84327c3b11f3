package storagetest

import (
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// RunSearchManyValues runs every case of the search conformance suite (RunSearch's fixture and cases)
// with the values of its first search parameter repeated up to search.MaxValues values in all: an OR of a
// value with itself changes no result, so each case must give its exact ids and total, while the store
// gets a criterion as large as a client may send (issue 12 item 4: SQLite refused an OR of 1,000 terms
// and more than 32766 bound values). open is as for RunSearch.
func RunSearchManyValues(t *testing.T, open func(t *testing.T, reg *search.Registry) storage.Store) {
	defs := r4test.Load(t)
	env := &searchEnv{reg: defs.Registry, comps: defs.Compartments}
	s := open(t, defs.Registry)
	fx := loadFixture(t, s, defs.Registry)
	for _, g := range searchGroups {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				padded, ok := padValues(t, fx.expand(t, c.query))
				if !ok {
					continue
				}
				c.query = padded
				env.check(t, s, fx, c)
			}
		})
	}
}

// padValues repeats the value of the query's first search parameter (by name) so that the query holds
// search.MaxValues values; false when the query has no search parameter.
func padValues(t *testing.T, raw string) (string, bool) {
	t.Helper()
	vals, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("query %q: %v", raw, err)
	}
	count := func(v string) int { return strings.Count(v, ",") - strings.Count(v, `\,`) + 1 }
	var names []string
	total := 0
	for name, vs := range vals {
		if strings.HasPrefix(name, "_") && !strings.HasPrefix(name, "_has:") &&
			!strings.HasPrefix(name, "_id") && !strings.HasPrefix(name, "_lastUpdated") &&
			!strings.HasPrefix(name, "_tag") && !strings.HasPrefix(name, "_profile") &&
			!strings.HasPrefix(name, "_security") && !strings.HasPrefix(name, "_source") {
			continue // _count, _sort, _include, …: not values
		}
		names = append(names, name)
		for _, v := range vs {
			total += count(v)
		}
	}
	if len(names) == 0 {
		return "", false
	}
	sort.Strings(names)
	v := vals[names[0]][0]
	n := count(v)
	k := (search.MaxValues - (total - n)) / n
	vals[names[0]][0] = strings.TrimSuffix(strings.Repeat(v+",", k), ",")
	return vals.Encode(), true
}
