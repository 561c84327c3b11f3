package resource_test

import (
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/resource"
)

func TestStampKeepsEverythingElse(t *testing.T) {
	in := `{
	  "resourceType": "Observation",
	  "meta": {"profile": ["http://x/p"], "versionId": "99", "tag": [{"code": "a"}]},
	  "_status": {"extension": [{"url": "http://x", "valueDecimal": 1.50}]},
	  "status": "final",
	  "valueQuantity": {"value": 1.50e0, "unit": "<mg>"},
	  "contained": [{"resourceType": "Patient", "id": "p"}]
	}`
	lu := time.Date(2026, 11, 25, 10, 0, 0, 123e6, time.UTC)
	out, err := resource.Stamp([]byte(in), "abc", "3", lu)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"resourceType":"Observation","id":"abc","meta":{"profile":["http://x/p"],"versionId":"3","lastUpdated":"2026-11-25T10:00:00.123Z","tag":[{"code":"a"}]},"_status":{"extension":[{"url":"http://x","valueDecimal":1.50}]},"status":"final","valueQuantity":{"value":1.50e0,"unit":"<mg>"},"contained":[{"resourceType":"Patient","id":"p"}]}`
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestStampInsertsMetaAfterId(t *testing.T) {
	out, err := resource.Stamp([]byte(`{"resourceType":"Patient","id":"old","active":true}`), "new", "1", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"resourceType":"Patient","id":"new","meta":{"versionId":"1","lastUpdated":"1970-01-01T00:00:00.000Z"},"active":true}`
	if string(out) != want {
		t.Errorf("got %s", out)
	}
}

func TestStampRejectsNonObjects(t *testing.T) {
	for _, in := range []string{``, `[]`, `{"a":1} x`, `{"a":`} {
		if _, err := resource.Stamp([]byte(in), "a", "1", time.Now()); err == nil {
			t.Errorf("Stamp(%q) succeeded", in)
		}
	}
}

func TestElements(t *testing.T) {
	out, err := resource.Elements([]byte(`{"resourceType":"Patient","id":"a","meta":{"versionId":"1"},"name":[{"family":"x"}],"gender":"male","birthDate":"1990"}`), map[string]bool{"birthDate": true, "name": true})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"resourceType":"Patient","id":"a","meta":{"versionId":"1"},"name":[{"family":"x"}],"birthDate":"1990"}`; string(out) != want {
		t.Errorf("got %s", out)
	}
}

func TestStampTrickyValues(t *testing.T) {
	in := "{ \"resourceType\" : \"Patient\" ,\n \"text\": {\"div\": \"<div>a \\\"}{][ \\\\\\\" ,</div>\"}, \"n\": [1, {\"a\": [\"]\"]}], \"x\": -1.50e+3 , \"b\":true}"
	out, err := resource.Stamp([]byte(in), "i", "1", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"resourceType":"Patient","id":"i","meta":{"versionId":"1","lastUpdated":"1970-01-01T00:00:00.000Z"},"text":{"div":"<div>a \"}{][ \\\" ,</div>"},"n":[1,{"a":["]"]}],"x":-1.50e+3,"b":true}`
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}
