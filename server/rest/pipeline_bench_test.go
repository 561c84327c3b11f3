package rest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/resource"
)

// BenchmarkWritePipeline measures the server's own work per create, without the database: parse and
// validate, extract the search index, stamp id/meta and encode. One sub-benchmark per resource type over
// its official examples (ns/op is per resource).
func BenchmarkWritePipeline(b *testing.B) {
	v, reg := r4test.Validator(b), r4test.Load(b).Registry
	for _, typ := range definitions.ResourceTypes {
		files, _ := filepath.Glob("../../testdata/examples/r4/" + typ + "-*.json")
		var bodies [][]byte
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			bodies = append(bodies, data)
		}
		b.Run(typ, func(b *testing.B) {
			b.ReportAllocs()
			lu := time.Now()
			bytes := 0
			for i := 0; i < b.N; i++ {
				body := bodies[i%len(bodies)]
				bytes += len(body)
				tree, verr := v.Validate(typ, body)
				if verr != nil {
					b.Fatal(verr)
				}
				if _, err := reg.Index(typ, tree); err != nil {
					b.Fatal(err)
				}
				if _, err := resource.Stamp(body, "bench-id", "1", lu); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(bytes / max(b.N, 1)))
		})
	}
}

// BenchmarkPatientCreatePipeline is the same pipeline for one typical EHR Patient (~1.6 KB).
func BenchmarkPatientCreatePipeline(b *testing.B) {
	v, reg := r4test.Validator(b), r4test.Load(b).Registry
	body := []byte(strings.TrimSpace(typicalPatient))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	lu := time.Now()
	for i := 0; i < b.N; i++ {
		tree, verr := v.Validate("Patient", body)
		if verr != nil {
			b.Fatal(verr)
		}
		if _, err := reg.Index("Patient", tree); err != nil {
			b.Fatal(err)
		}
		if _, err := resource.Stamp(body, "bench-id", "1", lu); err != nil {
			b.Fatal(err)
		}
	}
}

const typicalPatient = `{
  "resourceType": "Patient",
  "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]},
  "extension": [{"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex", "valueCode": "F"}],
  "identifier": [
    {"use": "usual", "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}, "system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345", "period": {"start": "2001-05-06"}},
    {"system": "http://hl7.org/fhir/sid/us-ssn", "value": "999-45-6789"}
  ],
  "active": true,
  "name": [
    {"use": "official", "family": "Rodríguez", "given": ["María", "José"], "prefix": ["Ms."]},
    {"use": "maiden", "family": "Fernández", "given": ["María"], "period": {"end": "2002"}}
  ],
  "telecom": [
    {"system": "phone", "value": "(03) 5555 6473", "use": "work", "rank": 1},
    {"system": "phone", "value": "(03) 3410 5613", "use": "mobile", "rank": 2},
    {"system": "email", "value": "maria.rodriguez@example.org"}
  ],
  "gender": "female",
  "birthDate": "1974-12-25",
  "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1974-12-25T14:35:45-05:00"}]},
  "deceasedBoolean": false,
  "address": [{"use": "home", "type": "both", "line": ["534 Erewhon St", "Apt 4B"], "city": "PleasantVille", "district": "Rainbow", "state": "Vic", "postalCode": "3999", "country": "AU", "period": {"start": "1974-12-25"}}],
  "maritalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M"}]},
  "contact": [{"relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "N"}]}], "name": {"family": "du Marché", "given": ["Bénédicte"]}, "telecom": [{"system": "phone", "value": "+33 (237) 998327"}], "gender": "female"}],
  "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "es"}]}, "preferred": true}],
  "generalPractitioner": [{"reference": "Practitioner/gp-7"}],
  "managingOrganization": {"reference": "Organization/1", "display": "Gastroenterology"}
}`
