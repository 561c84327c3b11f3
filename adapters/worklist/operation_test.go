package worklist_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/careflow/careflow/adapters/summary"
	"github.com/careflow/careflow/adapters/worklist"
	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/server/interaction"
	"github.com/careflow/careflow/server/rest"
	"github.com/careflow/careflow/storage"
)

// TestOperationsOverHTTP serves $worklist and $summary from a careflow server on the fixture data.
func TestOperationsOverHTTP(t *testing.T) {
	e := fixture(t)
	store, ok := e.Store.(storage.Store)
	if !ok {
		t.Fatalf("fixture store %T is not a storage.Store", e.Store)
	}
	svc, err := interaction.New(interaction.Config{Types: definitions.ResourceTypes, Operations: []interaction.Operation{
		worklist.Operation(worklist.New(store, e.Registry)),
		summary.Operation(summary.New(store, e.Registry)),
	}}, store, e.Validator, e.Registry)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rest.New(rest.Config{}, svc, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	get := func(path string) (int, map[string]any) {
		t.Helper()
		res, err := http.Get(srv.URL + "/fhir" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return res.StatusCode, m
	}

	status, b := get("/$worklist?date=2026-12-01")
	if status != 200 || b["type"] != "searchset" {
		t.Fatalf("$worklist: %d %v", status, b)
	}
	var items []string
	for _, en := range b["entry"].([]any) {
		r := en.(map[string]any)["resource"].(map[string]any)
		code := r["code"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"].(string)
		items = append(items, code+" "+r["focus"].(map[string]any)["reference"].(string))
	}
	sort.Strings(items)
	want := "allergy-conflict MedicationStatement/ms1|careplan-activity-not-started CarePlan/cp1|careplan-overdue-activity CarePlan/cp1|" +
		"careplan-period-ended CarePlan/cp1|coverage-gap Patient/p4|follow-up-overdue CarePlan/cp1|rebook-appointment Appointment/ap7"
	if got := strings.Join(items, "|"); got != want {
		t.Errorf("$worklist for 2026-12-01 (due by the end of the day):\n got %s\nwant %s", got, want)
	}
	if status, b := get("/$worklist?date=2026-12-01&code=allergy-conflict&patient=p1"); status != 200 || len(b["entry"].([]any)) != 1 {
		t.Errorf("filtered $worklist: %d %v", status, b)
	}
	// A coordinator completes the allergy conflict with an ordinary FHIR update of the Task it was given.
	var conflict map[string]any
	for _, en := range b["entry"].([]any) {
		r := en.(map[string]any)["resource"].(map[string]any)
		if r["code"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"] == worklist.AllergyConflict {
			conflict = r
		}
	}
	conflict["status"] = "completed"
	body, _ := json.Marshal(conflict)
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/fhir/Task/"+conflict["id"].(string), strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/fhir+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("PUT Task: %d", res.StatusCode)
	}
	if _, b := get("/$worklist?date=2026-12-01&code=allergy-conflict"); b["total"] != float64(0) {
		t.Errorf("completed Task listed again: %v", b)
	}
	if _, b := get("/$worklist?date=2026-12-01&status=completed"); b["total"] != float64(1) ||
		b["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)["meta"] == nil {
		t.Errorf("$worklist?status=completed: %v", b)
	}
	if _, b := get("/Task?status=completed&patient=p1"); b["total"] != float64(1) {
		t.Errorf("Task search: %v", b)
	}

	for path, expr := range map[string]string{
		"/$worklist?status=done":               "status",
		"/$worklist?date=tomorrow":             "date",
		"/$worklist?colour=red":                "colour",
		"/$worklist?code=not-a-code":           "code",
		"/Patient/p1/$summary?x=1":             "x",
		"/Patient/p1/$summary?date=2026-13-01": "date",
	} {
		status, oo := get(path)
		issue := oo["issue"].([]any)[0].(map[string]any)
		if status != 400 || oo["resourceType"] != "OperationOutcome" || issue["expression"].([]any)[0] != expr {
			t.Errorf("%s: %d %v", path, status, oo)
		}
	}

	// As of a day: the Composition is dated that day (deterministic whatever the clock).
	if status, doc := get("/Patient/p1/$summary?date=2026-12-01"); status != 200 ||
		doc["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)["date"] != "2026-12-01T00:00:00Z" {
		t.Errorf("$summary?date=2026-12-01: %d %v", status, doc["entry"].([]any)[0])
	}
	status, doc := get("/Patient/p1/$summary")
	if status != 200 || doc["type"] != "document" {
		t.Fatalf("$summary: %d %v", status, doc)
	}
	first := doc["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
	if first["resourceType"] != "Composition" || first["subject"].(map[string]any)["reference"] == nil {
		t.Errorf("$summary first entry %v", first)
	}
	if status, oo := get("/Patient/nobody/$summary"); status != 404 || oo["resourceType"] != "OperationOutcome" {
		t.Errorf("$summary of a missing patient: %d", status)
	}
	if status, _ := get("/Appointment/ap1/$summary"); status != 404 {
		t.Errorf("$summary on Appointment: %d", status)
	}
	// Both operations can be invoked with POST and a Parameters resource (R4 operations.html#request).
	post := func(path, body string) (int, map[string]any) {
		t.Helper()
		res, err := http.Post(srv.URL+"/fhir"+path, "application/fhir+json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return res.StatusCode, m
	}
	if status, b := post("/$worklist", `{"resourceType":"Parameters","parameter":[{"name":"date","valueDate":"2026-12-01"},{"name":"code","valueString":"rebook-appointment"}]}`); status != 200 ||
		b["total"] != float64(1) {
		t.Errorf("POST $worklist: %d %v", status, b)
	}
	if status, b := post("/Patient/p1/$summary", `{"resourceType":"Parameters","parameter":[{"name":"until","valueDate":"2027-01-31"}]}`); status != 200 || b["type"] != "document" {
		t.Errorf("POST $summary: %d %v", status, b)
	}
	for body, expr := range map[string]string{
		`{"resourceType":"Parameters","parameter":[{"name":"date","valuePeriod":{"start":"2026-12-01"}}]}`: "Parameters.parameter[0].valuePeriod",
		`{"resourceType":"Parameters","parameter":[{"name":"date"}]}`:                                      "Parameters.parameter[0]",
		`{"resourceType":"Patient"}`: "",
		`{"resourceType":"Parameters","parameter":[{"name":"date","valueDate":"soon"}]}`: "date",
	} {
		status, oo := post("/$worklist", body)
		if status != 400 || oo["resourceType"] != "OperationOutcome" {
			t.Errorf("POST $worklist %s: %d %v", body, status, oo)
			continue
		}
		if issue := oo["issue"].([]any)[0].(map[string]any); expr != "" && issue["expression"].([]any)[0] != expr {
			t.Errorf("POST $worklist %s: %v", body, issue)
		}
	}

	// Their OperationDefinitions are served and valid.
	for id, code := range map[string]string{"worklist": "worklist", "Patient-summary": "summary"} {
		status, od := get("/OperationDefinition/" + id)
		if status != 200 || od["code"] != code || od["resourceType"] != "OperationDefinition" {
			t.Errorf("OperationDefinition/%s: %d %v", id, status, od)
			continue
		}
		data, _ := json.Marshal(od)
		e.Validate("OperationDefinition", data)
	}
	if status, _ := get("/OperationDefinition/nope"); status != 404 {
		t.Errorf("unknown OperationDefinition: %d", status)
	}

	// The CapabilityStatement lists both operations.
	_, cs := get("/metadata")
	text, _ := json.Marshal(cs)
	if !strings.Contains(string(text), `"type":"OperationDefinition"`) {
		t.Errorf("CapabilityStatement does not list OperationDefinition as readable")
	}
	for _, def := range []string{worklist.OperationDefinitionURL, summary.OperationDefinitionURL} {
		if !strings.Contains(string(text), def) {
			t.Errorf("CapabilityStatement lacks %s", def)
		}
	}
}
