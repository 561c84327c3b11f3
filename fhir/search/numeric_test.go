package search

import (
	"encoding/json"
	"math"
	"net/url"
	"sort"
	"strings"
	"testing"
)

// TestNumericIndexAndConditions: what the indexer extracts for numbers, Quantities and Ranges, and which
// search values match it (NumCond.Matches states the stores' comparison), per search.html#number and
// #quantity.
func TestNumericIndexAndConditions(t *testing.T) {
	r := testRegistry(t)
	index := func(body string) map[string]any {
		t.Helper()
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		var tree map[string]any
		if err := dec.Decode(&tree); err != nil {
			t.Fatal(err)
		}
		idx, err := r.Index(tree["resourceType"].(string), tree)
		if err != nil {
			t.Fatal(err)
		}
		return idx
	}
	matches := func(typ string, idx map[string]any, query string) bool {
		t.Helper()
		q, oerr := r.Parse(typ, mustQuery(t, query), ParseOptions{Strict: true})
		if oerr != nil {
			t.Fatalf("%s: %v", query, oerr)
		}
		c := q.Criteria[0]
		keys, _ := idx[c.Param.Field+SuffixNumeric].([]NumKey)
		for _, cond := range NumConds(c) {
			for _, k := range keys {
				for _, u := range cond.Units {
					if k.U == u && cond.Matches(k.Lo, k.Hi) {
						return true
					}
				}
			}
		}
		return false
	}
	obs := index(`{"resourceType":"Observation","status":"final","code":{"text":"x"},
		"valueQuantity":{"value":5.4,"unit":"gram","system":"http://unitsofmeasure.org","code":"g"}}`)
	keys := obs["s_value_quantity"+SuffixNumeric].([]NumKey)
	var us []string
	for _, k := range keys {
		us = append(us, k.U)
	}
	want := []string{"", "c:g", "c:gram", "k:0,0,1,0,0,0,0", "s:http://unitsofmeasure.org|g"}
	sort.Strings(us)
	if strings.Join(us, " ") != strings.Join(want, " ") {
		t.Errorf("unit keys %q, want %q", us, want)
	}
	for q, want := range map[string]bool{
		"value-quantity=5.4": true,
		"value-quantity=5":   true, // [4.5, 5.5)
		"value-quantity=5.0": false,
		"value-quantity=5400|http://unitsofmeasure.org|mg":   true,
		"value-quantity=5.4e-3|http://unitsofmeasure.org|kg": true,
		"value-quantity=5.4|http://unitsofmeasure.org|mL":    false, // volume, not mass
		"value-quantity=5.4||gram":                           true,
		"value-quantity=gt5.39|http://unitsofmeasure.org|g":  true,
		"value-quantity=lt5.4":                               false,
		"value-quantity=le5.4":                               true,
		"value-quantity=ap5.9":                               true, // 5.9 ± 0.59
		"value-quantity=ap6.1":                               false,
	} {
		if got := matches("Observation", obs, q); got != want {
			t.Errorf("%s: match %v, want %v", q, got, want)
		}
	}
	// A Range (useContext) is [low, high]; an open end reaches ±MaxFloat64.
	vs := index(`{"resourceType":"ValueSet","status":"active","useContext":[{"code":{"code":"age"},
		"valueRange":{"low":{"value":18,"system":"http://unitsofmeasure.org","code":"a"}}}]}`)
	for q, want := range map[string]bool{
		"context-quantity=gt100":                               true,
		"context-quantity=lt18":                                false,
		"context-quantity=le18":                                true,
		"context-quantity=18":                                  false, // the range is not within [17.5, 18.5)
		"context-quantity=gt1000|http://unitsofmeasure.org|wk": true,
	} {
		if got := matches("ValueSet", vs, q); got != want {
			t.Errorf("%s: match %v, want %v", q, got, want)
		}
	}
	for _, k := range vs["s_context_quantity"+SuffixNumeric].([]NumKey) {
		if k.Hi != math.MaxFloat64 {
			t.Errorf("open high of %q: %v", k.U, k.Hi)
		}
	}
}

// TestNumSortKey: the keys sort as the numbers.
func TestNumSortKey(t *testing.T) {
	nums := []float64{-math.MaxFloat64, -1e10, -2.5, -1, -1e-300, 0, 1e-300, 0.3, 1, 2.5, 1e10, math.MaxFloat64}
	for i := 1; i < len(nums); i++ {
		if a, b := NumSortKey(nums[i-1]), NumSortKey(nums[i]); a >= b {
			t.Errorf("NumSortKey(%v) = %s >= NumSortKey(%v) = %s", nums[i-1], a, nums[i], b)
		}
	}
	for _, f := range nums {
		if g, ok := ParseNumSortKey(NumSortKey(f)); !ok || g != f {
			t.Errorf("ParseNumSortKey(NumSortKey(%v)) = %v, %v", f, g, ok)
		}
	}
}

// TestHalfUnit: the precision a written decimal denotes.
func TestHalfUnit(t *testing.T) {
	for s, want := range map[string]string{"100": "1/2", "100.00": "1/200", "1e2": "50", "2.0": "1/20", "1.5e-3": "1/20000", "-3": "1/2"} {
		if got := halfUnit(s).RatString(); got != want {
			t.Errorf("halfUnit(%s) = %s, want %s", s, got, want)
		}
	}
}

func mustQuery(t *testing.T, q string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
