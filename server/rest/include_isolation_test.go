package rest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/mongo"
	"github.com/careflow/careflow/storage/mongo/mongotest"
	"github.com/careflow/careflow/storage/rules"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// interleaving is a store that, right after the first search of type page returns, calls between —
// so that a transaction commits between a search page and its _include/_revinclude. Its ReadConsistent
// is the wrapped store's.
type interleaving struct {
	storage.Store
	page    string
	between func()
	fired   atomic.Bool
}

func (s *interleaving) Search(ctx context.Context, q *search.Query) (*storage.SearchPage, error) {
	page, err := s.Store.Search(ctx, q)
	if err == nil && q.Type == s.page && s.fired.CompareAndSwap(false, true) {
		s.between()
	}
	return page, err
}

func (s *interleaving) ReadConsistent(ctx context.Context, types []string, read func(ctx context.Context) error) error {
	return s.Store.(interface {
		ReadConsistent(ctx context.Context, types []string, read func(ctx context.Context) error) error
	}).ReadConsistent(ctx, types, read)
}

// TestIncludeSeesATransactionWholeOrNot: a transaction Bundle that gives a patient and its allergy a new
// marker commits between a search page and its includes — AllergyIntolerance?_include=
// AllergyIntolerance:patient and Patient?_revinclude=AllergyIntolerance:patient — and the Bundle's match
// and include carry the same marker, on both stores, through the rules wrapper careflow runs with.
func TestIncludeSeesATransactionWholeOrNot(t *testing.T) {
	v, reg := r4test.Validator(t), r4test.Load(t).Registry
	stores := map[string]func(t *testing.T) storage.Store{
		"sqlite": func(t *testing.T) storage.Store { return sqlitetest.Open(t) },
		"mongo": func(t *testing.T) storage.Store {
			if os.Getenv("CAREFLOW_TEST_MONGODB_URI") == "" {
				t.Skip("MongoDB store not tested: CAREFLOW_TEST_MONGODB_URI is not set")
			}
			return mongotest.OpenWith(t, mongo.Options{Types: definitions.ResourceTypes, Registry: reg, RecoveryInterval: -1})
		},
	}
	searches := map[string]string{
		"AllergyIntolerance": "/AllergyIntolerance?_include=AllergyIntolerance:patient",
		"Patient":            "/Patient?_revinclude=AllergyIntolerance:patient",
	}
	for name, open := range stores {
		for page, query := range searches {
			t.Run(name+"/"+page, func(t *testing.T) {
				var c *client
				marker := 0
				transact := func() {
					marker++
					m := string(rune('a' + marker))
					bundle := `{"resourceType":"Bundle","type":"transaction","entry":[` +
						`{"resource":{"resourceType":"Patient","id":"ip","name":[{"family":"` + m + `"}]},"request":{"method":"PUT","url":"Patient/ip"}},` +
						`{"resource":{"resourceType":"AllergyIntolerance","id":"ia","patient":{"reference":"Patient/ip"},"code":{"text":"` + m + `"}},"request":{"method":"PUT","url":"AllergyIntolerance/ia"}}]}`
					if r := c.do("POST", "", bundle); r.status != http.StatusOK {
						t.Errorf("transaction: %d %s", r.status, r.body)
					}
				}
				store := &interleaving{Store: rules.New(open(t), nil), page: page, between: func() {}}
				ts := httptest.NewServer(handler(t, testConfig{}, store, v, reg))
				t.Cleanup(ts.Close)
				c = &client{t: t, base: ts.URL + "/fhir", root: ts.URL}
				transact()
				store.between = transact

				r := c.do("GET", query, "")
				if r.status != http.StatusOK {
					t.Fatalf("GET %s: %d %s", query, r.status, r.body)
				}
				if !store.fired.Load() {
					t.Fatal("no transaction committed during the search")
				}
				var b struct {
					Entry []struct {
						Resource struct {
							ResourceType string
							Name         []struct{ Family string }
							Code         struct{ Text string }
						}
						Search struct{ Mode string }
					}
				}
				if err := json.Unmarshal(r.body, &b); err != nil {
					t.Fatal(err)
				}
				got := map[string]string{}
				for _, e := range b.Entry {
					switch rs := e.Resource; rs.ResourceType {
					case "Patient":
						got["Patient"] = e.Search.Mode + " " + rs.Name[0].Family
					case "AllergyIntolerance":
						got["AllergyIntolerance"] = e.Search.Mode + " " + rs.Code.Text
					}
				}
				p, a := got["Patient"], got["AllergyIntolerance"]
				if len(b.Entry) != 2 || p == "" || a == "" || p[len(p)-1] != a[len(a)-1] {
					t.Errorf("GET %s with a transaction committing between page and include: patient %q, allergy %q (%d entries), want the same marker", query, p, a, len(b.Entry))
				}
			})
		}
	}
}
