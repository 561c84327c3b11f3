package rest_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// fpOp renders one FHIRPath Patch operation parameter from its type, path and further parts (raw JSON).
func fpOp(typ, path string, parts ...string) string {
	all := append([]string{`{"name":"type","valueCode":"` + typ + `"}`, `{"name":"path","valueString":"` + path + `"}`}, parts...)
	return `{"name":"operation","part":[` + strings.Join(all, ",") + `]}`
}

func fpPatch(ops ...string) string {
	return `{"resourceType":"Parameters","parameter":[` + strings.Join(ops, ",") + `]}`
}

// TestFHIRPathPatch: PATCH with a Parameters resource (application/fhir+json) is a FHIRPath Patch.
func TestFHIRPathPatch(t *testing.T) {
	c := dataset(t)
	doc := fpPatch(
		fpOp("replace", "Patient.active", `{"name":"value","valueBoolean":false}`),
		fpOp("add", "Patient.name[0]", `{"name":"name","valueString":"given"}`, `{"name":"value","valueString":"Maria"}`),
		fpOp("insert", "Patient.telecom", `{"name":"value","valueContactPoint":{"system":"email","value":"a@ex.org"}}`, `{"name":"index","valueInteger":0}`),
		fpOp("delete", "Patient.address"),
	)
	r := c.do("PATCH", "/Patient/p1", doc)
	if r.status != 200 || r.header.Get("ETag") != `W/"2"` {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	// Untouched content keeps its order and bytes; the changes are where they belong.
	want := `"identifier":[{"system":"urn:mrn","value":"001","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"}]}}],` +
		`"active":false,"name":[{"family":"Smith","given":["Anna","Maria"]}],"gender":"female","birthDate":"1980-05-02",` +
		`"telecom":[{"system":"email","value":"a@ex.org"},{"system":"phone","value":"555-0101"}]}`
	if got := c.do("GET", "/Patient/p1", ""); !strings.HasSuffix(string(got.body), want) {
		t.Errorf("stored:\n%s\nwant it to end with\n%s", got.body, want)
	}
	if ids(t, c, "Patient?given=maria") != "p1" || ids(t, c, "Patient?email=a@ex.org") != "p1" {
		t.Error("patched values not indexed")
	}
	// application/json is a FHIR JSON media type too.
	r = c.do("PATCH", "/Patient/p1", fpPatch(fpOp("replace", "Patient.active", `{"name":"value","valueBoolean":true}`)), "Content-Type", "application/json")
	if r.status != 200 || r.json(t)["active"] != true {
		t.Errorf("application/json: %d %s", r.status, r.body)
	}
	// If-Match, an invalid result, a bad document, a patch that does not apply, an unsupported media type.
	expectOutcome(t, c.do("PATCH", "/Patient/p1", fpPatch(), "If-Match", `W/"1"`), 412, "conflict", "")
	r = c.do("PATCH", "/Patient/p1", fpPatch(), "If-Match", `W/"3"`)
	if r.status != 200 || r.header.Get("ETag") != `W/"4"` {
		t.Errorf("If-Match current: %d %s", r.status, r.body)
	}
	expectOutcome(t, c.do("PATCH", "/Patient/p1", fpPatch(fpOp("replace", "Patient.gender", `{"name":"value","valueCode":"robot"}`))), 422, "value", "Patient.gender")
	expectOutcome(t, c.do("PATCH", "/Patient/p1", fpPatch(fpOp("copy", "Patient.active"))), 400, "not-supported", "Parameters.parameter[0].part[0].valueCode")
	expectOutcome(t, c.do("PATCH", "/Patient/p1", fpPatch(fpOp("replace", "Patient.(", `{"name":"value","valueBoolean":true}`))), 400, "invalid", "Parameters.parameter[0].part[1].valueString")
	expectOutcome(t, c.do("PATCH", "/Patient/p1", `{"resourceType":"Patient","active":false}`), 400, "invalid", "Parameters")
	expectOutcome(t, c.do("PATCH", "/Patient/p1", fpPatch(fpOp("delete", "Patient.identifier"), fpOp("replace", "Patient.telecom", `{"name":"value","valueContactPoint":{}}`))), 422, "processing", "Parameters.parameter[1]")
	expectOutcome(t, c.do("PATCH", "/Patient/p1", fpPatch(fpOp("replace", "Patient.id", `{"name":"value","valueId":"p9"}`))), 422, "invalid", "Patient.id")
	expectOutcome(t, c.do("PATCH", "/Patient/p1", fpPatch(), "Content-Type", "application/fhir+xml"), 415, "not-supported", "")
	expectOutcome(t, c.do("PATCH", "/Patient/p1", fpPatch(), "Content-Type", "text/plain"), 415, "not-supported", "")
	expectOutcome(t, c.do("PATCH", "/Patient/nobody", fpPatch()), 404, "not-found", "")
	if r := c.do("GET", "/Patient/p1", ""); r.header.Get("ETag") != `W/"4"` || r.json(t)["active"] != true {
		t.Errorf("failed patches changed the resource: %s %s", r.header.Get("ETag"), r.body)
	}
	// Conditional patch.
	r = c.do("PATCH", "/Patient?identifier=urn:mrn|002", fpPatch(fpOp("add", "Patient", `{"name":"name","valueString":"deceased"}`, `{"name":"value","valueBoolean":true}`)))
	if r.status != 200 || r.json(t)["id"] != "p2" || r.json(t)["deceasedBoolean"] != true {
		t.Errorf("conditional patch: %d %s", r.status, r.body)
	}
	expectOutcome(t, c.do("PATCH", "/Patient?gender=female", fpPatch()), 412, "multiple-matches", "")
	expectOutcome(t, c.do("PATCH", "/Patient?gender=unknown", fpPatch()), 404, "not-found", "")
}

// TestPatchFormatsAdvertised: the CapabilityStatement lists both patch formats.
func TestPatchFormatsAdvertised(t *testing.T) {
	c := server(t)
	got := fmt.Sprint(c.do("GET", "/metadata", "").json(t)["patchFormat"])
	if got != "[application/json-patch+json application/fhir+json]" {
		t.Errorf("patchFormat %s", got)
	}
}

// TestConcurrentFHIRPathPatchesLoseNothing: FHIRPath Patches without If-Match share the JSON Patch retry loop.
func TestConcurrentFHIRPathPatchesLoseNothing(t *testing.T) {
	c := dataset(t)
	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			doc := fpPatch(fpOp("add", "Patient.name[0]", `{"name":"name","valueString":"given"}`, fmt.Sprintf(`{"name":"value","valueString":"g%d"}`, g)))
			if r := c.do("PATCH", "/Patient/p3", doc); r.status != 200 {
				t.Errorf("patch %d: %d %s", g, r.status, r.body)
			}
		}(g)
	}
	wg.Wait()
	got := fmt.Sprint(c.do("GET", "/Patient/p3", "").json(t)["name"])
	for g := 0; g < 6; g++ {
		if !strings.Contains(got, fmt.Sprintf("g%d", g)) {
			t.Errorf("given g%d lost: %s", g, got)
		}
	}
}

