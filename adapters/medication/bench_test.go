package medication_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/adapters/medication"
	"github.com/careflow/careflow/fhir/synth"
)

// BenchmarkDuplications finds the therapeutic duplications of CAREFLOW_BENCH_PATIENTS (default 500)
// generated patients with their clinical history (statements and prescriptions), from the index ("index")
// and by searching only ("search", as on the MongoDB store), and reports the bodies read per run.
func BenchmarkDuplications(b *testing.B) {
	n := 500
	if s := os.Getenv("CAREFLOW_BENCH_PATIENTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		n = v
	}
	e := adaptertest.New(b)
	e.Synth(synth.Options{Seed: 1, Patients: n, Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), History: true})
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		service func(r *readRecorder) *medication.Service
	}{
		{"index", func(r *readRecorder) *medication.Service {
			return medication.New(indexedRecorder{r, batchOf{e.Store.(indexStore), 500}}, e.Registry)
		}},
		{"search", func(r *readRecorder) *medication.Service { return medication.New(r, e.Registry) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			var found, read, runs int
			for b.Loop() {
				r := &readRecorder{s: e.Store, read: map[string]bool{}}
				ds, err := c.service(r).Duplications(ctx, "")
				if err != nil {
					b.Fatal(err)
				}
				found, read = len(ds), read+len(r.read)
				runs++
			}
			b.ReportMetric(float64(found), "duplications")
			b.ReportMetric(float64(read)/float64(runs), "bodies/op")
			b.ReportMetric(float64(n), "patients")
		})
	}
}
