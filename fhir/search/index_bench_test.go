package search_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/synth"
)

// synthResources are the resources of n generated patients (seed 1), decoded as the server decodes them.
func synthResources(tb testing.TB, n int) []map[string]any {
	return synthHistory(tb, n, false)
}

// synthHistory is synthResources, with the clinical history (Observations…) when history is set.
func synthHistory(tb testing.TB, n int, history bool) []map[string]any {
	tb.Helper()
	bs, err := synth.Generate(synth.Options{Seed: 1, Patients: n, History: history, Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		tb.Fatal(err)
	}
	var out []map[string]any
	for _, b := range bs {
		var bundle struct {
			Entry []struct {
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(b.JSON, &bundle); err != nil {
			tb.Fatal(err)
		}
		for _, e := range bundle.Entry {
			var tree map[string]any
			dec := json.NewDecoder(strings.NewReader(string(e.Resource)))
			dec.UseNumber()
			if err := dec.Decode(&tree); err != nil {
				tb.Fatal(err)
			}
			out = append(out, tree)
		}
	}
	return out
}

// BenchmarkIndex: Registry.Index over the resources of 50 generated patients; one op indexes one resource.
func BenchmarkIndex(b *testing.B) {
	reg := r4test.Load(b).Registry
	res := synthResources(b, 50)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := res[i%len(res)]
		if _, err := reg.Index(r["resourceType"].(string), r); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkIndexObservations: Registry.Index over the Observations of 20 generated patients' clinical
// histories (vital signs with components, laboratory quantities); one op indexes one Observation.
func BenchmarkIndexObservations(b *testing.B) {
	reg := r4test.Load(b).Registry
	var res []map[string]any
	for _, r := range synthHistory(b, 20, true) {
		if r["resourceType"] == "Observation" {
			res = append(res, r)
		}
	}
	if len(res) == 0 {
		b.Fatal("no Observations generated")
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := reg.Index("Observation", res[i%len(res)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
