package rest_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// txBundle renders a Bundle of type typ from entries given as JSON objects.
func txBundle(typ string, entries ...string) string {
	return `{"resourceType":"Bundle","type":"` + typ + `","entry":[` + strings.Join(entries, ",") + `]}`
}

// entry renders a Bundle.entry; fullURL and resource may be empty; extra adds request fields
// (`"ifMatch":"W/\"1\""`).
func entry(fullURL, method, url, resource string, extra ...string) string {
	var parts []string
	if fullURL != "" {
		parts = append(parts, `"fullUrl":"`+fullURL+`"`)
	}
	if resource != "" {
		parts = append(parts, `"resource":`+resource)
	}
	req := `"method":"` + method + `","url":"` + url + `"`
	for _, x := range extra {
		req += "," + x
	}
	parts = append(parts, `"request":{`+req+`}`)
	return "{" + strings.Join(parts, ",") + "}"
}

// responseEntries returns the entries of a batch or transaction response, checking its type.
func responseEntries(t *testing.T, r *response, typ string) []map[string]any {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	b := r.json(t)
	if b["resourceType"] != "Bundle" || b["type"] != typ {
		t.Fatalf("not a %s: %s", typ, r.body)
	}
	var out []map[string]any
	for _, e := range asSlice(b["entry"]) {
		out = append(out, e.(map[string]any))
	}
	return out
}

func status(e map[string]any) string {
	r, _ := e["response"].(map[string]any)
	s, _ := r["status"].(string)
	return s
}