// TestTransactionFHIRPathPatch: a PATCH entry holding a Parameters resource is a FHIRPath Patch; a failing
// one rolls the whole transaction back.
func TestTransactionFHIRPathPatch(t *testing.T) {
	c := server(t)
	id, _ := create(t, c, patientWith("fp", "Before"))
	other, _ := create(t, c, patientWith("fo", "Other"))
	good := fpPatch(fpOp("replace", "Patient.name[0].family", `{"name":"value","valueString":"After"}`))
	es := responseEntries(t, c.do("POST", "", txBundle("transaction",
		entry("", "PATCH", "Patient/"+id, good, `"ifMatch":"W/\"1\""`),
		entry("", "POST", "Patient", patientWith("fq", "Q")),
	)), "transaction-response")
	if status(es[0]) != "200 OK" || at(es[0], "resource", "name", 0, "family") != "After" {
		t.Fatalf("patch entry: %v", es[0])
	}
	if p := get(t, c, "Patient/"+id); at(p, "name", 0, "family") != "After" || at(p, "meta", "versionId") != "2" {
		t.Errorf("patched: %v", p)
	}
	// A FHIRPath Patch that does not apply fails the transaction: the create beside it is not kept.
	bad := fpPatch(fpOp("replace", "Patient.telecom", `{"name":"value","valueContactPoint":{"value":"1"}}`))
	expectOutcome(t, c.do("POST", "", txBundle("transaction",
		entry("", "POST", "Patient", patientWith("fr", "R")),
		entry("", "PATCH", "Patient/"+id, good),
		entry("", "PATCH", "Patient?identifier=urn:mrn|fo", bad),
	)), 422, "processing", "")
	if got := ids(t, c, "Patient?identifier=urn:mrn|fr"); got != "" {
		t.Errorf("the failed transaction created %s", got)
	}
	if p := get(t, c, "Patient/"+id); at(p, "meta", "versionId") != "2" {
		t.Errorf("the failed transaction patched: %v", p)
	}
	if p := get(t, c, "Patient/"+other); at(p, "meta", "versionId") != "1" {
		t.Errorf("the failed transaction patched: %v", p)
	}
	// A malformed FHIRPath Patch is a 400 located in its entry; a PATCH entry of another resource type too.
	expectOutcome(t, c.do("POST", "", txBundle("transaction", entry("", "PATCH", "Patient/"+id, fpPatch(fpOp("move", "Patient.name"))))), 400, "invalid", "")
	expectOutcome(t, c.do("POST", "", txBundle("transaction", entry("", "PATCH", "Patient/"+id, patientWith("x", "X")))), 400, "not-supported", "Bundle.entry[0].resource")
	// A stale FHIRPath Patch fails the transaction.
	expectOutcome(t, c.do("POST", "", txBundle("transaction", entry("", "PATCH", "Patient/"+id, good, `"ifMatch":"W/\"1\""`))), 412, "conflict", "Bundle.entry[0]")
}

