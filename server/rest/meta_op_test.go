package rest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

const (
	metaPatient1 = `{"resourceType":"Patient","id":"m1","meta":{"profile":["http://example.org/p/patient"],"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}],"tag":[{"system":"urn:tags","code":"vip","display":"VIP"}]},"active":true}`
	metaPatient2 = `{"resourceType":"Patient","id":"m2","meta":{"tag":[{"code":"local"},{"system":"urn:tags","code":"vip"}]}}`
	metaPatient3 = `{"resourceType":"Patient","id":"m3","meta":{"tag":[{"system":"urn:tags","code":"gone"}],"profile":["http://example.org/p/gone"]}}`
	metaAppt     = `{"resourceType":"Appointment","id":"a1","meta":{"tag":[{"system":"urn:tags","code":"appt"}]},"status":"booked","participant":[{"status":"accepted","actor":{"reference":"Patient/m1"}}]}`
)

// metaServer is a server holding labelled resources: Patients m1, m2, m3 (deleted) and Appointment a1.
func metaServer(t *testing.T) *client {
	t.Helper()
	c := server(t)
	for _, body := range []string{metaPatient1, metaPatient2, metaPatient3, metaAppt} {
		var head struct{ ResourceType, ID string }
		_ = json.Unmarshal([]byte(body), &head)
		if r := c.do("PUT", "/"+head.ResourceType+"/"+head.ID, body); r.status != http.StatusCreated {
			t.Fatalf("PUT %s/%s: %d %s", head.ResourceType, head.ID, r.status, r.body)
		}
	}
	if r := c.do("DELETE", "/Patient/m3", ""); r.status != http.StatusNoContent {
		t.Fatalf("delete m3: %d %s", r.status, r.body)
	}
	return c
}

// metaReturn checks a $meta answer and returns its Meta, re-encoded compactly (keys sorted).
func metaReturn(t *testing.T, r *response) string {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var p struct {
		ResourceType string
		Parameter    []struct {
			Name      string
			ValueMeta map[string]any
		}
	}
	if err := json.Unmarshal(r.body, &p); err != nil || p.ResourceType != "Parameters" || len(p.Parameter) != 1 || p.Parameter[0].Name != "return" || p.Parameter[0].ValueMeta == nil {
		t.Fatalf("not a Parameters with one return Meta (%v): %s", err, r.body)
	}
	out, _ := json.Marshal(p.Parameter[0].ValueMeta)
	return string(out)
}

func TestMetaSummary(t *testing.T) {
	c := metaServer(t)
	const system = `{"profile":["http://example.org/p/patient"],` +
		`"security":[{"code":"R","system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality"}],` +
		`"tag":[{"code":"local"},{"code":"appt","system":"urn:tags"},{"code":"vip","system":"urn:tags"}]}`
	for _, method := range []string{"GET", "POST"} {
		if got := metaReturn(t, c.do(method, "/$meta", "")); got != system {
			t.Errorf("%s /$meta = %s\nwant %s", method, got, system)
		}
	}
	// The deleted m3's labels and the Appointment's tag are not in use on Patient.
	const patient = `{"profile":["http://example.org/p/patient"],` +
		`"security":[{"code":"R","system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality"}],` +
		`"tag":[{"code":"local"},{"code":"vip","system":"urn:tags"}]}`
	if got := metaReturn(t, c.do("GET", "/Patient/$meta", "")); got != patient {
		t.Errorf("/Patient/$meta = %s\nwant %s", got, patient)
	}
	if got := metaReturn(t, c.do("POST", "/Appointment/$meta", "")); got != `{"tag":[{"code":"appt","system":"urn:tags"}]}` {
		t.Errorf("/Appointment/$meta = %s", got)
	}
	if got := metaReturn(t, c.do("GET", "/Coverage/$meta", "")); got != `{}` {
		t.Errorf("/Coverage/$meta = %s", got)
	}
	expectOutcome(t, c.do("GET", "/Parameters/$meta", ""), 404, "not-supported", "")
}