// location returns Type/id of a response entry's location.
func location(t *testing.T, c *client, e map[string]any) string {
	t.Helper()
	loc, _ := e["response"].(map[string]any)["location"].(string)
	rest, ok := strings.CutPrefix(loc, c.base+"/")
	if !ok {
		t.Fatalf("location %q is not on %s", loc, c.base)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 || parts[2] != "_history" {
		t.Fatalf("location %q is not a version URL", loc)
	}
	return parts[0] + "/" + parts[1]
}

// get reads Type/id and returns the resource.
func get(t *testing.T, c *client, ref string) map[string]any {
	t.Helper()
	r := c.do("GET", "/"+ref, "")
	if r.status != 200 {
		t.Fatalf("GET %s: %d %s", ref, r.status, r.body)
	}
	return r.json(t)
}

// at walks a decoded resource: keys and array indexes.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

const (
	uuidA = "urn:uuid:0a000000-0000-4000-8000-00000000000a"
	uuidB = "urn:uuid:0b000000-0000-4000-8000-00000000000b"
	uuidC = "urn:uuid:0c000000-0000-4000-8000-00000000000c"
	uuidD = "urn:uuid:0d000000-0000-4000-8000-00000000000d"
)

func patientWith(identifier, family string) string {
	return `{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"` + identifier + `"}],"name":[{"family":"` + family + `"}]}`
}

// TestTransactionResolvesReferences: one transaction creates a patient and resources that refer to it by
// its urn:uuid fullUrl — nested (CarePlan.activity.detail.performer, Appointment.participant.actor), in a
// contained resource and in the narrative — plus an update-as-create referred to by another fullUrl;
// the search entry runs after the writes and sees them.
func TestTransactionResolvesReferences(t *testing.T) {
	c := server(t)
	carePlan := `{"resourceType":"CarePlan","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Plan for <a href=\"` + uuidA + `\">the patient</a></div>"},` +
		`"contained":[{"resourceType":"Patient","id":"rel","link":[{"other":{"reference":"` + uuidA + `"},"type":"seealso"}]}],` +
		`"status":"active","intent":"plan","subject":{"reference":"` + uuidA + `","display":"P"},"author":{"reference":"#rel"},` +
		`"activity":[{"detail":{"status":"scheduled","performer":[{"display":"Dr X"},{"reference":"` + uuidA + `"}],"dailyAmount":{"value":1.50}}}]}`
	appt := `{"resourceType":"Appointment","status":"booked","participant":[{"actor":{"reference":"` + uuidA + `"},"status":"accepted"},{"actor":{"reference":"Patient/fixed-1"},"status":"accepted"}]}`
	coverage := `{"resourceType":"Coverage","status":"active","beneficiary":{"reference":"` + uuidC + `"},"payor":[{"reference":"` + uuidC + `"}]}`
	r := c.do("POST", "", txBundle("transaction",
		entry(uuidB, "POST", "CarePlan", carePlan),
		entry(uuidA, "POST", "Patient", patientWith("tx-1", "Chalmers")),
		entry(uuidD, "POST", "Appointment", appt),
		entry(uuidC, "PUT", "Patient/fixed-1", `{"resourceType":"Patient","id":"fixed-1","active":true}`),
		entry("", "POST", "Coverage", coverage),
		entry("", "GET", "Patient?identifier=urn:mrn|tx-1", ""),
		entry("", "GET", "CarePlan?subject="+uuidA, ""),
	))
	es := responseEntries(t, r, "transaction-response")
	if len(es) != 7 {
		t.Fatalf("%d response entries", len(es))
	}
	for i, want := range []string{"201 Created", "201 Created", "201 Created", "201 Created", "201 Created", "200 OK", "200 OK"} {
		if status(es[i]) != want {
			t.Errorf("entry %d: status %q, want %q", i, status(es[i]), want)
		}
	}
	patient := location(t, c, es[1])
	plan := get(t, c, location(t, c, es[0]))
	for name, got := range map[string]any{
		"subject":           at(plan, "subject", "reference"),
		"detail.performer":  at(plan, "activity", 0, "detail", "performer", 1, "reference"),
		"contained link":    at(plan, "contained", 0, "link", 0, "other", "reference"),
		"appointment actor": at(get(t, c, location(t, c, es[2])), "participant", 0, "actor", "reference"),
	} {
		if got != patient {
			t.Errorf("%s: %v, want %s", name, got, patient)
		}
	}
	if at(plan, "author", "reference") != "#rel" || at(plan, "subject", "display") != "P" {
		t.Errorf("other references changed: %v", plan)
	}
	if div := at(plan, "text", "div").(string); !strings.Contains(div, `href="`+patient+`"`) {
		t.Errorf("narrative link not resolved: %s", div)
	}
	if raw := c.do("GET", "/"+location(t, c, es[0]), ""); !strings.Contains(string(raw.body), `"dailyAmount":{"value":1.50}`) {
		t.Errorf("the rest of the resource changed: %s", raw.body)
	}
	if location(t, c, es[3]) != "Patient/fixed-1" {
		t.Errorf("update as create at %s", location(t, c, es[3]))
	}
	cov := get(t, c, location(t, c, es[4]))
	if at(cov, "beneficiary", "reference") != "Patient/fixed-1" || at(cov, "payor", 0, "reference") != "Patient/fixed-1" {
		t.Errorf("coverage references: %v", cov)
	}
	// The searches ran after the writes (the second one with the fullUrl replaced).
	for i := 5; i <= 6; i++ {
		res, _ := es[i]["resource"].(map[string]any)
		if res["resourceType"] != "Bundle" || res["total"] != json.Number("1") {
			t.Errorf("search entry %d: %v", i, es[i])
		}
	}
	// Response fields.
	e := es[1]["response"].(map[string]any)
	if e["etag"] != `W/"1"` || e["lastModified"] == nil || es[1]["fullUrl"] != c.base+"/"+patient || at(es[1], "resource", "id") != strings.TrimPrefix(patient, "Patient/") {
		t.Errorf("response entry: %v", es[1])
	}
}

// TestTransactionIsAtomic: a failing entry anywhere fails the whole transaction with its status and an
// OperationOutcome naming it; nothing of the transaction is stored.
func TestTransactionIsAtomic(t *testing.T) {
	c := server(t)
	id, _ := create(t, c, patientWith("keep", "Keep"))
	victim, _ := create(t, c, patientWith("victim", "Victim"))
	history := func() int { return len(asSlice(c.do("GET", "/_history", "").json(t)["entry"])) }
	before := history()
	good := []string{
		entry(uuidA, "POST", "Patient", patientWith("ghost", "Ghost")),
		entry("", "PUT", "Patient/"+id, `{"resourceType":"Patient","id":"`+id+`","active":false}`, `"ifMatch":"W/\"1\""`),
		entry("", "DELETE", "Patient/"+victim, ""),
		entry("", "POST", "Appointment", `{"resourceType":"Appointment","status":"booked","participant":[{"actor":{"reference":"`+uuidA+`"},"status":"accepted"}]}`),
	}
	cases := []struct {
		name       string
		bad        string
		status     int
		code, expr string
	}{
		{"invalid resource", entry("", "POST", "Patient", `{"resourceType":"Patient","gender":"robot","link":[{"other":{"reference":"`+uuidA+`"},"type":"seealso"}]}`),
			400, "value", "Bundle.entry[4].resource.gender"},
		{"stale ifMatch", entry("", "PUT", "Patient/"+victim+"x", `{"resourceType":"Patient","id":"`+victim+`x"}`, `"ifMatch":"W/\"3\""`),
			412, "conflict", "Bundle.entry[4]"},
		{"conditional reference without a match", entry("", "POST", "Coverage", `{"resourceType":"Coverage","status":"active","beneficiary":{"reference":"Patient?identifier=urn:mrn|nobody"},"payor":[{"display":"Acme"}]}`),
			412, "not-found", "Bundle.entry[4].resource.beneficiary.reference"},
		{"unknown urn:uuid", entry("", "POST", "Coverage", `{"resourceType":"Coverage","status":"active","beneficiary":{"reference":"`+uuidD+`"},"payor":[{"display":"Acme"}]}`),
			400, "not-found", "Bundle.entry[4].resource.beneficiary.reference"},
		{"update without id", entry("", "PUT", "Patient/x1", `{"resourceType":"Patient"}`),
			400, "required", "Bundle.entry[4].resource.id"},
		{"ambiguous conditional update", entry("", "PUT", "Patient?name=keep,victim", `{"resourceType":"Patient"}`),
			412, "multiple-matches", "Bundle.entry[4]"},
		{"two writes of one resource", entry("", "PUT", "Patient/"+victim, `{"resourceType":"Patient","id":"`+victim+`"}`),
			400, "duplicate", "Bundle.entry[4].request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do("POST", "", txBundle("transaction", append(append([]string(nil), good...), tc.bad)...))
			expectOutcome(t, r, tc.status, tc.code, tc.expr)
			if n := history(); n != before {
				t.Errorf("%d versions after the failed transaction, %d before", n, before)
			}
			if got := ids(t, c, "Patient?identifier=urn:mrn|ghost"); got != "" {
				t.Errorf("the created patient is visible: %s", got)
			}
			if get(t, c, "Patient/"+id)["meta"].(map[string]any)["versionId"] != "1" {
				t.Error("the updated patient changed")
			}
			if c.do("GET", "/Patient/"+victim, "").status != 200 {
				t.Error("the deleted patient is gone")
			}
			if got := ids(t, c, "Appointment"); got != "" {
				t.Errorf("appointments: %s", got)
			}
		})
	}
	// The good part alone commits.
	es := responseEntries(t, c.do("POST", "", txBundle("transaction", good...)), "transaction-response")
	if status(es[0]) != "201 Created" || status(es[1]) != "200 OK" || status(es[2]) != "204 No Content" || status(es[3]) != "201 Created" {
		t.Errorf("statuses %s %s %s %s", status(es[0]), status(es[1]), status(es[2]), status(es[3]))
	}
	if c.do("GET", "/Patient/"+victim, "").status != 410 {
		t.Error("the deleted patient is not gone")
	}
}