// TestBatchFHIRPathPatch: FHIRPath Patch entries of a batch succeed or fail on their own, next to JSON Patch.
func TestBatchFHIRPathPatch(t *testing.T) {
	c := server(t)
	id, _ := create(t, c, patientWith("bf", "Batch"))
	jp := base64.StdEncoding.EncodeToString([]byte(`[{"op":"add","path":"/gender","value":"other"}]`))
	es := responseEntries(t, c.do("POST", "", txBundle("batch",
		entry("", "PATCH", "Patient/"+id, fpPatch(fpOp("add", "Patient", `{"name":"name","valueString":"active"}`, `{"name":"value","valueBoolean":true}`))),
		entry("", "PATCH", "Patient/"+id, fpPatch(fpOp("delete", "Patient.telecom"), fpOp("replace", "Patient.telecom", `{"name":"value","valueContactPoint":{}}`))),
		entry("", "PATCH", "Patient?identifier=urn:mrn|bf", fpPatch(fpOp("copy", "Patient"))),
		entry("", "PATCH", "Patient/"+id, fpPatch(), `"ifMatch":"W/\"9\""`),
	)), "batch-response")
	want := []string{"200 OK", "422 Unprocessable Entity", "400 Bad Request", "412 Precondition Failed"}
	for i := range want {
		if status(es[i]) != want[i] {
			t.Errorf("entry %d: %q, want %q: %v", i, status(es[i]), want[i], es[i])
		}
	}
	if issue := at(es[1], "response", "outcome", "issue", 0); !strings.Contains(fmt.Sprint(issue), "Bundle.entry[1]") {
		t.Errorf("outcome of the failed entry: %v", issue)
	}
	es = responseEntries(t, c.do("POST", "", txBundle("batch",
		entry("", "PATCH", "Patient/"+id, `{"resourceType":"Binary","contentType":"application/json-patch+json","data":"`+jp+`"}`),
	)), "batch-response")
	if status(es[0]) != "200 OK" {
		t.Errorf("JSON Patch entry: %v", es[0])
	}
	if p := get(t, c, "Patient/"+id); p["active"] != true || p["gender"] != "other" || at(p, "meta", "versionId") != "3" {
		t.Errorf("patched patient: %v", p)
	}
}
