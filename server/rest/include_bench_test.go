package rest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/event"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/mongo"
	"github.com/careflow/careflow/storage/mongo/mongotest"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// separateReads hides the store's ReadConsistent: page and includes are separate reads, as before.
type separateReads struct{ storage.Store }

// BenchmarkIncludeSearch: GET AllergyIntolerance?_include=AllergyIntolerance:patient&_count=50 (50 matches,
// 50 includes) with page and includes read as one ("consistent") and as separate reads ("separate"), on
// both stores; on MongoDB it also reports the database commands per search.
//
//	CAREFLOW_TEST_MONGODB_URI=mongodb://127.0.0.1:27017/ go test -run XXX -bench BenchmarkIncludeSearch -count 5 ./server/rest
func BenchmarkIncludeSearch(b *testing.B) {
	v, reg := r4test.Validator(b), r4test.Load(b).Registry
	var cmds atomic.Int64
	stores := []struct {
		name string
		open func(b *testing.B) storage.Store
	}{
		{"sqlite", func(b *testing.B) storage.Store { return sqlitetest.Open(b) }},
		{"mongo", func(b *testing.B) storage.Store {
			if os.Getenv("CAREFLOW_TEST_MONGODB_URI") == "" {
				b.Skip("CAREFLOW_TEST_MONGODB_URI is not set")
			}
			monitor := &event.CommandMonitor{Started: func(context.Context, *event.CommandStartedEvent) { cmds.Add(1) }}
			return mongotest.OpenWith(b, mongo.Options{Types: definitions.ResourceTypes, Registry: reg, Monitor: monitor})
		}},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			store := st.open(b)
			handlers := map[string]http.Handler{}
			for mode, s := range map[string]storage.Store{"consistent": store, "separate": separateReads{store}} {
				handlers[mode] = handler(b, testConfig{}, s, v, reg)
			}
			do := func(method, path, body string) *httptest.ResponseRecorder {
				req := httptest.NewRequest(method, "/fhir"+path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/fhir+json")
				w := httptest.NewRecorder()
				handlers["consistent"].ServeHTTP(w, req)
				return w
			}
			for i := 0; i < 50; i++ {
				p := fmt.Sprintf(`{"resourceType":"Patient","id":"bp%d","name":[{"family":"F%d"}]}`, i, i)
				if w := do("PUT", fmt.Sprintf("/Patient/bp%d", i), p); w.Code >= 300 {
					b.Fatalf("PUT: %d %s", w.Code, w.Body)
				}
				a := fmt.Sprintf(`{"resourceType":"AllergyIntolerance","id":"ba%d","patient":{"reference":"Patient/bp%d"},"code":{"text":"peanut"}}`, i, i)
				if w := do("PUT", fmt.Sprintf("/AllergyIntolerance/ba%d", i), a); w.Code >= 300 {
					b.Fatalf("PUT: %d %s", w.Code, w.Body)
				}
			}
			for _, mode := range []string{"separate", "consistent"} {
				b.Run(mode, func(b *testing.B) {
					h := handlers[mode]
					cmds.Store(0)
					for i := 0; i < b.N; i++ {
						req := httptest.NewRequest("GET", "/fhir/AllergyIntolerance?_include=AllergyIntolerance:patient&_count=50", nil)
						w := httptest.NewRecorder()
						h.ServeHTTP(w, req)
						if w.Code != http.StatusOK || strings.Count(w.Body.String(), `"mode":"include"`) != 50 {
							b.Fatalf("search: %d %.300s", w.Code, w.Body)
						}
					}
					if st.name == "mongo" {
						b.ReportMetric(float64(cmds.Load())/float64(b.N), "cmds/op")
					}
				})
			}
		})
	}
}