// TestTransactionConditionals: ifNoneExist (matching: the entry refers to the existing resource, and
// references to its fullUrl resolve to it), conditional update and delete, conditional references.
func TestTransactionConditionals(t *testing.T) {
	c := server(t)
	existing, _ := create(t, c, patientWith("known", "Known"))
	doomed, _ := create(t, c, patientWith("doomed", "Doomed"))
	r := c.do("POST", "", txBundle("transaction",
		entry(uuidA, "POST", "Patient", patientWith("known", "Other"), `"ifNoneExist":"identifier=urn:mrn|known"`),
		entry(uuidB, "POST", "Patient", patientWith("fresh", "Fresh"), `"ifNoneExist":"identifier=urn:mrn|fresh"`),
		entry("", "PUT", "Patient?identifier=urn:mrn|known", `{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"known"}],"active":true}`),
		entry("", "DELETE", "Patient?identifier=urn:mrn|doomed", ""),
		entry("", "DELETE", "Patient?identifier=urn:mrn|nobody", ""),
		entry("", "POST", "Appointment", `{"resourceType":"Appointment","status":"booked","participant":[`+
			`{"actor":{"reference":"`+uuidA+`"},"status":"accepted"},{"actor":{"reference":"`+uuidB+`"},"status":"accepted"},`+
			`{"actor":{"reference":"Patient?identifier=urn:mrn|known"},"status":"accepted"}]}`),
	))
	es := responseEntries(t, r, "transaction-response")
	want := []string{"200 OK", "201 Created", "200 OK", "204 No Content", "204 No Content", "201 Created"}
	for i := range want {
		if status(es[i]) != want[i] {
			t.Errorf("entry %d: %q, want %q", i, status(es[i]), want[i])
		}
	}
	if location(t, c, es[0]) != "Patient/"+existing {
		t.Errorf("ifNoneExist matched %s, want Patient/%s", location(t, c, es[0]), existing)
	}
	fresh := location(t, c, es[1])
	appt := get(t, c, location(t, c, es[5]))
	for i, want := range []string{"Patient/" + existing, fresh, "Patient/" + existing} {
		if got := at(appt, "participant", i, "actor", "reference"); got != want {
			t.Errorf("participant %d: %v, want %s", i, got, want)
		}
	}
	if p := get(t, c, "Patient/"+existing); p["active"] != true || at(p, "meta", "versionId") != "2" {
		t.Errorf("conditional update: %v", p)
	}
	if c.do("GET", "/Patient/"+doomed, "").status != 410 {
		t.Error("conditional delete did not delete")
	}
	// Again: everything matches now, nothing new is created.
	r = c.do("POST", "", txBundle("transaction",
		entry(uuidB, "POST", "Patient", patientWith("fresh", "Fresh"), `"ifNoneExist":"identifier=urn:mrn|fresh"`)))
	if es := responseEntries(t, r, "transaction-response"); status(es[0]) != "200 OK" || location(t, c, es[0]) != fresh {
		t.Errorf("second conditional create: %v", es[0])
	}
}

