package rest_test

import (
	"encoding/base64"
	"strings"
	"testing"
)

// notCurrent are well-formed If-Match values that do not name the current version (2) of the resource of
// TestIfMatchNotCurrentIs412: a versionId is any FHIR id, and one that is not the current version fails
// the precondition (412) whatever its format.
var notCurrent = []string{
	`W/"abc"`, `W/"1.5"`, `"x"`, `W/"0"`, `W/"02"`, `W/"+2"`, `W/"-2"`, `W/""`, `W/"99999999999999999999"`,
	`W/"1"`, `"3"`, `1`, `W/"1", W/"abc"`, `W/"1", W/"3"`, `W/"a,2"`,
}

// ifMatchTarget creates Patient/im at version 2 (tag urn:t|keep) and returns the body of an update.
func ifMatchTarget(t *testing.T, c *client) string {
	t.Helper()
	body := `{"resourceType":"Patient","id":"im","meta":{"tag":[{"system":"urn:t","code":"keep"}]},"identifier":[{"system":"urn:mrn","value":"im"}],"active":true}`
	for i, want := range []int{201, 200} {
		if r := c.do("PUT", "/Patient/im", body); r.status != want {
			t.Fatalf("setup PUT %d: %d %s", i, r.status, r.body)
		}
	}
	return strings.Replace(body, `"active":true`, `"active":false`, 1)
}

// expectVersion2 checks that nothing was written to Patient/im: still version 2, two versions in all.
func expectVersion2(t *testing.T, c *client, after string) {
	t.Helper()
	if r := c.do("GET", "/Patient/im", ""); r.status != 200 || r.header.Get("ETag") != `W/"2"` {
		t.Fatalf("after %s: Patient/im is %d %s %s", after, r.status, r.header.Get("ETag"), r.body)
	}
	if n := len(asSlice(c.do("GET", "/Patient/im/_history", "").json(t)["entry"])); n != 2 {
		t.Fatalf("after %s: Patient/im has %d versions, want 2", after, n)
	}
}

