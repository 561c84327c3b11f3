package resource_test

import (
	"encoding/json"
	"testing"

	"github.com/careflow/careflow/fhir/resource"
)

func labels(t *testing.T, meta string) resource.Labels {
	t.Helper()
	l, err := resource.ParseLabels(json.RawMessage(meta))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestAddLabels(t *testing.T) {
	in := `{"resourceType":"Patient","id":"p","meta":{"versionId":"2","lastUpdated":"2026-01-01T00:00:00.000Z","source":"urn:s","tag":[{"system":"urn:t","code":"a","display":"A <1>"}],"extension":[{"url":"urn:x","valueDecimal":1.50}]},"active":true}`
	add := labels(t, `{"versionId":"9","tag":[{"system":"urn:t","code":"a","display":"other display"},{"system":"urn:t","code":"b"},{"code":"b"},{"system":"urn:t","code":"b"}],"security":[{"system":"urn:s","code":"R"}],"profile":["http://p/1","http://p/1"]}`)
	out, changed, err := resource.AddLabels([]byte(in), add)
	if err != nil || !changed {
		t.Fatalf("changed %v, err %v", changed, err)
	}
	want := `{"resourceType":"Patient","id":"p","meta":{"versionId":"2","lastUpdated":"2026-01-01T00:00:00.000Z","source":"urn:s","profile":["http://p/1"],"security":[{"system":"urn:s","code":"R"}],"tag":[{"system":"urn:t","code":"a","display":"A <1>"},{"system":"urn:t","code":"b"},{"code":"b"}],"extension":[{"url":"urn:x","valueDecimal":1.50}]},"active":true}`
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	// Adding again changes nothing.
	again, changed, err := resource.AddLabels(out, add)
	if err != nil || changed || string(again) != string(out) {
		t.Errorf("second add: changed %v, err %v\n%s", changed, err, again)
	}
	// A resource without meta gets one.
	out, changed, err = resource.AddLabels([]byte(`{"resourceType":"Patient","id":"q"}`), labels(t, `{"tag":[{"code":"x"}]}`))
	if err != nil || !changed || string(out) != `{"resourceType":"Patient","id":"q","meta":{"tag":[{"code":"x"}]}}` {
		t.Errorf("no meta: %s (%v, %v)", out, changed, err)
	}
}

func TestDeleteLabels(t *testing.T) {
	in := `{"resourceType":"Patient","meta":{"versionId":"1","profile":["http://p/1","http://p/2"],"_profile":[null,{"extension":[{"url":"urn:e","valueString":"x"}]}],"security":[{"system":"urn:s","code":"R"}],"tag":[{"system":"urn:t","code":"a"},{"code":"a"},{"system":"urn:t","code":"b","version":"1"}]}}`
	out, changed, err := resource.DeleteLabels([]byte(in), labels(t, `{"tag":[{"system":"urn:t","code":"b","display":"ignored"},{"system":"urn:t","code":"zzz"}],"security":[{"system":"urn:s","code":"R"}],"profile":["http://p/1"]}`))
	if err != nil || !changed {
		t.Fatalf("changed %v, err %v", changed, err)
	}
	want := `{"resourceType":"Patient","meta":{"versionId":"1","profile":["http://p/2"],"_profile":[{"extension":[{"url":"urn:e","valueString":"x"}]}],"tag":[{"system":"urn:t","code":"a"},{"code":"a"}]}}`
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	// The primitive extension goes with its profile; the last tag without a system goes, the one with stays.
	out, changed, err = resource.DeleteLabels(out, labels(t, `{"profile":["http://p/2"],"tag":[{"code":"a"}]}`))
	if err != nil || !changed || string(out) != `{"resourceType":"Patient","meta":{"versionId":"1","tag":[{"system":"urn:t","code":"a"}]}}` {
		t.Errorf("second delete: %s (%v, %v)", out, changed, err)
	}
	// Deleting what is absent is no change.
	same, changed, err := resource.DeleteLabels(out, labels(t, `{"tag":[{"code":"nope"}],"security":[{"code":"N"}],"profile":["http://none"]}`))
	if err != nil || changed || string(same) != string(out) {
		t.Errorf("absent: %s (%v, %v)", same, changed, err)
	}
}

func TestParseLabelsRejectsCodinglessLabels(t *testing.T) {
	for _, meta := range []string{`{"tag":[{"system":"urn:t"}]}`, `{"security":[{"display":"x"}]}`, `{"profile":[""]}`, `{"tag":"x"}`} {
		if _, err := resource.ParseLabels(json.RawMessage(meta)); err == nil {
			t.Errorf("%s accepted", meta)
		}
	}
}