// TestTransactionProcessingOrder: DELETE, POST, PUT, then GET, whatever the entry order.
func TestTransactionProcessingOrder(t *testing.T) {
	c := server(t)
	gone, _ := create(t, c, patientWith("gone", "Gone"))
	es := responseEntries(t, c.do("POST", "", txBundle("transaction",
		entry("", "GET", "Patient/"+gone, ""),
		entry("", "GET", "Patient?identifier=urn:mrn|later", ""),
		entry("", "PUT", "Patient/later-1", `{"resourceType":"Patient","id":"later-1","identifier":[{"system":"urn:mrn","value":"later"}]}`),
		entry("", "DELETE", "Patient/"+gone, ""),
		entry("", "HEAD", "Patient/later-1", ""),
		entry("", "GET", "Patient/later-1", "", `"ifNoneMatch":"W/\"1\""`),
	)), "transaction-response")
	if status(es[5]) != "304 Not Modified" {
		t.Errorf("conditional read entry: %v", es[5])
	}
	if status(es[0]) != "410 Gone" {
		t.Errorf("the read before the delete in the bundle ran first: %v", es[0])
	}
	if at(es[1], "resource", "total") != json.Number("1") {
		t.Errorf("the search did not see the update: %v", es[1])
	}
	if status(es[4]) != "200 OK" || es[4]["resource"] != nil || at(es[4], "response", "etag") != `W/"1"` {
		t.Errorf("HEAD entry: %v", es[4])
	}
}

