package search

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/careflow/careflow/fhir/outcome"
)

// TestParseMaxValues: a search holds at most MaxValues values over all its parameters (repeated ones
// included); beyond, 400 too-costly naming the limit. Ignored parameters do not count.
func TestParseMaxValues(t *testing.T) {
	r := testRegistry(t)
	values := func(n int) string { return strings.TrimSuffix(strings.Repeat("x,", n), ",") }
	half := MaxValues / 2
	at := url.Values{"name": {values(half - 1), "y"}, "family": {values(MaxValues - half)}, "unknown-param": {values(MaxValues)}}
	q, err := r.Parse("Patient", at, ParseOptions{})
	if err != nil {
		t.Fatalf("%d values: %v", MaxValues, err)
	}
	if len(q.Criteria) != 3 {
		t.Fatalf("criteria %d, want 3", len(q.Criteria))
	}
	at["name"] = append(at["name"], "z")
	_, err = r.Parse("Patient", at, ParseOptions{})
	if err == nil || err.Status != http.StatusBadRequest || err.Issues[0].Code != outcome.CodeTooCostly ||
		!strings.Contains(err.Issues[0].Diagnostics, "at most 1000 values") {
		t.Fatalf("%d values: %v %+v", MaxValues+1, err, err)
	}
}
