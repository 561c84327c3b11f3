package rest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// BenchmarkCreateReferentialIntegrity measures a create over HTTP against the real database, with the
// check off and on: an AllergyIntolerance referencing an existing Patient (one Exists query when on) and
// a CarePlan referencing it three times plus an unserved Practitioner (still one query).
func BenchmarkCreateReferentialIntegrity(b *testing.B) {
	v, reg := r4test.Validator(b), r4test.Load(b).Registry
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			store := sqlitetest.Open(b)
			ts := httptest.NewServer(handler(b, testConfig{refInt: on}, store, v, reg))
			defer ts.Close()
			do := func(typ, body string) {
				res, err := http.Post(ts.URL+"/fhir/"+typ, "application/fhir+json", strings.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusCreated {
					b.Fatalf("POST %s: %d", typ, res.StatusCode)
				}
			}
			put, err := http.NewRequest("PUT", ts.URL+"/fhir/Patient/bench", strings.NewReader(`{"resourceType":"Patient","id":"bench"}`))
			if err != nil {
				b.Fatal(err)
			}
			put.Header.Set("Content-Type", "application/fhir+json")
			if res, err := http.DefaultClient.Do(put); err != nil || res.StatusCode != http.StatusCreated {
				b.Fatalf("PUT Patient/bench: %v %v", res, err)
			}
			plan := `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/bench"},` +
				`"author":{"reference":"Practitioner/p"},"activity":[{"detail":{"status":"scheduled","performer":[{"reference":"Patient/bench"}]}}],` +
				`"supportingInfo":[{"reference":"Patient/bench/_history/1"}]}`
			b.Run("AllergyIntolerance", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					do("AllergyIntolerance", allergy("Patient/bench"))
				}
			})
			b.Run("CarePlan", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					do("CarePlan", plan)
				}
			})
		})
	}
}