// TestConcurrentConditionalCreateTransactions: 16 transactions at once each create the same patient
// with ifNoneExist and an appointment referring to it: one patient exists, every appointment refers to
// it.
func TestConcurrentConditionalCreateTransactions(t *testing.T) {
	c := server(t)
	const n = 16
	var wg sync.WaitGroup
	created := make([]string, n)
	patients := make([]string, n)
	appts := make([]string, n)
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			r := c.do("POST", "", txBundle("transaction",
				entry(uuidA, "POST", "Patient", patientWith("race", "Race"), `"ifNoneExist":"identifier=urn:mrn|race"`),
				entry("", "POST", "Appointment", `{"resourceType":"Appointment","status":"booked","participant":[{"actor":{"reference":"`+uuidA+`"},"status":"accepted"}]}`),
			))
			if r.status != 200 {
				t.Errorf("transaction %d: %d %s", g, r.status, r.body)
				return
			}
			var b struct {
				Entry []struct {
					Response struct{ Status, Location string }
				}
			}
			if err := json.Unmarshal(r.body, &b); err != nil || len(b.Entry) != 2 {
				t.Errorf("transaction %d: %s", g, r.body)
				return
			}
			created[g] = b.Entry[0].Response.Status
			patients[g] = strings.Split(strings.TrimPrefix(b.Entry[0].Response.Location, c.base+"/"), "/_history")[0]
			appts[g] = strings.Split(strings.TrimPrefix(b.Entry[1].Response.Location, c.base+"/"), "/_history")[0]
		}(g)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if n := strings.Count(strings.Join(created, ","), "201 Created"); n != 1 {
		t.Errorf("%d transactions created the patient: %v", n, created)
	}
	got := ids(t, c, "Patient?identifier=urn:mrn|race")
	if got == "" || strings.Contains(got, ",") {
		t.Fatalf("patients with the identifier: %q, want one", got)
	}
	for g := 0; g < n; g++ {
		if patients[g] != patients[0] {
			t.Errorf("transaction %d matched %s, transaction 0 %s", g, patients[g], patients[0])
		}
		if ref := at(get(t, c, appts[g]), "participant", 0, "actor", "reference"); ref != patients[0] {
			t.Errorf("appointment %d refers to %v, want %s", g, ref, patients[0])
		}
	}
}

// TestBatchEntriesAreIndependent: each entry succeeds or fails on its own.
func TestBatchEntriesAreIndependent(t *testing.T) {
	c := server(t)
	id, _ := create(t, c, patientWith("b1", "Batch"))
	patchDoc := base64.StdEncoding.EncodeToString([]byte(`[{"op":"add","path":"/active","value":false}]`))
	es := responseEntries(t, c.do("POST", "", txBundle("batch",
		entry(uuidA, "POST", "Patient", patientWith("b2", "Good")),
		entry("", "POST", "Patient", `{"resourceType":"Patient","gender":"robot"}`),
		entry("", "PUT", "Patient/"+id, `{"resourceType":"Patient","id":"`+id+`","active":true}`, `"ifMatch":"W/\"7\""`),
		entry("", "GET", "Patient/"+id, ""),
		entry("", "GET", "Patient/nobody", ""),
		entry("", "POST", "Appointment", `{"resourceType":"Appointment","status":"booked","participant":[{"actor":{"reference":"Patient?identifier=urn:mrn|b1"},"status":"accepted"}]}`),
		entry("", "DELETE", "Patient?identifier=urn:mrn|nobody", ""),
		entry("", "PATCH", "Patient/"+id, `{"resourceType":"Binary","contentType":"application/json-patch+json","data":"`+patchDoc+`"}`),
		`{"request":{"method":"FETCH","url":"Patient"}}`,
	)), "batch-response")
	want := []string{"201 Created", "400 Bad Request", "412 Precondition Failed", "200 OK", "404 Not Found", "201 Created", "204 No Content", "200 OK", "400 Bad Request"}
	for i := range want {
		if status(es[i]) != want[i] {
			t.Errorf("entry %d: %q, want %q: %v", i, status(es[i]), want[i], es[i])
		}
	}
	// Failures carry an OperationOutcome located in their entry.
	if issue := at(es[1], "response", "outcome", "issue", 0); at(issue, "expression", 0) != "Bundle.entry[1].resource.gender" {
		t.Errorf("outcome of the invalid entry: %v", issue)
	}
	if at(es[3], "resource", "id") != id {
		t.Errorf("read entry: %v", es[3])
	}
	if ref := at(get(t, c, location(t, c, es[5])), "participant", 0, "actor", "reference"); ref != "Patient/"+id {
		t.Errorf("conditional reference in a batch: %v", ref)
	}
	if p := get(t, c, "Patient/"+id); p["active"] != false || at(p, "meta", "versionId") != "2" {
		t.Errorf("patched patient: %v", p)
	}
	if got := ids(t, c, "Patient?identifier=urn:mrn|b2"); got == "" {
		t.Error("the good create of the batch is missing")
	}
}

