package careplan_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/careflow/careflow/adapters/careplan"
	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/server/interaction"
	"github.com/careflow/careflow/server/rest"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/rules"
)

// TestStatusRulesOverHTTP: the server wired as cmd/careflow wires it refuses forbidden CarePlan status
// changes on every write interaction with 422 and a business-rule issue, and stores nothing.
func TestStatusRulesOverHTTP(t *testing.T) {
	e := adaptertest.New(t)
	raw, ok := e.Store.(storage.Store)
	if !ok {
		t.Fatalf("fixture store %T is not a storage.Store", e.Store)
	}
	store := rules.New(raw, map[string][]rules.Rule{"CarePlan": {careplan.UpdateRule}})
	svc, err := interaction.New(interaction.Config{Types: definitions.ResourceTypes}, store, e.Validator, e.Registry)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rest.New(rest.Config{}, svc, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	do := func(method, path, ct, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+"/fhir"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	const fj = "application/fhir+json"
	plan := func(status, activity string) string {
		return `{"resourceType":"CarePlan","id":"cp1","status":"` + status + `","intent":"plan","subject":{"reference":"Patient/p1"},` +
			`"activity":[{"detail":{"status":"` + activity + `","description":"Cardiology review"}}]}`
	}
	expectRefused := func(what string, status int, oo map[string]any, expr string) {
		t.Helper()
		if status != 422 || oo["resourceType"] != "OperationOutcome" {
			t.Fatalf("%s: %d %v", what, status, oo)
		}
		issue := oo["issue"].([]any)[0].(map[string]any)
		if issue["code"] != "business-rule" || issue["expression"].([]any)[0] != expr {
			t.Errorf("%s: %v", what, issue)
		}
	}
	if st, _ := do("PUT", "/CarePlan/cp1", fj, plan("active", "not-started")); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if st, _ := do("PUT", "/CarePlan/cp1", fj, plan("active", "completed")); st != 200 {
		t.Fatalf("complete the activity: %d", st)
	}
	st, oo := do("PUT", "/CarePlan/cp1", fj, plan("active", "not-started"))
	expectRefused("reopen a completed activity", st, oo, "CarePlan.activity[0].detail.status")
	if st, _ := do("PUT", "/CarePlan/cp1", fj, plan("completed", "completed")); st != 200 {
		t.Fatalf("complete the plan: %d", st)
	}
	st, oo = do("PUT", "/CarePlan?_id=cp1", fj, plan("active", "completed"))
	expectRefused("conditional update reactivating a completed plan", st, oo, "CarePlan.status")
	st, oo = do("PATCH", "/CarePlan/cp1", "application/json-patch+json", `[{"op":"replace","path":"/status","value":"draft"}]`)
	expectRefused("JSON Patch to draft", st, oo, "CarePlan.status")
	patch := base64.StdEncoding.EncodeToString([]byte(`[{"op":"replace","path":"/status","value":"active"}]`))
	st, oo = do("POST", "", fj, `{"resourceType":"Bundle","type":"transaction","entry":[
	  {"fullUrl":"urn:uuid:6f4d8a5e-1111-4b0e-9c6e-000000000001","resource":{"resourceType":"Patient","name":[{"family":"Kept-Out"}]},"request":{"method":"POST","url":"Patient"}},
	  {"resource":{"resourceType":"Binary","contentType":"application/json-patch+json","data":"`+patch+`"},"request":{"method":"PATCH","url":"CarePlan/cp1"}}]}`)
	if st != 422 {
		t.Fatalf("transaction reactivating the plan: %d %v", st, oo)
	}
	// Nothing of the refused writes is stored.
	if st, b := do("GET", "/Patient?family=Kept-Out", fj, ""); st != 200 || b["total"] != float64(0) {
		t.Errorf("patient of the failed transaction: %d %v", st, b)
	}
	if st, b := do("GET", "/CarePlan/cp1", fj, ""); st != 200 || b["status"] != "completed" || b["meta"].(map[string]any)["versionId"] != "3" {
		t.Errorf("plan after refused writes: %d %v", st, b)
	}
	// entered-in-error is always allowed.
	if st, _ := do("PUT", "/CarePlan/cp1", fj, plan("entered-in-error", "completed")); st != 200 {
		t.Errorf("entered-in-error: %d", st)
	}
}
