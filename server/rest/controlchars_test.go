package rest_test

import (
	"net/url"
	"strings"
	"testing"
)

// TestControlCharactersInSearchValues: NUL and other control characters in a search value are the
// client's error (400 with an OperationOutcome), never a 500, on every kind of search parameter.
func TestControlCharactersInSearchValues(t *testing.T) {
	c := dataset(t)
	for _, param := range []string{"identifier", "name", "family", "birthdate", "_id", "gender", "general-practitioner", "_lastUpdated", "_text", "organization.name", "_has:AllergyIntolerance:patient:criticality"} {
		for _, bad := range []string{"\x00", "urn:mrn|\x00", "a\x01b", "x\x7f", "\x1b[0m", "a\u0085b"} {
			q := "/Patient?" + param + "=" + url.QueryEscape(bad)
			r := c.do("GET", c.base+q, "")
			if r.status != 400 || !strings.Contains(string(r.body), `"resourceType":"OperationOutcome"`) {
				t.Errorf("GET %s: %d %s; want 400 with an OperationOutcome", q, r.status, r.body)
			}
		}
	}
	// Tabs are control characters too, but harmless whitespace in a value: a search with one still answers.
	if r := c.do("GET", c.base+"/Patient?name="+url.QueryEscape("Smith\t"), ""); r.status >= 500 {
		t.Errorf("tab in a value: %d %s", r.status, r.body)
	}
}