func TestMetaInstance(t *testing.T) {
	c := metaServer(t)
	r := c.do("GET", "/Patient/m1/$meta", "")
	got := metaReturn(t, r)
	for _, want := range []string{`"versionId":"1"`, `"lastUpdated":`, `"profile":["http://example.org/p/patient"]`, `{"code":"vip","display":"VIP","system":"urn:tags"}`} {
		if !strings.Contains(got, want) {
			t.Errorf("meta %s lacks %s", got, want)
		}
	}
	if r.header.Get("ETag") != `W/"1"` {
		t.Errorf("ETag %q", r.header.Get("ETag"))
	}
	if v := metaReturn(t, c.do("POST", "/Patient/m1/_history/1/$meta", "")); v != got {
		t.Errorf("_history/1/$meta = %s, want %s", v, got)
	}
	// A deleted resource's old version still has its meta; the deletion and the resource now are gone.
	if v := metaReturn(t, c.do("GET", "/Patient/m3/_history/1/$meta", "")); !strings.Contains(v, `"gone"`) {
		t.Errorf("m3 version 1 meta %s", v)
	}
	expectOutcome(t, c.do("GET", "/Patient/m3/$meta", ""), 410, "deleted", "")
	expectOutcome(t, c.do("GET", "/Patient/m3/_history/2/$meta", ""), 410, "deleted", "")
	expectOutcome(t, c.do("GET", "/Patient/nobody/$meta", ""), 404, "not-found", "")
	expectOutcome(t, c.do("GET", "/Patient/m1/_history/7/$meta", ""), 404, "not-found", "")
	expectOutcome(t, c.do("GET", "/Patient/m1/_history/x/$meta", ""), 404, "not-found", "")
	expectOutcome(t, c.do("GET", "/Parameters/m1/$meta", ""), 404, "not-supported", "")
}

// metaParams is a $meta-add / $meta-delete request body.
func metaParams(meta string) string {
	return `{"resourceType":"Parameters","parameter":[{"name":"meta","valueMeta":` + meta + `}]}`
}

