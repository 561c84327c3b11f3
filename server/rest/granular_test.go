package rest_test

import (
	"net/http"
	"strings"
	"testing"
)

// categorised is an AllergyIntolerance of patient p with a category.
func categorised(id, p, category, status string) string {
	idField := ""
	if id != "" {
		idField = `"id":"` + id + `",`
	}
	return `{"resourceType":"AllergyIntolerance",` + idField + `"patient":{"reference":"Patient/` + p + `"},"category":["` + category +
		`"],"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"` + status + `"}]},"code":{"text":"x"}}`
}

// TestGranularScopes: a scope with a query (SMART v2 granular scopes) allows an interaction only on
// resources matching its query: reads, vreads and writes of others are 403, searches and history find only
// matching resources (the union counts food-A, food-B, the food allergy created and med-A; the patient/
// one food-A and the created one), several scopes on one parameter are their union, and a query careflow cannot enforce
// grants nothing.
func TestGranularScopes(t *testing.T) {
	a := newAuthServer(t)
	admin := a.token(t, "system/*.cruds", "")
	for path, body := range map[string]string{
		"Patient/A":                    `{"resourceType":"Patient","id":"A","name":[{"family":"FamA"}]}`,
		"Patient/B":                    `{"resourceType":"Patient","id":"B","name":[{"family":"FamB"}]}`,
		"AllergyIntolerance/food-A":    categorised("food-A", "A", "food", "active"),
		"AllergyIntolerance/food-B":    categorised("food-B", "B", "food", "active"),
		"AllergyIntolerance/med-A":     categorised("med-A", "A", "medication", "active"),
		"AllergyIntolerance/env-A":     categorised("env-A", "A", "environment", "inactive"),
		"AllergyIntolerance/food-gone": categorised("food-gone", "A", "food", "active"),
	} {
		if r := a.as(admin, "PUT", "/"+path, body); r.status != 201 {
			t.Fatalf("PUT %s: %d %s", path, r.status, r.body)
		}
	}
	food := a.token(t, "user/Patient.rs user/AllergyIntolerance.cruds?category=food", "")
	foodOrMed := a.token(t, "user/Patient.rs user/AllergyIntolerance.rs?category=food user/AllergyIntolerance.rs?category=medication", "")
	foodOrActive := a.token(t, "user/AllergyIntolerance.rs?category=food user/AllergyIntolerance.rs?clinical-status=active", "")
	unknown := a.token(t, "user/AllergyIntolerance.rs?nosuch=x", "")
	patientFood := a.token(t, "patient/AllergyIntolerance.rs?category=food patient/Patient.rs", "A")
	tx := func(method, url, body string) string {
		res := ""
		if body != "" {
			res = `"resource":` + body + `,`
		}
		return `{"resourceType":"Bundle","type":"transaction","entry":[{` + res + `"request":{"method":"` + method + `","url":"` + url + `"}}]}`
	}
	for _, c := range []struct {
		name, tok, method, path, body string
		status                        int
		has, hasNot                   []string
	}{
		{"read matching", food, "GET", "/AllergyIntolerance/food-A", "", 200, []string{`"id":"food-A"`}, nil},
		{"read not matching", food, "GET", "/AllergyIntolerance/med-A", "", 403, nil, []string{"medication"}},
		{"vread matching", food, "GET", "/AllergyIntolerance/food-A/_history/1", "", 200, []string{`"id":"food-A"`}, nil},
		{"vread not matching", food, "GET", "/AllergyIntolerance/med-A/_history/1", "", 403, nil, []string{"medication"}},
		{"history of a non-matching resource", food, "GET", "/AllergyIntolerance/med-A/_history", "", 403, nil, []string{"medication"}},
		{"type history", food, "GET", "/AllergyIntolerance/_history", "", 200, []string{"food-A"}, []string{"med-A", "env-A"}},
		{"search", food, "GET", "/AllergyIntolerance?_total=accurate", "", 200, []string{`"total":3`, "food-A", "food-B"}, []string{"med-A", "env-A"}},
		{"search for others", food, "GET", "/AllergyIntolerance?category=medication&_total=accurate", "", 200, []string{`"total":0`}, []string{"med-A"}},
		{"revinclude", food, "GET", "/Patient?_id=A&_revinclude=AllergyIntolerance:patient", "", 200, []string{"food-A"}, []string{"med-A", "env-A"}},
		{"everything", food, "GET", "/Patient/A/$everything", "", 200, []string{"food-A"}, []string{"med-A", "env-A"}},
		{"_has through the restricted type", food, "GET", "/Patient?_has:AllergyIntolerance:patient:category=medication", "", 403, nil, []string{"FamA"}},
		{"create matching", food, "POST", "/AllergyIntolerance", categorised("", "A", "food", "active"), 201, nil, nil},
		{"create not matching", food, "POST", "/AllergyIntolerance", categorised("", "A", "medication", "active"), 403, nil, nil},
		{"update to not matching", food, "PUT", "/AllergyIntolerance/food-A", categorised("food-A", "A", "medication", "active"), 403, nil, nil},
		{"update of a non-matching one", food, "PUT", "/AllergyIntolerance/med-A", categorised("med-A", "A", "food", "active"), 403, nil, nil},
		{"update matching", food, "PUT", "/AllergyIntolerance/food-A", categorised("food-A", "A", "food", "inactive"), 200, nil, nil},
		{"delete not matching", food, "DELETE", "/AllergyIntolerance/med-A", "", 403, nil, nil},
		{"delete matching", food, "DELETE", "/AllergyIntolerance/food-gone", "", 204, nil, nil},
		{"batch read not matching", food, "POST", "", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"AllergyIntolerance/med-A"}},{"request":{"method":"GET","url":"AllergyIntolerance?_id=med-A,food-A"}}]}`,
			200, []string{`"403 Forbidden"`, "food-A"}, []string{"medication"}},
		{"transaction writing not matching", food, "POST", "", tx("PUT", "AllergyIntolerance/tx-med", categorised("tx-med", "A", "medication", "active")), 403, nil, nil},
		{"union of scopes on one parameter", foodOrMed, "GET", "/AllergyIntolerance?_total=accurate", "", 200, []string{`"total":4`, "med-A", "food-A"}, []string{"env-A"}},
		{"union: read of either", foodOrMed, "GET", "/AllergyIntolerance/med-A", "", 200, nil, nil},
		{"union: read of neither", foodOrMed, "GET", "/AllergyIntolerance/env-A", "", 403, nil, []string{"environment"}},
		{"union on different parameters: read", foodOrActive, "GET", "/AllergyIntolerance/med-A", "", 200, nil, nil},
		{"union on different parameters: read of neither", foodOrActive, "GET", "/AllergyIntolerance/env-A", "", 403, nil, nil},
		{"union on different parameters: search", foodOrActive, "GET", "/AllergyIntolerance", "", 403, nil, []string{"med-A"}},
		{"unknown parameter", unknown, "GET", "/AllergyIntolerance/food-A", "", 403, []string{"nosuch"}, nil},
		{"patient granular: search", patientFood, "GET", "/AllergyIntolerance?_total=accurate", "", 200, []string{`"total":2`, "food-A"}, []string{"food-B", "med-A"}},
		{"patient granular: read of another patient's", patientFood, "GET", "/AllergyIntolerance/food-B", "", 404, nil, []string{`"category"`}},
		{"patient granular: include", patientFood, "GET", "/Patient?_revinclude=AllergyIntolerance:patient", "", 200, []string{"food-A"}, []string{"food-B", "med-A", "env-A"}},
	} {
		r := a.as(c.tok, c.method, c.path, c.body)
		if r.status != c.status {
			t.Errorf("%s: %s %s: %d, want %d: %.400s", c.name, c.method, c.path, r.status, c.status, r.body)
			continue
		}
		for _, s := range c.has {
			if !strings.Contains(string(r.body), s) {
				t.Errorf("%s: %s %s: no %s in %.600s", c.name, c.method, c.path, s, r.body)
			}
		}
		for _, s := range c.hasNot {
			if strings.Contains(string(r.body), s) {
				t.Errorf("%s: %s %s: leaks %s: %.600s", c.name, c.method, c.path, s, r.body)
			}
		}
	}
	if r := a.as(admin, "GET", "/AllergyIntolerance/tx-med", ""); r.status != http.StatusNotFound {
		t.Errorf("the refused transaction wrote: %d", r.status)
	}
}

// TestUnsupportedScopeQueryIsExplained: a scope whose query careflow does not support (a modifier, a
// chain, a result parameter) grants nothing, and the 403 names it.
func TestUnsupportedScopeQueryIsExplained(t *testing.T) {
	a := newAuthServer(t)
	for _, sc := range []string{"user/AllergyIntolerance.rs?code:in=http://x", "user/AllergyIntolerance.rs?patient.name=x", "user/AllergyIntolerance.rs?_count=1"} {
		r := a.as(a.token(t, sc, ""), "GET", "/AllergyIntolerance", "")
		if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "not valid or use a query careflow does not support") || !strings.Contains(string(r.body), strings.Split(sc, "?")[1]) {
			t.Errorf("%s: %d %s", sc, r.status, r.body)
		}
	}
}
