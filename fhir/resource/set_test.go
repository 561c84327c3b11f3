package resource_test

import (
	"encoding/json"
	"testing"

	"github.com/careflow/careflow/fhir/resource"
)

// TestSet: an element present is replaced in place; an absent one goes after the last present of after,
// else first; every other member keeps its bytes and order.
func TestSet(t *testing.T) {
	in := []byte(`{"resourceType":"Slot","id":"a1","status":"free","start":"2026-12-02T09:00:00.50Z","_start":{"id":"x"}}`)
	for _, c := range []struct {
		key, value string
		after      []string
		want       string
	}{
		{"status", `"busy"`, nil, `{"resourceType":"Slot","id":"a1","status":"busy","start":"2026-12-02T09:00:00.50Z","_start":{"id":"x"}}`},
		{"comment", `"c"`, []string{"status", "start"}, `{"resourceType":"Slot","id":"a1","status":"free","start":"2026-12-02T09:00:00.50Z","comment":"c","_start":{"id":"x"}}`},
		{"comment", `"c"`, []string{"end"}, `{"comment":"c","resourceType":"Slot","id":"a1","status":"free","start":"2026-12-02T09:00:00.50Z","_start":{"id":"x"}}`},
	} {
		out, err := resource.Set(in, c.key, json.RawMessage(c.value), c.after...)
		if err != nil || string(out) != c.want {
			t.Errorf("Set(%s, %v) = %s, %v\nwant %s", c.key, c.after, out, err, c.want)
		}
	}
	if _, err := resource.Set([]byte(`[1]`), "x", json.RawMessage(`1`)); err == nil {
		t.Error("Set on an array: no error")
	}
}
