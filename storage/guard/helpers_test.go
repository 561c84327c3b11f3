package guard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// fill stores n Patients in transactions of 500.
func fill(t testing.TB, s storage.Store, reg *search.Registry, n int) {
	t.Helper()
	fillRange(t, s, reg, 0, n)
}

// fillRange stores the Patients p<from> … p<to-1> of fill.
func fillRange(t testing.TB, s storage.Store, reg *search.Registry, from, to int) {
	t.Helper()
	ctx := context.Background()
	var ops []storage.TxOp
	add := func(typ, id, body string) {
		var tree map[string]any
		if err := json.Unmarshal([]byte(body), &tree); err != nil {
			t.Fatal(err)
		}
		index, err := reg.Index(typ, tree)
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, storage.TxOp{Kind: storage.TxUpdate, Write: storage.Write{Type: typ, ID: id, Body: []byte(body), Index: index}})
		if len(ops) == 500 {
			if _, err := s.Transact(ctx, ops); err != nil {
				t.Fatal(err)
			}
			ops = nil
		}
	}
	for i := from; i < to; i++ {
		add("Patient", fmt.Sprintf("p%d", i), fmt.Sprintf(`{"resourceType":"Patient","id":"p%d","name":[{"family":"Family%d","given":["Given%d"]}],"birthDate":"19%02d-01-01"}`, i, i, i, i%100))
	}
	if len(ops) > 0 {
		if _, err := s.Transact(ctx, ops); err != nil {
			t.Fatal(err)
		}
	}
}

// slowQuery is a search whose cost grows with values × patients: Patient?name:contains= with n distinct
// values none of which matches, each a substring scan of every name.
func slowQuery(t testing.TB, reg *search.Registry, n int) *search.Query {
	t.Helper()
	vals := make([]string, n)
	for i := range vals {
		vals[i] = fmt.Sprintf("zq%d", i)
	}
	q, err := reg.Parse("Patient", url.Values{"name:contains": {strings.Join(vals, ",")}, "_total": {"accurate"}}, search.ParseOptions{DefaultCount: 50, MaxCount: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return q
}