func TestMetaAddDelete(t *testing.T) {
	c := metaServer(t)
	// Adding: vip is already there (display and version are ignored when matching), new is new.
	r := c.do("POST", "/Patient/m1/$meta-add", metaParams(`{"tag":[{"system":"urn:tags","code":"vip","display":"other"},{"system":"urn:tags","code":"new"}],"profile":["http://example.org/p/patient","http://example.org/p/extra"],"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSY"}]}`))
	got := metaReturn(t, r)
	for _, want := range []string{`"versionId":"2"`, `{"code":"vip","display":"VIP","system":"urn:tags"}`, `{"code":"new","system":"urn:tags"}`,
		`"profile":["http://example.org/p/patient","http://example.org/p/extra"]`, `{"code":"PSY","system":"http://terminology.hl7.org/CodeSystem/v3-ActCode"}`} {
		if !strings.Contains(got, want) {
			t.Errorf("meta after add %s lacks %s", got, want)
		}
	}
	if strings.Count(got, `"vip"`) != 1 || r.header.Get("ETag") != `W/"2"` {
		t.Errorf("ETag %q, meta %s", r.header.Get("ETag"), got)
	}
	read := c.do("GET", "/Patient/m1", "").json(t)
	if read["active"] != true || fmt.Sprint(read["meta"].(map[string]any)["tag"]) != "[map[code:vip display:VIP system:urn:tags] map[code:new system:urn:tags]]" {
		t.Errorf("resource after add: %v", read)
	}
	if ids(t, c, "Patient?_tag=urn:tags|new") != "m1" || ids(t, c, "Patient?_profile=http://example.org/p/extra") != "m1" || ids(t, c, "Patient?_security=PSY") != "m1" {
		t.Error("added labels are not searchable")
	}
	h := c.do("GET", "/Patient/m1/_history", "").json(t)
	if m := asSlice(h["entry"])[0].(map[string]any)["request"].(map[string]any)["method"]; m != "PATCH" {
		t.Errorf("history method %v", m)
	}

	// Adding what is there already changes nothing: no new version.
	r = c.do("POST", "/Patient/m1/$meta-add", metaParams(`{"tag":[{"system":"urn:tags","code":"new"}]}`))
	if again := metaReturn(t, r); again != got || r.header.Get("ETag") != `W/"2"` {
		t.Errorf("idempotent add: ETag %q, meta %s", r.header.Get("ETag"), again)
	}

	// Deleting: new and an absent tag; the profile extra.
	r = c.do("POST", "/Patient/m1/$meta-delete", metaParams(`{"tag":[{"system":"urn:tags","code":"new","display":"x"},{"system":"urn:tags","code":"never"}],"profile":["http://example.org/p/extra"]}`))
	got = metaReturn(t, r)
	if strings.Contains(got, `"new"`) || strings.Contains(got, "extra") || !strings.Contains(got, `"vip"`) || !strings.Contains(got, `"versionId":"3"`) || r.header.Get("ETag") != `W/"3"` {
		t.Errorf("after delete: ETag %q, meta %s", r.header.Get("ETag"), got)
	}
	if ids(t, c, "Patient?_tag=urn:tags|new") != "" || ids(t, c, "Patient?_profile=http://example.org/p/extra") != "" || ids(t, c, "Patient?_tag=urn:tags|vip") != "m1,m2" {
		t.Error("search does not reflect the deletion")
	}
	// Deleting what is absent is no error and no new version.
	r = c.do("POST", "/Patient/m1/$meta-delete", metaParams(`{"tag":[{"system":"urn:tags","code":"never"}]}`))
	if again := metaReturn(t, r); again != got || r.header.Get("ETag") != `W/"3"` {
		t.Errorf("delete of an absent tag: ETag %q, meta %s", r.header.Get("ETag"), again)
	}
	// Deleting every label leaves meta with versionId and lastUpdated only.
	r = c.do("POST", "/Patient/m2/$meta-delete", metaParams(`{"tag":[{"code":"local"},{"system":"urn:tags","code":"vip"}]}`))
	if got := metaReturn(t, r); strings.Contains(got, "tag") || !strings.Contains(got, `"versionId":"2"`) {
		t.Errorf("m2 after deleting all tags: %s", got)
	}

	// If-Match.
	expectOutcome(t, c.do("POST", "/Patient/m1/$meta-add", metaParams(`{"tag":[{"code":"late"}]}`), "If-Match", `W/"1"`), 412, "conflict", "")
	r = c.do("POST", "/Patient/m1/$meta-add", metaParams(`{"tag":[{"code":"late"}]}`), "If-Match", `W/"3"`)
	if r.status != 200 || r.header.Get("ETag") != `W/"4"` {
		t.Errorf("If-Match current: %d %s %s", r.status, r.header.Get("ETag"), r.body)
	}
	// The summary follows.
	if got := metaReturn(t, c.do("GET", "/Patient/$meta", "")); !strings.Contains(got, `{"code":"late"}`) || strings.Contains(got, `"local"`) {
		t.Errorf("/Patient/$meta after edits: %s", got)
	}
}

