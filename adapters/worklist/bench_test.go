package worklist_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/adapters/internal/fetch"
	"github.com/careflow/careflow/adapters/worklist"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// generated writes n synthetic patients, each with a care plan (an upcoming and an overdue follow-up), a
// booked and a cancelled appointment, a medication, an allergy and (for two patients in three) a coverage;
// every seventh patient's medication conflicts with their allergy and every fifth is double booked.
func generated(b *testing.B, n int) *adaptertest.Env {
	b.Helper()
	e := adaptertest.New(b)
	var all []adaptertest.Res
	res := func(typ, id, body string) adaptertest.Res { return adaptertest.Res{Type: typ, ID: id, Body: body} }
	for i := 0; i < n; i++ {
		p := fmt.Sprintf("gp%04d", i)
		day := 2 + i%25
		all = append(all,
			res("Patient", p, `{"name":[{"family":"Patient `+strconv.Itoa(i)+`"}],"generalPractitioner":[{"reference":"Practitioner/gp`+strconv.Itoa(i%10)+`"}]}`),
			res("CarePlan", "cp-"+p, fmt.Sprintf(`{"status":"active","intent":"plan","subject":{"reference":"Patient/%s"},"author":{"reference":"Practitioner/dr%d"},"activity":[
			  {"detail":{"kind":"Appointment","status":"not-started","description":"Review","scheduledPeriod":{"start":"2026-12-%02d"}}},
			  {"detail":{"kind":"Appointment","status":"scheduled","description":"Check","scheduledPeriod":{"end":"2026-11-%02d"}}}]}`, p, i%10, day, 1+i%28)),
			res("Appointment", "ap-"+p, appt("booked", fmt.Sprintf("2026-12-%02dT09:00:00Z", day), fmt.Sprintf("2026-12-%02dT09:30:00Z", day), "", "Patient/"+p, fmt.Sprintf("Practitioner/dr%d", i%10))),
			res("Appointment", "cx-"+p, appt("cancelled", fmt.Sprintf("2026-11-%02dT09:00:00Z", 1+i%28), "", "", "Patient/"+p)),
			res("MedicationStatement", "ms-"+p, fmt.Sprintf(`{"status":"active","medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"%s"}]},"subject":{"reference":"Patient/%s"}}`,
				map[bool]string{true: "723", false: "5640"}[i%7 == 0], p)),
			res("AllergyIntolerance", "al-"+p, fmt.Sprintf(`{"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},"criticality":"high","code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"7980"}]},"patient":{"reference":"Patient/%s"}}`, p)),
		)
		if i%3 != 0 {
			all = append(all, res("Coverage", "cov-"+p, fmt.Sprintf(`{"status":"active","beneficiary":{"reference":"Patient/%s"},"payor":[{"reference":"Organization/ins"}],"period":{"start":"2026-01-01","end":"2026-12-%02d"}}`, p, 1+i%30)))
		}
		if i%5 == 0 {
			all = append(all, res("Appointment", "dbl-"+p, appt("booked", fmt.Sprintf("2026-12-%02dT09:15:00Z", day), "", "", "Patient/"+p)))
		}
	}
	e.WriteAll(all)
	return e
}

// BenchmarkBuild builds the whole worklist over CAREFLOW_BENCH_PATIENTS (default 300) generated patients.
func BenchmarkBuild(b *testing.B) {
	n := 300
	if s := os.Getenv("CAREFLOW_BENCH_PATIENTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		n = v
	}
	start := time.Now()
	e := generated(b, n)
	b.Logf("%d patients written in %s", n, time.Since(start).Round(time.Millisecond))
	counter := &countingStore{s: e.Store}
	w := worklist.New(counter, e.Registry)
	ctx := context.Background()
	var tasks, runs int
	b.ResetTimer()
	for b.Loop() {
		ts, err := w.Build(ctx, now, worklist.Options{})
		if err != nil {
			b.Fatal(err)
		}
		tasks = len(ts)
		runs++
	}
	b.ReportMetric(float64(tasks), "tasks")
	b.ReportMetric(float64(n), "patients")
	b.ReportMetric(float64(counter.n.Load())/float64(runs), "searches/op")
}

// countingStore counts the searches that reach the store.
type countingStore struct {
	s fetch.Searcher
	n atomic.Int64
}

func (c *countingStore) Search(ctx context.Context, q *search.Query) (*storage.SearchPage, error) {
	c.n.Add(1)
	return c.s.Search(ctx, q)
}
