package rest_test

import (
	"strings"
	"testing"
)

func issueCodes(t *testing.T, r *response) string {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("$validate: %d %s", r.status, r.body)
	}
	var codes []string
	for _, is := range asSlice(r.json(t)["issue"]) {
		is := is.(map[string]any)
		codes = append(codes, is["severity"].(string)+":"+is["code"].(string))
	}
	return strings.Join(codes, ",")
}

func TestValidateOperation(t *testing.T) {
	c := dataset(t)
	if got := issueCodes(t, c.do("POST", "/Patient/$validate", patientBody)); got != "information:informational" {
		t.Errorf("valid patient: %s", got)
	}
	bad := strings.Replace(patientBody, `"male"`, `"robot"`, 1)
	if got := issueCodes(t, c.do("POST", "/Patient/$validate", bad)); got != "error:value" {
		t.Errorf("invalid patient: %s", got)
	}
	params := `{"resourceType":"Parameters","parameter":[{"name":"mode","valueCode":"update"},{"name":"resource","resource":` + strings.Replace(patientBody, `"Patient",`, `"Patient","id":"p9",`, 1) + `}]}`
	if got := issueCodes(t, c.do("POST", "/Patient/p1/$validate", params)); got != "error:invalid" {
		t.Errorf("update mode with another id: %s", got)
	}
	if got := issueCodes(t, c.do("GET", "/Patient/p1/$validate?mode=delete", "")); got != "information:informational" {
		t.Errorf("delete mode: %s", got)
	}
	if got := issueCodes(t, c.do("GET", "/Patient/nobody/$validate?mode=delete", "")); got != "warning:not-found" {
		t.Errorf("delete mode of a missing resource: %s", got)
	}
	expectOutcome(t, c.do("POST", "/Patient/$validate?mode=bogus", patientBody), 400, "invalid", "mode")
	expectOutcome(t, c.do("POST", "/Patient/$validate?mode=update", patientBody), 400, "invalid", "mode")
	// Nothing was stored by validating.
	if got := ids(t, c, "Patient?gender=male"); got != "p2" {
		t.Errorf("$validate stored something: %s", got)
	}
}