func TestMetaEditErrors(t *testing.T) {
	c := metaServer(t)
	add := metaParams(`{"tag":[{"code":"x"}]}`)
	expectOutcome(t, c.do("POST", "/Patient/nobody/$meta-add", add), 404, "not-found", "")
	expectOutcome(t, c.do("POST", "/Patient/m3/$meta-delete", add), 410, "deleted", "")
	expectOutcome(t, c.do("POST", "/Parameters/m1/$meta-add", add), 404, "not-supported", "")
	for _, tc := range []struct{ body, code, expression string }{
		{metaPatient1, "invalid", "Parameters.resourceType"},
		{`{"resourceType":"Parameters"`, "structure", ""},
		{`{"resourceType":"Parameters","id":"p"}`, "required", "Parameters.parameter"},
		{`{"resourceType":"Parameters","parameter":[{"name":"meta","valueString":"x"}]}`, "invalid", "Parameters.parameter[0]"},
		{`{"resourceType":"Parameters","parameter":[{"name":"tag","valueMeta":{"tag":[{"code":"x"}]}}]}`, "not-supported", "Parameters.parameter[0].name"},
		{`{"resourceType":"Parameters","parameter":[{"name":"meta","valueMeta":{"tag":[{"code":"x"}]}},{"name":"meta","valueMeta":{"tag":[{"code":"y"}]}}]}`, "invalid", "Parameters.parameter[1]"},
		{metaParams(`{"tag":[{"system":"urn:tags"}]}`), "invalid", "Parameters.parameter[0].valueMeta"},
		{metaParams(`{"tag":[{"code":7}]}`), "", ""},
		{metaParams(`{"profile":["not a url"]}`), "", ""},
	} {
		for _, op := range []string{"$meta-add", "$meta-delete"} {
			r := c.do("POST", "/Patient/m1/"+op, tc.body)
			if tc.code == "" {
				if r.status != 400 {
					t.Errorf("%s %s: %d %s", op, tc.body, r.status, r.body)
				}
				continue
			}
			expectOutcome(t, r, 400, tc.code, tc.expression)
		}
	}
	expectOutcome(t, c.do("POST", "/Patient/m1/$meta-add", ""), 400, "required", "")
	expectOutcome(t, c.do("GET", "/Patient/m1/$meta-add", ""), 405, "not-supported", "")
	expectOutcome(t, c.do("POST", "/Patient/m1/_history/1/$meta-add", add), 405, "not-supported", "")
	expectOutcome(t, c.do("POST", "/Patient/m1/_history/1/$meta-delete", add), 405, "not-supported", "")
	expectOutcome(t, c.do("POST", "/Patient/m1/$meta-add", add, "If-Match", "yes"), 400, "invalid", "")
	// Nothing was stored.
	if r := c.do("GET", "/Patient/m1", ""); r.header.Get("ETag") != `W/"1"` {
		t.Errorf("failed requests changed m1: ETag %s", r.header.Get("ETag"))
	}
}

// TestConcurrentMetaAdd: $meta-add calls of different tags on one resource all survive, one version each.
func TestConcurrentMetaAdd(t *testing.T) {
	c := metaServer(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.do("POST", "/Patient/m1/$meta-add", metaParams(fmt.Sprintf(`{"tag":[{"system":"urn:g","code":"g%d"}]}`, g)))
			if r.status != 200 {
				t.Errorf("add g%d: %d %s", g, r.status, r.body)
			}
		}()
	}
	wg.Wait()
	r := c.do("GET", "/Patient/m1/$meta", "")
	got := metaReturn(t, r)
	for g := range 8 {
		if !strings.Contains(got, fmt.Sprintf(`{"code":"g%d","system":"urn:g"}`, g)) {
			t.Errorf("tag g%d lost: %s", g, got)
		}
	}
	if r.header.Get("ETag") != `W/"9"` || !strings.Contains(got, `"vip"`) {
		t.Errorf("ETag %s after 8 adds, meta %s", r.header.Get("ETag"), got)
	}
	if ids(t, c, "Patient?_tag=urn:g|g5") != "m1" {
		t.Error("concurrently added tag not searchable")
	}
}

func TestMetaCapability(t *testing.T) {
	c := server(t)
	cs := c.do("GET", "/metadata", "").json(t)
	rest := asSlice(cs["rest"])[0].(map[string]any)
	if ops := fmt.Sprint(rest["operation"]); !strings.Contains(ops, "map[definition:http://hl7.org/fhir/OperationDefinition/Resource-meta name:meta]") {
		t.Errorf("system operations %s", ops)
	}
	for _, r := range asSlice(rest["resource"]) {
		ops := fmt.Sprint(r.(map[string]any)["operation"])
		for _, name := range []string{"meta", "meta-add", "meta-delete"} {
			if !strings.Contains(ops, "map[definition:http://hl7.org/fhir/OperationDefinition/Resource-"+name+" name:"+name+"]") {
				t.Errorf("%s does not list $%s: %s", r.(map[string]any)["type"], name, ops)
			}
		}
	}
}