func TestBundleSizeLimit(t *testing.T) {
	c := server(t, func(cfg *testConfig) { cfg.svc.MaxBundleEntries = 3 })
	var es []string
	for i := 0; i < 4; i++ {
		es = append(es, entry("", "POST", "Patient", patientWith(fmt.Sprint("s", i), "S")))
	}
	for _, typ := range []string{"transaction", "batch"} {
		expectOutcome(t, c.do("POST", "", txBundle(typ, es...)), http.StatusRequestEntityTooLarge, "too-long", "Bundle.entry")
		if r := c.do("POST", "", txBundle(typ, es[:3]...)); r.status != 200 {
			t.Errorf("%s of 3 entries: %d %s", typ, r.status, r.body)
		}
	}
}

// TestTransactionOfManyEntries: the default limit admits large transactions; 200 entries, each an
// appointment referring to its own new patient.
func TestTransactionOfManyEntries(t *testing.T) {
	c := server(t)
	var es []string
	for i := 0; i < 100; i++ {
		u := fmt.Sprintf("urn:uuid:%08d-0000-4000-8000-000000000000", i)
		es = append(es, entry(u, "POST", "Patient", patientWith(fmt.Sprint("m", i), "Many")))
		es = append(es, entry("", "POST", "Appointment", `{"resourceType":"Appointment","status":"booked","participant":[{"actor":{"reference":"`+u+`"},"status":"accepted"}]}`))
	}
	out := responseEntries(t, c.do("POST", "/", txBundle("transaction", es...), "Prefer", "return=minimal"), "transaction-response")
	if len(out) != 200 {
		t.Fatalf("%d entries", len(out))
	}
	for i, e := range out {
		if status(e) != "201 Created" || e["resource"] != nil {
			t.Fatalf("entry %d: %v", i, e)
		}
	}
	if n := len(asSlice(c.do("GET", "/Appointment?_count=500", "").json(t)["entry"])); n != 100 {
		t.Errorf("%d appointments", n)
	}
}