// TestIfMatchNotCurrentIs412: an If-Match naming any version but the current one — stale, or of a format
// careflow's versions never have — is 412 (conflict) on PUT, conditional PUT, PATCH (JSON Patch and FHIRPath
// Patch), DELETE, $meta-add and $meta-delete, and on the same interactions as transaction and batch entries
// (entry.request.ifMatch); nothing is written.
func TestIfMatchNotCurrentIs412(t *testing.T) {
	c := server(t)
	upd := ifMatchTarget(t, c)
	jsonPatchDoc := `[{"op":"replace","path":"/active","value":false}]`
	fpDoc := fpPatch(fpOp("replace", "Patient.active", `{"name":"value","valueBoolean":false}`))
	binPatch := `{"resourceType":"Binary","contentType":"application/json-patch+json","data":"` + base64.StdEncoding.EncodeToString([]byte(jsonPatchDoc)) + `"}`
	requests := []struct {
		name, method, path, body string
		headers                  []string
	}{
		{"PUT", "PUT", "/Patient/im", upd, nil},
		{"conditional PUT", "PUT", "/Patient?identifier=urn:mrn|im", upd, nil},
		{"JSON Patch", "PATCH", "/Patient/im", jsonPatchDoc, []string{"Content-Type", jsonPatch}},
		{"FHIRPath Patch", "PATCH", "/Patient/im", fpDoc, nil},
		{"conditional PATCH", "PATCH", "/Patient?identifier=urn:mrn|im", jsonPatchDoc, []string{"Content-Type", jsonPatch}},
		{"DELETE", "DELETE", "/Patient/im", "", nil},
		{"conditional DELETE", "DELETE", "/Patient?identifier=urn:mrn|im", "", nil},
		{"$meta-add", "POST", "/Patient/im/$meta-add", metaParams(`{"tag":[{"system":"urn:t","code":"new"}]}`), nil},
		{"$meta-delete", "POST", "/Patient/im/$meta-delete", metaParams(`{"tag":[{"system":"urn:t","code":"keep"}]}`), nil},
	}
	entries := []struct{ name, method, url, resource string }{
		{"PUT", "PUT", "Patient/im", upd},
		{"conditional PUT", "PUT", "Patient?identifier=urn:mrn|im", upd},
		{"JSON Patch", "PATCH", "Patient/im", binPatch},
		{"FHIRPath Patch", "PATCH", "Patient/im", fpDoc},
		{"DELETE", "DELETE", "Patient/im", ""},
		{"conditional DELETE", "DELETE", "Patient?identifier=urn:mrn|im", ""},
	}
	for _, tag := range notCurrent {
		for _, rq := range requests {
			what := rq.name + " If-Match " + tag
			r := c.do(rq.method, rq.path, rq.body, append([]string{"If-Match", tag}, rq.headers...)...)
			expectOutcome(t, r, 412, "conflict", "")
			if d := string(r.body); !strings.Contains(d, "version conflict") || !strings.Contains(d, "Patient/im") {
				t.Errorf("%s: unclear message %s", what, d)
			}
			expectVersion2(t, c, what)
		}
		quoted := strings.ReplaceAll(tag, `"`, `\"`)
		for _, e := range entries {
			what := "transaction " + e.name + " ifMatch " + tag
			ifMatch := `"ifMatch":"` + quoted + `"`
			r := c.do("POST", "", txBundle("transaction", entry("", e.method, e.url, e.resource, ifMatch)))
			expectOutcome(t, r, 412, "conflict", "Bundle.entry[0]")
			expectVersion2(t, c, what)

			es := responseEntries(t, c.do("POST", "", txBundle("batch", entry("", e.method, e.url, e.resource, ifMatch))), "batch-response")
			if status(es[0]) != "412 Precondition Failed" || at(es[0], "response", "outcome", "issue", 0, "code") != "conflict" {
				t.Errorf("batch %s: %v", what, es[0])
			}
			expectVersion2(t, c, "batch "+e.name+" ifMatch "+tag)
		}
	}

	// The current version matches however it is listed; "*" matches a resource that exists.
	for i, tag := range []string{`W/"abc", W/"2"`, `W/"1", "3"`, `*`} {
		r := c.do("POST", "/Patient/im/$meta-add", metaParams(`{"tag":[{"system":"urn:t","code":"n`+string(rune('0'+i))+`"}]}`), "If-Match", tag)
		if want := `W/"` + string(rune('3'+i)) + `"`; r.status != 200 || r.header.Get("ETag") != want {
			t.Errorf("$meta-add If-Match %s: %d %s %s, want %s", tag, r.status, r.header.Get("ETag"), r.body, want)
		}
		if r := c.do("PUT", "/Patient/im", upd, "If-Match", `W/"1"`); r.status != 412 {
			t.Fatalf("PUT after $meta-add: %d", r.status)
		}
	}
	// "*" fails on a resource that is deleted or does not exist.
	if r := c.do("DELETE", "/Patient/im", "", "If-Match", `W/"5"`); r.status != 204 {
		t.Fatalf("DELETE If-Match W/\"5\": %d %s", r.status, r.body)
	}
	expectOutcome(t, c.do("PUT", "/Patient/im", upd, "If-Match", `*`), 412, "conflict", "")
	expectOutcome(t, c.do("PUT", "/Patient/nobody", strings.Replace(upd, `"im"`, `"nobody"`, 1), "If-Match", `*`), 412, "conflict", "")
	expectOutcome(t, c.do("PUT", "/Patient/nobody", strings.Replace(upd, `"im"`, `"nobody"`, 1), "If-Match", `W/"x"`), 412, "conflict", "")
	if r := c.do("GET", "/Patient/nobody", ""); r.status != 404 {
		t.Errorf("Patient/nobody: %d %s", r.status, r.body)
	}
}

// TestIfMatchMalformedIs400: an If-Match that is no entity-tag (nor "*", nor a list of them) names no
// version at all: 400, and nothing is written.
func TestIfMatchMalformedIs400(t *testing.T) {
	c := server(t)
	upd := ifMatchTarget(t, c)
	for _, h := range []string{`abc`, `W/"2`, `"2`, `w/"2"`, `W/2`, `"2" junk`, `W/"2" W/"2"`, `"a b"`, `,`} {
		expectOutcome(t, c.do("PUT", "/Patient/im", upd, "If-Match", h), 400, "invalid", "")
		expectOutcome(t, c.do("DELETE", "/Patient/im", "", "If-Match", h), 400, "invalid", "")
		ifMatch := `"ifMatch":"` + strings.ReplaceAll(h, `"`, `\"`) + `"`
		expectOutcome(t, c.do("POST", "", txBundle("transaction", entry("", "PUT", "Patient/im", upd, ifMatch))), 400, "invalid", "Bundle.entry[0].request.ifMatch")
		expectVersion2(t, c, "If-Match "+h)
	}
}