func TestMalformedBundles(t *testing.T) {
	c := server(t)
	p := patientWith("m", "M")
	cases := []struct {
		name, body       string
		status           int
		code, expression string
	}{
		{"not JSON", `{"resourceType":"Bundle",`, 400, "structure", ""},
		{"not a Bundle", p, 400, "invalid", "Bundle.resourceType"},
		{"no type", `{"resourceType":"Bundle","entry":[]}`, 400, "required", "Bundle.type"},
		{"collection", txBundle("collection"), 400, "value", "Bundle.type"},
		{"entry not an object", `{"resourceType":"Bundle","type":"transaction","entry":[42]}`, 400, "structure", "Bundle.entry[0]"},
		{"no request", txBundle("transaction", `{"resource":`+p+`}`), 400, "required", "Bundle.entry[0].request"},
		{"bad method", txBundle("transaction", entry("", "FETCH", "Patient", p)), 400, "value", "Bundle.entry[0].request.method"},
		{"no url", txBundle("transaction", entry("", "POST", "", p)), 400, "required", "Bundle.entry[0].request.url"},
		{"POST to an instance", txBundle("transaction", entry("", "POST", "Patient/1", p)), 400, "not-supported", "Bundle.entry[0].request.url"},
		{"PUT without id", txBundle("transaction", entry("", "PUT", "Patient", p)), 400, "value", "Bundle.entry[0].request.url"},
		{"foreign url", txBundle("transaction", entry("", "POST", "http://elsewhere.org/fhir/Patient", p)), 400, "not-supported", "Bundle.entry[0].request.url"},
		{"bad fullUrl", txBundle("transaction", entry("urn:uuid:nope", "POST", "Patient", p)), 400, "value", "Bundle.entry[0].fullUrl"},
		{"duplicate fullUrl", txBundle("transaction", entry(uuidA, "POST", "Patient", p), entry(uuidA, "POST", "Patient", p)), 400, "duplicate", "Bundle.entry[1].fullUrl"},
		{"no resource", txBundle("transaction", entry("", "POST", "Patient", "")), 400, "required", "Bundle.entry[0].resource"},
		{"type mismatch", txBundle("transaction", entry("", "POST", "Coverage", p)), 400, "invalid", "Bundle.entry[0].resource.resourceType"},
		{"unsupported type", txBundle("transaction", entry("", "POST", "Parameters", `{"resourceType":"Parameters"}`)), 404, "not-supported", "Bundle.entry[0].request.url"},
		{"PATCH without Binary", txBundle("transaction", entry("", "PATCH", "Patient/x", p)), 400, "not-supported", "Bundle.entry[0].resource"},
		{"bad ifMatch", txBundle("transaction", entry("", "DELETE", "Patient/x", "", `"ifMatch":"soon"`)), 400, "invalid", "Bundle.entry[0].request.ifMatch"},
		{"unknown search parameter in ifNoneExist", txBundle("transaction", entry("", "POST", "Patient", p, `"ifNoneExist":"shoe-size=42"`)), 400, "", "Bundle.entry[0]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do("POST", "", tc.body)
			if tc.code == "" {
				if r.status != tc.status || !strings.Contains(string(r.body), tc.expression) {
					t.Fatalf("%d %s", r.status, r.body)
				}
				return
			}
			expectOutcome(t, r, tc.status, tc.code, tc.expression)
		})
	}
	if got := ids(t, c, "Patient"); got != "" {
		t.Errorf("malformed bundles stored %s", got)
	}
	// The entries of a batch fail one by one instead.
	es := responseEntries(t, c.do("POST", "", txBundle("batch", entry("", "POST", "Patient/1", p), entry("", "POST", "Patient", p))), "batch-response")
	if status(es[0]) != "400 Bad Request" || status(es[1]) != "201 Created" {
		t.Errorf("batch: %v", es)
	}
}

// TestTransactionPatchAndPrefer: a JSON Patch entry (a Binary) and Prefer: return=OperationOutcome.
func TestTransactionPatchAndPrefer(t *testing.T) {
	c := server(t)
	id, _ := create(t, c, patientWith("p", "Patched"))
	doc := base64.StdEncoding.EncodeToString([]byte(`[{"op":"add","path":"/active","value":true}]`))
	bin := `{"resourceType":"Binary","contentType":"application/json-patch+json","data":"` + doc + `"}`
	es := responseEntries(t, c.do("POST", "", txBundle("transaction",
		entry("", "PATCH", "Patient/"+id, bin, `"ifMatch":"W/\"1\""`),
		entry("", "POST", "Patient", patientWith("q", "Q")),
	), "Prefer", "return=OperationOutcome"), "transaction-response")
	if status(es[0]) != "200 OK" || at(es[0], "response", "outcome", "resourceType") != "OperationOutcome" || es[0]["resource"] != nil {
		t.Errorf("patch entry: %v", es[0])
	}
	if p := get(t, c, "Patient/"+id); p["active"] != true || at(p, "meta", "versionId") != "2" {
		t.Errorf("patched: %v", p)
	}
	// A stale patch fails the transaction.
	expectOutcome(t, c.do("POST", "", txBundle("transaction", entry("", "PATCH", "Patient/"+id, bin, `"ifMatch":"W/\"1\""`))), 412, "conflict", "Bundle.entry[0]")
}
